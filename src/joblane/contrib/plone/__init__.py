"""joblane in Plone: ``pip install 'joblane[plone]'``, then in ZCML
``<include package="joblane.contrib.plone" />`` and install the profile.

::

    configure.zcml     the permission, the REST services, the GenericSetup profiles
    services.py        @rq-queues, @rq-queues/{queue}[/{registry}], @rq-job/{queue}/{job_id}
    config.py          where the instance and the worker find the backend (one table)
    startup.py         enqueues join the Zope transaction; each job records its Plone user
    site.py            @site_job: a job that runs in the site as its enqueuer, committed
    worker.py          python -m joblane.contrib.plone.worker: the Zope app loaded per slot
    testing.py         plone.app.testing layers for add-ons that enqueue jobs
    example/           seed 004: content created in the background as the clicking user

See docs/how-to/plone.md.
"""
