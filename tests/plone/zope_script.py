"""One step against a real instance, in a process of its own:
``python zope_script.py ZOPE_CONF COMMAND [ARGS]``; prints one JSON line.

* ``create-site``: a Plone site ``/Plone`` with joblane's profile, a folder
  ``/Plone/inbox`` and the users ``editor`` (Contributor there), ``member``
  and ``leaver`` (Member only) and ``boss`` (Manager).
* ``inspect PATH``: the ids, titles and creators of the items in PATH.
* ``delete-user ID``: remove a user from the site's user folder.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import transaction
import Zope2
from Zope2.Startup.run import configure_wsgi


def main() -> None:
    conf, command, *args = sys.argv[1:]
    configure_wsgi(conf)
    Zope2.startup_wsgi()
    app = Zope2.app()
    try:
        print(json.dumps(COMMANDS[command](app, *args)))
    finally:
        transaction.abort()
        app._p_jar.close()


def create_site(app: Any) -> dict[str, object]:
    from AccessControl.SecurityManagement import newSecurityManager
    from plone.api import content, user
    from Products.CMFPlone.factory import addPloneSite
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite
    from zope.globalrequest import setRequest

    app = makerequest(app)
    setRequest(app.REQUEST)
    admin = app.acl_users.getUserById("admin") or app.acl_users._doAddUser(
        "admin", "secret", ["Manager"], []
    )
    newSecurityManager(None, app.acl_users.getUserById("admin").__of__(app.acl_users))
    site = addPloneSite(app, "Plone", extension_ids=[
        "plone.app.contenttypes:default", "joblane.contrib.plone:default"
    ], setup_content=False)  # fmt: skip
    setSite(site)
    inbox = content.create(container=site, type="Folder", id="inbox", title="Inbox")
    for name, roles in (
        ("editor", ["Member"]),
        ("member", ["Member"]),
        ("leaver", ["Member"]),
        ("boss", ["Manager"]),
    ):
        user.create(email=f"{name}@example.com", username=name, password="password1234",
                    roles=roles)  # fmt: skip
    inbox.manage_setLocalRoles("editor", ["Contributor"])
    inbox.reindexObjectSecurity()
    transaction.commit()
    return {"site": "/".join(site.getPhysicalPath()), "admin": bool(admin)}


def inspect(app: Any, path: str) -> dict[str, object]:
    from zope.component.hooks import setSite

    setSite(app.Plone)  # Dexterity finds its schemas through the site
    folder = app.unrestrictedTraverse(path.lstrip("/"))
    items = [
        {"id": item.getId(), "title": item.Title(), "creators": list(item.listCreators())}
        for item in folder.objectValues()
    ]
    return {"items": items}


def delete_user(app: Any, user_id: str) -> dict[str, object]:
    app.Plone.acl_users.source_users.removeUser(user_id)
    transaction.commit()
    return {"deleted": user_id}


COMMANDS: dict[str, Any] = {
    "create-site": create_site,
    "inspect": inspect,
    "delete-user": delete_user,
}

if __name__ == "__main__":
    main()
