"""GenericSetup: hide the uninstall profile from the add-ons control panel."""

from Products.CMFPlone.interfaces import INonInstallable
from zope.interface import implementer


@implementer(INonInstallable)
class HiddenProfiles:
    def getNonInstallableProfiles(self) -> list[str]:
        return ["joblane.contrib.plone:uninstall"]
