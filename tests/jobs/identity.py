"""Jobs and restore hooks of the identity tests: importable in slot processes."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from joblane import current_job, job
from joblane.errors import IdentityError
from joblane.identity import Identity

USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("test_user", default=None)
"""Who the job runs as, set by :func:`restore` (as an app's own login state)."""

BANNED = "mallory"
"""The user :func:`restore` refuses (as a user deleted since the enqueue)."""

DOWN = "db-down"
"""The user whose loading fails with an error that is not an IdentityError."""


@contextmanager
def restore(identity: Identity) -> Iterator[None]:
    if identity.user_id == BANNED:
        raise IdentityError("no such user in acl_users")
    if identity.user_id == DOWN:
        raise ConnectionError("the user database is down")
    token = USER.set(identity.user_id)
    try:
        yield
    finally:
        USER.reset(token)


@job
def who() -> dict[str, Any]:
    """What the job knows of itself and whom it runs as."""
    ctx = current_job()
    assert ctx is not None
    by = ctx.enqueued_by
    return {
        "running_as": USER.get(),
        "enqueued_by": None if by is None else by.to_json(),
        "meta": ctx.meta,
        "enqueued": ctx.enqueued,
        "attempt": ctx.attempt,
    }


@job
async def who_async() -> dict[str, Any]:
    ctx = current_job()
    assert ctx is not None
    return {"running_as": USER.get(), "id": ctx.id}
