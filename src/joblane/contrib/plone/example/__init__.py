"""Seed 004's case: content created in the background, as the user who clicked.

::

    POST /Plone/folder/@@joblane-create-items?count=5&title=Report
        -> {"job_id": "...", "queue": "normal", "status": "@rq-job/normal/..."}   at once
    GET  /Plone/@@joblane-my-jobs
        -> the current user's queued and running jobs (JSON, the services' job shape)

Not loaded by the add-on's ``configure.zcml``; include it to try it:
``<include package="joblane.contrib.plone.example" />``. The job
(:func:`~joblane.contrib.plone.example.jobs.create_items`) runs in the
Plone worker as a :func:`~joblane.contrib.plone.site.site_job`: in the site,
as the clicking user (their permissions apply; the items are theirs), in one
transaction committed at its end.
"""
