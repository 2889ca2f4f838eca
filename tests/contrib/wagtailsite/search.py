"""Print the titles of the live pages Wagtail's search finds for argv[1], and
the status of each Django task whose id follows (JSON)."""

import json
import sys

import django

django.setup()

from home.models import HomePage  # noqa: E402

from joblane.contrib.django.compat import task_backends  # noqa: E402

found = [p.title for p in HomePage.objects.live().search(sys.argv[1])]
statuses = [task_backends["default"].get_result(i).status for i in sys.argv[2:]]
print(json.dumps([found, statuses]))
