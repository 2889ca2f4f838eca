"""Demo jobs: the kind of work a CMS pushes out of its requests."""

from __future__ import annotations

import hashlib
import time

from joblane.core.retry import Retry
from joblane.schedules import cron
from joblane.tasks import job
from joblane.worker.run import current_job


@job
def purge_cdn(url: str) -> dict[str, object]:
    """Invalidate a page in the CDN cache."""
    time.sleep(0.2)
    return {"purged": url}


@job
def collect_stats(site: str) -> dict[str, object]:
    """Collect visit statistics for a site."""
    time.sleep(0.3)
    visits = int(hashlib.sha256(site.encode()).hexdigest()[:4], 16)
    return {"site": site, "visits": visits}


@job
def compute_embedding(text: str, dimensions: int = 8) -> list[float]:
    """Compute a (toy) embedding vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    time.sleep(0.5)
    return [round(b / 255, 3) for b in digest[:dimensions]]


@job(retry=Retry(max=2, interval=2))
def sync_content(source: str) -> str:
    """Sync content from an external source; its first attempt fails."""
    context = current_job()
    if context is not None and context.attempt < 2:
        raise ConnectionError(f"{source} did not answer (attempt {context.attempt})")
    return f"synced {source}"


@job
def send_digest(recipients: list[str]) -> int:
    """Send the daily digest mail."""
    return len(recipients)


@job(retry=Retry(max=1, interval=1))
def import_feed(url: str) -> None:
    """Import a feed that is always broken: ends in the failed registry."""
    raise ValueError(f"feed {url} is not valid RSS")


@job
def refresh_sitemap(site: str) -> int:
    """Rebuild a site's sitemap (the demo's cron job, every minute)."""
    time.sleep(0.1)
    return len(site)


SCHEDULES = [cron(refresh_sitemap, "* * * * *", args=("example.com",), queue="cron")]
"""The demo worker's schedules (``joblane worker --schedules joblane.demo:SCHEDULES``)."""
