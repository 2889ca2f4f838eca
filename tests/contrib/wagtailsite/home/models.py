from django.db import models
from wagtail.models import Page
from wagtail.search import index


class HomePage(Page):
    body = models.TextField(blank=True)

    search_fields = [*Page.search_fields, index.SearchField("body")]
