"""A process using the library on PostgreSQL ends quietly: its store stops following
before it closes its connections, and a follower never reports an error for a store its
owner closed (issue 23: a follower woken by its own commit's NOTIFY used to find the pool
closed at exit and print a 39-line traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.errors import StoreError
from reconciler.store.pgstore import PostgresStore
from tests.store.pgcli import ENV, agent_template, imported

WRITE_THEN_EXIT = """
import json, sys
from reconciler import RegistryManager
url, ending, entry = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if ending == "with":
    with RegistryManager(url) as manager:
        manager.load_all()
        manager.create_agent(entry)
else:
    manager = RegistryManager(url)
    manager.load_all()
    manager.create_agent(entry)
    if ending == "close":
        manager.close()
"""
ENDINGS = ("exit", "close", "with")
RUNS = 20


def test_a_library_write_then_exit_prints_nothing(pg_url: str) -> None:
    url = imported(pg_url)

    def run(number: int) -> tuple[str, subprocess.CompletedProcess[str]]:
        ending = ENDINGS[number % len(ENDINGS)]
        entry = {**agent_template(), "agent_id": f"exit_{number}"}
        return ending, subprocess.run(
            [sys.executable, "-c", WRITE_THEN_EXIT, url, ending, json.dumps(entry)],
            capture_output=True, text=True, timeout=60, env=ENV)

    with ThreadPoolExecutor(max_workers=2) as runs:
        for ending, done in runs.map(run, range(RUNS)):
            assert done.returncode == 0, (ending, done.stderr)
            assert done.stderr == "", (ending, done.stderr)
    store = PostgresStore(url)
    assert len(store.revisions()) == 1 + RUNS  # the import, then every write
    store.close()


def test_close_stops_the_followers_first_and_they_stay_silent(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A follower in the middle of a wake when its store closes ends without a word; the
    store refuses reads afterwards with a plain message; closing twice is fine."""
    url = imported(pg_url)
    store = PostgresStore(url)
    woken, release = threading.Event(), threading.Event()

    class Reader:
        def wake(self, newest: int | None) -> None:
            woken.set()
            release.wait(10)
            store.snapshot()  # the store is closed by now

    reader = Reader()
    following = store.follow(reader.wake, reader, 0.05)
    assert woken.wait(10)
    closing = threading.Thread(target=store.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # waiting for the wake in progress, the pool still open
    release.set()
    closing.join(10)
    assert not closing.is_alive()
    following.join(5)
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.head()
    assert [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


def test_opening_a_store_starts_no_thread_until_it_is_read(pg_url: str) -> None:
    """A plan forks a copy to stat the manifests only from a process running no other
    thread: opening the store (which the CLI does first) must not start the pool's."""
    url = imported(pg_url)
    before = {thread.ident for thread in threading.enumerate()}
    store = PostgresStore(url)
    try:
        assert {thread.ident for thread in threading.enumerate()} == before
        assert store.snapshot().state  # the pool opens now
        assert {thread.ident for thread in threading.enumerate()} > before
    finally:
        store.close()
    unread = PostgresStore(url)
    unread.close()  # (a store never read closes at once)
    with pytest.raises(StoreError, match="closed"):
        unread.snapshot()
