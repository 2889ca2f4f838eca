"""Jobs that follow a Zope/Plone ``transaction``: stored when it commits, never when it aborts.

::

    from joblane.contrib.transaction import install
    install()                      # transaction.manager, the thread-local one
    install(my_manager)            # an explicit TransactionManager too

Opt-in: installing decides when every enqueue of the process is stored, which
importing a module should not do. With the thread-local manager in its default
(implicit) mode there is always a current transaction, so every enqueue of a
thread joins it, as a ZODB write does; an explicit manager's enqueues join only
while a transaction has begun. See docs/how-to/transactions.md.
"""

from joblane.contrib.transaction.datamanager import JobDataManager, TransactionJobs, install

__all__ = ["JobDataManager", "TransactionJobs", "install"]
