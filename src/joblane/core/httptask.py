"""What the monitoring API shows of an HTTP task (a job of ``joblane.http.send``):
its method, its path and the status of its last response. Pure: read from the
job's arguments, its result and its last failure's reason."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from joblane.core.serialization import decode_call, loads

SEND = "joblane.http.sender.send"
"""The dotted name of the job that sends an HTTP task's request."""

_STATUS = re.compile(r"HttpTask\w*Error: HTTP (\d{3}) from ")


def http_view(
    func_name: str, payload: bytes, result: bytes | None, last_job_result: str | None
) -> dict[str, Any] | None:
    """``{"method", "path", "last_status"}`` for an HTTP task (``last_status``
    None before any response, or when the last attempt got none: a timeout, a
    connection refused), None for any other job or one whose arguments do not read."""
    if func_name != SEND:
        return None
    try:
        args, kwargs = decode_call(payload)
        values = dict(zip(("method", "url"), args, strict=False)) | kwargs
        method, url = values["method"], values["url"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(method, str) or not isinstance(url, str):
        return None
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return {"method": method, "path": path, "last_status": last_status(result, last_job_result)}


def last_status(result: bytes | None, last_job_result: str | None) -> int | None:
    """The status of the last response: the result's when it finished, else
    the one named in the last failure's reason."""
    if result is not None:
        try:
            status = loads(result).get("status")
        except (ValueError, TypeError, AttributeError):
            status = None
        if isinstance(status, int):
            return status
    if last_job_result:
        found = _STATUS.findall(last_job_result)
        if found:
            return int(found[-1])
    return None
