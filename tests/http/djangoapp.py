"""A real Django app for the HTTP-task tests, served by wsgiref in a subprocess:
``python -m tests.http.djangoapp PORT RECORD_FILE``.

Sessions and auth middleware, then :class:`joblane.http.django.TaskRequestMiddleware`;
a user ``alice`` with the primary key 7. ``/whoami`` appends one JSON line to
RECORD_FILE: the user Django serves the request as, the task, the body.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

RECORD = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("record.jsonl")
ALICE = 7


def whoami(request: HttpRequest) -> HttpResponse:
    task = getattr(request, "joblane_task", None)
    user = request.user
    line: dict[str, Any] = {
        "user": user.get_username() if user.is_authenticated else None,
        "task_id": None if task is None else task.task_id,
        "body": request.body.decode(),
        "query": request.META.get("QUERY_STRING", ""),
    }
    with RECORD.open("a") as f:
        f.write(json.dumps(line) + "\n")
    return HttpResponse(f"hello {line['user']}")


urlpatterns = [path("whoami", whoami)]


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-test-secret-key-not-for-production",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(RECORD.with_name("django-app.db")),
            }
        },
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "joblane.http.django.TaskRequestMiddleware",
        ],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0)
    get_user_model().objects.get_or_create(pk=ALICE, defaults={"username": "alice"})
    server = make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(),
                         handler_class=Quiet)  # fmt: skip
    server.serve_forever()


if __name__ == "__main__":
    main()
