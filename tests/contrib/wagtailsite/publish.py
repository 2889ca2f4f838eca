"""Publish a page; print the Django tasks it enqueued (JSON)."""

import json

import django

django.setup()

from home.models import HomePage  # noqa: E402
from wagtail.models import Page  # noqa: E402

from joblane.contrib.django.compat import task_backends  # noqa: E402

root = Page.get_first_root_node()
page = HomePage(title="Zebra crossing", slug="zebra", body="a unicorn walks by")
root.add_child(instance=page)
page.save_revision().publish()
store = task_backends["default"].joblane_backend
queued = store.list_queued("default.normal", 0, 1000)
print(json.dumps([[r.id, r.meta["django"]["task"], r.payload.decode()] for r in queued]))
