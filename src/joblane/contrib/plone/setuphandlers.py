"""GenericSetup: hide the uninstall profile from the add-ons control panel;
add (and remove) the HTTP tasks' PAS plugin."""

from typing import Any

from Acquisition import aq_inner, aq_parent
from Products.CMFPlone.interfaces import INonInstallable
from zope.interface import implementer


@implementer(INonInstallable)
class HiddenProfiles:
    def getNonInstallableProfiles(self) -> list[str]:
        return ["joblane.contrib.plone:uninstall"]


def post_install(tool: Any) -> None:
    """The default profile: the HTTP tasks' PAS plugin in the site's acl_users."""
    from joblane.contrib.plone.tasks import install_plugin

    install_plugin(aq_parent(aq_inner(tool)))


def upgrade_1001(tool: Any) -> None:
    """Upgrade 1000 -> 1001: a site installed before HTTP tasks gets the plugin."""
    post_install(tool)


def post_uninstall(tool: Any) -> None:
    """The uninstall profile: the PAS plugin removed."""
    from joblane.contrib.plone.tasks import uninstall_plugin

    uninstall_plugin(aq_parent(aq_inner(tool)))
