"""The add-on's browser layer: present on a site that installed the profile."""

from zope.publisher.interfaces.browser import IDefaultBrowserLayer


class IJoblaneLayer(IDefaultBrowserLayer):
    """Requests to a site with joblane installed (the REST services' layer)."""


class ITaskLayer(IDefaultBrowserLayer):
    """Verified HTTP-task requests (seed 001's ``ITaskQueueLayer``): a view
    registered for this layer is found only by a request whose task signature
    :mod:`joblane.contrib.plone.tasks` verified; any other request gets 404."""
