"""The SQLite backend: jobs in one file, shared by the threads and processes of a machine.

::

    sqlite:///jobs.db                          relative to the working directory
    sqlite:////var/lib/app/jobs.db             absolute
    sqlite:////var/lib/app/jobs.db?durability=normal&busy_timeout=10
    sqlite:////var/lib/app/jobs.db?file_mode=0660  a new file shared with its group

Layout: ``schema.sql`` and ``queries.sql`` hold every statement (loaded by
``queries.py``); ``database.py`` owns connections, pragmas and transactions;
``enqueue.py`` and ``transitions.py`` apply the contract's state changes, and
add what they change to the kept counts (``counts.py``: how many jobs each
queue holds in each state, so that a count reads one row); ``backend.py`` is
the :class:`SQLiteBackend` facade. Use a local disk: SQLite's
locks are not reliable on network file systems.

Permissions
-----------
A new file is created owner-only (0600), whatever the umask: job arguments
often hold personal data. ``file_mode`` (octal, at least 0600, at most 0777)
sets other permissions, exactly. SQLite gives the ``-wal`` and ``-shm`` files
the mode of the database file. An existing file keeps its mode.

Durability
----------
The file is in WAL mode. These are the pragmas, exactly:

- ``journal_mode=WAL``: set once, when the file is created (it is stored in it).
- ``synchronous=FULL`` on the connection that commits an ``enqueue`` (and the
  user's ``cancel``, ``requeue``, ``delete``, ``empty``, ``save_meta``): the WAL
  is fsynced before the call returns, so an accepted job survives a power loss.
- ``synchronous=NORMAL`` on the connection that commits a worker-side transition
  (``claim``, ``settle``, ``renew``, ``promote_due``, ``purge_expired``, worker
  registration; ``expired_leases`` only reads): no fsync at commit.
- ``busy_timeout`` = *busy_timeout* (the ``timeout`` of ``sqlite3.connect``);
  ``journal_size_limit`` = 64 MiB; ``user_version`` = the schema version;
  ``query_only=ON`` on the connection that only watches for changes.
- ``cache_size`` = -16384 (16 MiB at most) on each thread's connection (not on
  the one that only watches for changes: it reads no job): a bound, not an
  allocation; a connection holds the pages it has read, up to that.

Why NORMAL is safe for worker-side transitions: a commit appends frames to the
WAL, each checksummed in a chain that starts from the WAL's salt. After a power
loss, SQLite replays the longest valid prefix of the WAL that ends with a
commit; a frame that did not reach the disk ends the prefix, and nothing after
it counts. So the file always comes back as it was after some commit, never as
a mix. What a power loss can undo is only the commits made since the last
fsync, and every FULL commit fsyncs the whole WAL, including the NORMAL frames
before it (so does every checkpoint, before it copies the WAL into the
database). An enqueue is FULL, so a job whose enqueue returned is never lost;
what may roll back is the last claims and settlements: a job seen finished may
be started again (its lease lapses) or queued again, and so runs again. That is
at-least-once execution, which the worker promises anyway, never the loss of
an accepted job.

``durability="normal"`` (opt-in) commits enqueues at NORMAL too: an accepted
job survives a crash of the process (the OS has the WAL) but not a power loss
or an OS crash. It makes one-by-one enqueues several times faster.

Concurrency
-----------
Every write is one ``BEGIN IMMEDIATE`` transaction, so writers queue on SQLite's
lock instead of failing on an upgrade; ``database.py`` retries what the busy
handler does not cover, and raises BackendError once the file stayed locked for
*busy_timeout*. Each thread has its own connection (why: ``database.py``). A
child made by ``os.fork()`` drops the parent's connections unused.

Bad data
--------
The ``status`` column has a CHECK constraint, so a bad status is refused when
written. A row that still holds a value this joblane does not know (written by
another version, a bug or by hand: a value of the wrong type, JSON that does
not decode) costs only itself: a claim moves it to failed in its own
transaction, naming the field, and the reads return it marked undecodable
(see ``joblane.backends.decoding``). Listings select by known statuses, so a
row with an unknown status does not appear in them, but it is counted by
``queue_names``. The counts are kept by joblane's own writes: a status changed
by hand is not seen by them (the job stays counted in its former state).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from joblane.backends.sqlite.backend import DEFAULT_BUSY_TIMEOUT, SQLiteBackend
from joblane.backends.sqlite.database import DEFAULT_FILE_MODE
from joblane.config import redact_url
from joblane.core.clock import Clock
from joblane.errors import ConfigurationError

__all__ = ["SQLiteBackend", "from_url", "parse_url"]

SCHEME = "sqlite"
OPTIONS = ("durability", "busy_timeout", "file_mode")


def parse_url(url: str) -> tuple[Path, dict[str, str]]:
    """The file path and the options of a ``sqlite:///path`` URL.

    ``sqlite:///a/b.db`` is relative to the working directory,
    ``sqlite:////a/b.db`` absolute; the options are ``durability``,
    ``busy_timeout`` and ``file_mode``. Raises ConfigurationError for anything else.
    """
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not url.startswith(f"{SCHEME}:///"):
        raise ConfigurationError(
            f"not a SQLite URL: {shown!r}; use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    path = unquote(parts.path[1:])  # the third slash ends the (empty) host
    if not path or path.endswith("/"):
        raise ConfigurationError(f"the SQLite URL {shown!r} names no file")
    options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)} in the SQLite URL {shown!r}; "
            f"known: {', '.join(OPTIONS)}"
        )
    return Path(path), options


def from_url(url: str, *, clock: Clock | None = None) -> SQLiteBackend:
    """Open the SQLite backend that *url* names (see :func:`parse_url`)."""
    path, options = parse_url(url)
    busy_timeout = DEFAULT_BUSY_TIMEOUT
    if "busy_timeout" in options:
        try:
            busy_timeout = float(options["busy_timeout"])
        except ValueError:
            raise ConfigurationError(
                f"busy_timeout must be a number of seconds in {redact_url(url)!r}"
            ) from None
    file_mode = DEFAULT_FILE_MODE
    if "file_mode" in options:
        text = options["file_mode"]
        try:
            file_mode = int(text.removeprefix("0o"), 8)
        except ValueError:
            raise ConfigurationError(
                f"file_mode must be an octal mode such as 0600 or 0660, not {text!r}"
            ) from None
    return SQLiteBackend(
        path,
        clock=clock,
        durability=options.get("durability", "full"),
        busy_timeout=busy_timeout,
        file_mode=file_mode,
    )
