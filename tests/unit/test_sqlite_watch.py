"""The read schedule of the SQLite backend's change watcher after an inotify
event (joblane.backends.sqlite.watch): fine reads while the commit's fsync is
under way, then reads that back off."""

from __future__ import annotations

import time
from types import SimpleNamespace

from joblane.backends.sqlite import watch


def _watched() -> watch.ChangeWatcher:
    changes = watch.ChangeWatcher(lambda: 0)
    changes._wal_watch = SimpleNamespace(alive=True)  # type: ignore[assignment]
    assert changes.inotify
    return changes


def test_reads_stay_fine_just_after_an_event() -> None:
    changes = _watched()
    changes.poke()
    now = time.monotonic()
    assert [changes._interval(now) for _ in range(5)] == [watch.POKE_POLL] * 5


def test_reads_back_off_once_the_fine_window_is_over() -> None:
    changes = _watched()
    changes.poke()
    later = time.monotonic() + watch.POKE_FAST_FOR
    intervals = [changes._interval(later) for _ in range(12)]
    assert intervals[:3] == [watch.POLL_INTERVAL, 2 * watch.POLL_INTERVAL, 4 * watch.POLL_INTERVAL]
    assert intervals[-1] == watch.BACKSTOP_POLL


def test_without_an_event_reads_are_the_backstop_s() -> None:
    changes = _watched()
    assert changes._interval(time.monotonic()) == watch.BACKSTOP_POLL
