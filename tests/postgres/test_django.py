"""joblane.contrib.postgres.using with Django's connection (the ``pg`` alias of
tests/contrib/django_setup.py, psycopg 3): the job row commits or rolls back
with Django's ``transaction.atomic``, the adapter's on-commit buffer aside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.db import connections, transaction  # noqa: E402

import tests.jobs.sample  # noqa: E402, F401  # the @job functions
from joblane import Queue  # noqa: E402
from joblane.backends.postgres import PostgresBackend, from_url  # noqa: E402
from joblane.contrib.postgres import using  # noqa: E402
from joblane.core.states import JobStatus  # noqa: E402
from tests.contrib.django_setup import PG, configure  # noqa: E402
from tests.servers import postgres_bin  # noqa: E402


@pytest.fixture
def backend(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[PostgresBackend]:
    """A backend on the database of Django's ``pg`` alias, in a schema of its own."""
    postgres_bin()  # skips (or fails under JOBLANE_REQUIRE_SERVERS=1) without PostgreSQL
    configure(tmp_path_factory.mktemp("django"))
    if PG not in settings.DATABASES:
        pytest.skip("Django was configured without PostgreSQL in this process")
    db = settings.DATABASES[PG]
    schema = "dj" + str(abs(hash(str(tmp_path))) % 10**9)
    opened = from_url(f"postgresql://postgres@127.0.0.1:{db['PORT']}/{db['NAME']}?schema={schema}")
    yield opened
    opened.close()
    connections.close_all()


def test_the_job_commits_and_rolls_back_with_django_s_transaction(
    backend: PostgresBackend,
) -> None:
    queue = Queue("normal", backend=backend)
    with transaction.atomic(using=PG), using(connections[PG]):
        kept = queue.enqueue("tests.jobs.sample.add", 1, 2)
        assert backend.get(kept.id) is None  # not committed yet
    stored = backend.get(kept.id)
    assert stored is not None and stored.status is JobStatus.QUEUED

    with pytest.raises(ZeroDivisionError), transaction.atomic(using=PG), using(connections[PG]):
        dropped = queue.enqueue("tests.jobs.sample.add", 3, 4)
        raise ZeroDivisionError
    assert backend.get(dropped.id) is None

    with transaction.atomic(using=PG):
        with using(connections[PG]):
            outer = queue.enqueue("tests.jobs.sample.add", 5, 6)
        try:
            with transaction.atomic(using=PG), using(connections[PG]):
                inner = queue.enqueue("tests.jobs.sample.add", 7, 8)
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass  # Django rolls back to its savepoint: the inner job goes with it
    assert backend.get(outer.id) is not None and backend.get(inner.id) is None
