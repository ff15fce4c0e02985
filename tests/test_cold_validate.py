"""A cold full validation (issue 26): the mesh-wide checks in a forked copy of the process,
the new parse cache and record written without the write-ahead log first, and manifests
read through their descriptors. Each through real files and real processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler import engine, loading, parsecache, validate
from reconciler.errors import Diagnostic
from reconciler.manifests import loader
from tests.conftest import FIXTURE_MANIFESTS, agent, copy_tree, write


def findings(found: Any) -> list[bytes]:
    return sorted(orjson.dumps(d.to_dict()) for d in found.diagnostics)


def settled_copy(target: Path) -> Path:
    """The example mesh with mesh-wide findings (a tool gone that agents name, a name
    declared twice), every file dated out of the racy window."""
    root = copy_tree(FIXTURE_MANIFESTS, target)
    (root / "tools" / "similarity.yaml").unlink()
    write(root / "agents" / "twice.yaml", agent("fraud_agent"))
    past = time.time_ns() - 100_000_000_000
    for path in root.rglob("*.yaml"):
        os.utime(path, ns=(past, past))
    return root


@pytest.fixture
def forking(forks: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The example mesh is large enough to fork for; the forks, counted (`forks`)."""
    monkeypatch.setattr(loading, "FORK_MIN_RESOURCES", 1)
    return forks


def test_checks_in_a_forked_copy_find_what_one_process_finds(tmp_path: Path,
                                                             forking: list[int]) -> None:
    root = settled_copy(tmp_path / "manifests")
    cold = engine.validate_files([str(root)], jobs=2)
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert forking == [1]
    assert {"R002", "M010"} <= {d.code for d in cold.errors}
    assert findings(cold) == findings(fresh)
    assert cold.declared == [(str(r.key), r.source.file if r.source else None)
                             for r in fresh.state]
    # The record written from the copy's answer (who refers to whom) serves the next
    # change: the tool comes back, and its referrers' findings go.
    write(root / "tools" / "similarity.yaml", (FIXTURE_MANIFESTS / "tools" /
                                               "similarity.yaml").read_text())
    warm = engine.validate_files([str(root)], jobs=2)
    assert forking == [1]  # (no full validation again)
    assert findings(warm) == findings(engine.load_desired([str(root)], use_cache=False,
                                                          jobs=1))
    assert "R002" not in {d.code for d in warm.errors}


def test_a_failing_copy_fails_as_one_process_would(tmp_path: Path, forking: list[int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = settled_copy(tmp_path / "manifests")

    def broken(*_: Any, **__: Any) -> list[Diagnostic]:
        raise RuntimeError("a rule's bug")

    monkeypatch.setattr(validate, "check_mesh", broken)
    with pytest.raises(RuntimeError, match="a rule's bug"):
        engine.validate_files([str(root)], jobs=2)
    assert forking == [1]


def test_one_job_checks_in_this_process(tmp_path: Path, forking: list[int]) -> None:
    root = settled_copy(tmp_path / "manifests")
    found = engine.validate_files([str(root)], jobs=1)
    assert forking == []
    assert findings(found) == findings(engine.load_desired([str(root)], use_cache=False,
                                                           jobs=1))


def test_a_process_running_another_thread_does_not_fork() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not loading._forks(1_000_000, 2)
    finally:
        stop.set()
        other.join()


def pragmas(database: Path) -> tuple[int, str]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return (connection.execute("PRAGMA page_size").fetchone()[0],
                connection.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_new_cache_and_record_take_large_pages_and_keep_the_log_after(
        tmp_path: Path) -> None:
    root = settled_copy(tmp_path / "manifests")
    cold = engine.validate_files([str(root)], jobs=1)
    folder = root / ".meshctl-cache" / "v1"
    [cache] = folder.glob("parse-*.sqlite")
    [record] = folder.glob("validated-*.sqlite")
    assert pragmas(cache) == (parsecache.PAGE_SIZE, "wal")
    assert pragmas(record) == (parsecache.PAGE_SIZE, "wal")
    with contextlib.closing(sqlite3.connect(cache)) as connection:  # rows in a rowid table
        assert connection.execute("SELECT count(rowid) FROM entries").fetchone()[0] == \
            cold.file_count
    warm = engine.load_desired([str(root)], jobs=1)
    assert warm.cache_hits == cold.file_count
    assert findings(warm) == findings(cold)


def test_a_manifest_from_a_pipe_is_read_to_its_end(tmp_path: Path) -> None:
    """A pipe reports no size and gives its bytes a write at a time."""
    text = b"".join(b"# %05d\n" % n for n in range(5000))  # 40,000 bytes
    pipe = tmp_path / "manifest.yaml"

    def feed(data: bytes) -> threading.Thread:
        os.mkfifo(pipe)

        def run() -> None:
            with contextlib.suppress(BrokenPipeError), open(pipe, "wb") as stream:
                for start in range(0, len(data), 4096):  # (the reader may stop first)
                    stream.write(data[start:start + 4096])
                    stream.flush()
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    writer = feed(text)
    assert loader.read_manifest_bytes(pipe, 100_000) == text
    writer.join()
    pipe.unlink()
    writer = feed(text)
    too_big = loader.read_manifest_bytes(pipe, 10_000)
    writer.join()
    assert isinstance(too_big, Diagnostic) and too_big.code == "M002"
