"""The add-on's browser layer: present on a site that installed the profile."""

from zope.publisher.interfaces.browser import IDefaultBrowserLayer


class IJoblaneLayer(IDefaultBrowserLayer):
    """Requests to a site with joblane installed (the REST services' layer)."""
