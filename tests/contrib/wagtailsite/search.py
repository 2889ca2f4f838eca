"""Print the titles of the live pages Wagtail's search finds for argv[1] (JSON)."""

import json
import sys

import django

django.setup()

from home.models import HomePage  # noqa: E402

print(json.dumps([p.title for p in HomePage.objects.live().search(sys.argv[1])]))
