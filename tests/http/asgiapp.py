"""A real ASGI app for the HTTP-task tests, run under uvicorn in a subprocess:
``python -m tests.http.asgiapp PORT RECORD_FILE``.

Behind :class:`joblane.http.asgi.TaskRequestMiddleware`. Each view that is
reached appends one JSON line to RECORD_FILE: the path, query, method, the
task headers, the trusted user (``scope["joblane.task"]``) and the body.

* ``/record``: records, answers 200;
* ``/flaky/{name}``: answers 503 to the first two requests for *name*, then records and 200;
* ``/missing``: answers 404 (recorded);
* ``/redirect/same``: 303 to ``/record?via=redirect``; ``/redirect/away``: 302 to another host;
* ``/enqueue``: a view that queues an HTTP task to ``/record`` as the user of
  its ``X-Demo-User`` header, copying this request (its headers and body).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

import joblane.http
from joblane.http.asgi import TaskRequestMiddleware
from joblane.identity import acting_as

RECORD = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("record.jsonl")


async def record(request: Request, status: int = 200) -> PlainTextResponse:
    task = request.scope.get("joblane.task")
    line: dict[str, Any] = {
        "path": request.url.path,
        "query": request.url.query,
        "method": request.method,
        "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
        "content_type": request.headers.get("content-type"),
        "task_id": None if task is None else task.task_id,
        "user": None if task is None else task.user_id,
        "current_task": getattr(joblane.http.current_task(), "task_id", None),
        "body": (await request.body()).decode(),
        "status": status,
    }
    with RECORD.open("a") as f:
        f.write(json.dumps(line) + "\n")
    return PlainTextResponse(f"recorded {line['path']}", status_code=status)


async def flaky(request: Request) -> PlainTextResponse:
    counter = RECORD.with_name(f"flaky-{request.path_params['name']}")
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    if seen < 2:
        return PlainTextResponse("try later", status_code=503)
    return await record(request)


async def missing(request: Request) -> PlainTextResponse:
    return await record(request, 404)


async def redirect(request: Request) -> RedirectResponse:
    where = request.path_params["where"]
    if where == "same":
        return RedirectResponse("/record?via=redirect", status_code=303)
    return RedirectResponse("http://elsewhere.invalid/record", status_code=302)


async def enqueue(request: Request) -> JSONResponse:
    with acting_as(request.headers["x-demo-user"]):
        task_id = await joblane.http.aadd("/record", method="POST", params={"from": "enqueue"})
    return JSONResponse({"task_id": task_id})


app = TaskRequestMiddleware(
    Starlette(
        routes=[
            Route("/record", record, methods=["GET", "POST"]),
            Route("/flaky/{name}", flaky, methods=["GET", "POST"]),
            Route("/missing", missing, methods=["GET", "POST"]),
            Route("/enqueue", enqueue, methods=["POST"]),
            Route("/redirect/{where}", redirect, methods=["GET", "POST"]),
        ]
    )
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
