"""Reading joblane's keys straight from Redis, to account for every job."""

from __future__ import annotations

from collections import Counter

import redis

from joblane.core.states import Registry

REGISTRIES = [r.value.removesuffix("_job_registry") for r in Registry]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def placements(client: redis.Redis, prefix: str) -> dict[str, list[str]]:
    """Every job id under *prefix* -> the keys (without the prefix) that hold it:
    its queue's bucket or its registry, plus ``leases``/``scheduled``/``expiry`` where they apply.
    Ids listed somewhere without a job hash appear too (with ``missing-hash``)."""
    found: dict[str, list[str]] = {}
    for key in client.scan_iter(match=f"{prefix}job:*", count=1000):
        found.setdefault(_text(key).removeprefix(f"{prefix}job:"), [])
    queues = sorted(_text(q) for q in client.smembers(f"{prefix}queues"))
    zsets = [f"qb:{_text(b)}:{q}" for q in queues for b in client.zrange(f"{prefix}qi:{q}", 0, -1)]
    zsets += [f"reg:{q}:{r}" for q in queues for r in REGISTRIES]
    zsets += ["leases", "scheduled"]
    for name in zsets:
        for member in client.zrange(prefix + name, 0, -1):
            job_id = _text(member)
            if job_id not in found:
                found[job_id] = ["missing-hash"]
            found[job_id].append(name)
    return found


def check_one_place_each(client: redis.Redis, prefix: str) -> Counter[str]:
    """Assert that each job is in exactly one queue or registry, that its
    status says the same, and that a job is in ``leases`` exactly when started
    and in ``scheduled`` exactly when scheduled. Returns the count per status."""
    statuses: Counter[str] = Counter()
    for job_id, places in placements(client, prefix).items():
        assert "missing-hash" not in places, (job_id, places)
        status = client.hget(f"{prefix}job:{job_id}", "s")
        assert isinstance(status, bytes)
        status_text = status.decode()
        statuses[status_text] += 1
        held = [p for p in places if p.startswith(("qb:", "reg:"))]
        assert len(held) == 1, f"job {job_id} ({status_text}) is in {places}"
        if status_text == "queued":
            assert held[0].startswith("qb:"), (job_id, places)
        else:
            registry = "canceled" if status_text == "stopped" else status_text
            assert held[0].endswith(":" + registry), (job_id, status_text, places)
        assert ("leases" in places) == (status_text == "started"), (job_id, places)
        assert ("scheduled" in places) == (status_text == "scheduled"), (job_id, places)
    return statuses
