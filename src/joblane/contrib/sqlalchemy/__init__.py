"""Jobs that follow a SQLAlchemy ``Session``: stored after it commits, dropped when it rolls back.

::

    from joblane.contrib.sqlalchemy import bind

    with Session(engine) as session, bind(session):
        session.add(order)
        queue.enqueue(send_receipt, order_id)   # joins the session's transaction
        session.commit()                         # stored here, after the commit

SQLAlchemy has no current session, so the enqueues of a ``bind(session)`` block
(this thread or asyncio task) join that session's transaction; an
``AsyncSession`` binds through its ``sync_session``. Opt-in: a session not
bound is not followed. See docs/how-to/transactions.md.
"""

from joblane.contrib.sqlalchemy.session import SessionJobs, bind

__all__ = ["SessionJobs", "bind"]
