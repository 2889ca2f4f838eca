"""Settings of the test's Wagtail site; JOBLANE_TEST_DIR is the temporary directory."""

import os
from pathlib import Path

HERE = Path(os.environ["JOBLANE_TEST_DIR"])
SECRET_KEY = "test only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "site_urls"
INSTALLED_APPS = [
    "home",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.images",
    "wagtail.documents",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "joblane.contrib.django",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(HERE / "site.db")}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
STATIC_URL = "/static/"
WAGTAIL_SITE_NAME = "joblane test"
WAGTAILADMIN_BASE_URL = "http://localhost"
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
TASKS = {
    "default": {
        "BACKEND": "joblane.contrib.django.JoblaneBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"URL": f"sqlite:///{HERE / 'jobs.db'}", "RETRY": 2},
    }
}
