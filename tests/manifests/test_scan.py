"""Listing and stat-ing the manifest files (issue 26: the floor of every warm run), half of
a large listing in a forked copy of the process. Real files, real forks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler import engine, forked, scanning, statchunks
from reconciler.manifests import loader
from reconciler.statchunks import Stat
from tests.conftest import FIXTURE_MANIFESTS, copy_tree, write


@pytest.fixture
def forking(forks: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every listing is large enough to fork for; the forks, counted (`forks`)."""
    monkeypatch.setattr(loader, "FORK_MIN_FILES", 1)
    monkeypatch.setattr(loader, "CHUNK", 4)  # (the copy's share starts at a chunk)
    monkeypatch.setattr(statchunks, "CHUNK", 4)
    return forks


def key(stat: Any) -> tuple[int, int, int, int]:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)


def tree(root: Path, count: int) -> Path:
    for index in range(count):
        write(root / f"sub{index % 3}" / f"t{index:03d}.yaml", f"n: {index}\n" * index)
    write(root / ".hidden" / "x.yaml", "a: 1\n")
    write(root / "notes.txt", "not a manifest\n")
    return root


def test_a_forked_half_gives_what_one_process_gives(tmp_path: Path,
                                                    forking: list[int]) -> None:
    root = tree(tmp_path / "m", 40)
    found = loader.scan_manifest_files([root])
    assert forking == [1]
    names = loader.list_manifest_files([root])
    assert list(found) == names == [str(p) for p in loader.find_manifest_files([root])]
    assert len(names) == 40
    assert {name: key(stat) for name, stat in found.items()} == {
        name: key(os.stat(name)) for name in names}
    # the second half came back from the copy, made again from its answer
    assert [type(found[name]) for name in names[20:]] == [Stat] * 20
    assert all(isinstance(found[name], os.stat_result) for name in names[:20])


def test_a_file_gone_meanwhile_has_no_stat_in_either_half(tmp_path: Path,
                                                          forking: list[int]) -> None:
    root = tree(tmp_path / "m", 10)
    names = loader.list_manifest_files([root])
    os.unlink(names[1])
    os.unlink(names[-1])
    found = loader.stat_files(names)()
    assert forking == [1]
    assert [name for name, stat in found.items() if stat is None] == [names[1], names[-1]]
    assert all(key(found[name]) == key(os.stat(name)) for name in names[2:-1])


def test_a_copy_that_fails_leaves_the_stats_to_this_process(
        tmp_path: Path, forking: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path / "m", 10)
    here = os.getpid()
    original = loader._marshalled_stats

    def failing_in_the_copy(names: list[str]) -> bytes:
        if os.getpid() != here:
            raise RuntimeError("the copy's bug")
        return original(names)

    monkeypatch.setattr(loader, "_marshalled_stats", failing_in_the_copy)
    found = loader.scan_manifest_files([root])
    assert forking == [1]
    assert {name: key(stat) for name, stat in found.items()} == {
        name: key(os.stat(name)) for name in loader.list_manifest_files([root])}


def test_a_small_listing_or_a_threaded_process_does_not_fork(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", 10)
    assert len(loader.scan_manifest_files([root])) == 10  # (under FORK_MIN_FILES)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.may_fork()
    finally:
        stop.set()
        other.join()
    assert not forked.may_fork(jobs=1)


def test_warm_validations_over_forked_stats_find_what_a_fresh_load_finds(
        tmp_path: Path, forking: list[int]) -> None:
    root = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")

    def findings(found: Any) -> list[bytes]:
        return sorted(orjson.dumps(d.to_dict()) for d in found.diagnostics)

    engine.validate_files([str(root)], jobs=1)
    agent = root / "agents" / "fraud_agent.yaml"
    agent.write_text(agent.read_text().replace("allowed_tools:\n",
                                               "allowed_tools:\n  - no_such_tool\n", 1))
    warm = engine.validate_files([str(root)], jobs=1)
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert any("no_such_tool" in d.message for d in warm.errors)
    assert findings(warm) == findings(fresh)
    assert len(forking) >= 2  # every run's stats were taken half in a copy


def test_the_share_taken_here_is_the_callers_choice(tmp_path: Path,
                                                    forking: list[int]) -> None:
    root = tree(tmp_path / "m", 40)
    names = loader.list_manifest_files([root])
    found = loader.stat_files(names, here=0.25)()
    assert forking == [1]
    assert [isinstance(found[name], os.stat_result) for name in names] == (
        [True] * 12 + [False] * 28)  # (a quarter, up to the next chunk)
    assert {name: key(stat) for name, stat in found.items()} == {
        name: key(os.stat(name)) for name in names}


def test_the_chunks_a_copy_serialized_are_the_ones_of_its_stats(
        tmp_path: Path, forking: list[int]) -> None:
    root = tree(tmp_path / "m", 41)
    names = loader.list_manifest_files([root])
    os.unlink(names[-3])  # (gone meanwhile: null in its chunk)
    for here in (0.0, 0.3, 0.5, 1.0):
        found = loader.stat_files(names, here=here)()
        assert isinstance(found, statchunks.Scanned)
        assert found.serialized or here == 1.0
        plain = statchunks.Listing.of_stats(dict(found))
        scanned = statchunks.Listing.of_stats(found)
        assert scanned.chunks() == plain.chunks()
        assert scanned.digest() == plain.digest()
        assert scanned.keys == plain.keys
        assert len(scanned.chunks()) == 11


def test_scanned_stats_read_as_the_plain_mapping_of_both_shares(
        tmp_path: Path, forking: list[int]) -> None:
    root = tree(tmp_path / "m", 41)
    names = loader.list_manifest_files([root])
    os.unlink(names[2])  # gone in this process's share
    os.unlink(names[-1])  # and in the copy's
    for here in (0.0, 0.3, 1.0):
        found = loader.stat_files(names, here=here)()
        plain = {name: (None if not os.path.exists(name) else os.stat(name)) for name in names}
        assert list(found) == names and len(found) == len(names)
        assert not found.complete
        assert all(name in found for name in names) and "nowhere.yaml" not in found
        assert {name: None if stat is None else key(stat) for name, stat in found.items()} \
            == {name: None if stat is None else key(stat) for name, stat in plain.items()}
        for start, end in ((0, 4), (8, 12), (0, 41), (40, 41), (10, 30)):
            assert [None if k is None else list(k) for k in found.keys_between(start, end)] \
                == [None if plain[name] is None else statchunks.stat_key(plain[name])
                    for name in names[start:end]]
    kept = [name for name in names if os.path.exists(name)]
    whole = loader.stat_files(kept, here=0.5)()
    assert whole.complete
    assert whole.newest_mtime() == max(os.stat(name).st_mtime_ns for name in kept)


def test_a_run_that_finds_every_chunk_as_recorded_makes_no_stat_of_the_copy(
        tmp_path: Path, forking: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    engine.validate_files([str(root)], jobs=1)
    past = time.time() - 10  # (settled: the index may answer)
    for name in loader.list_manifest_files([root]):
        os.utime(name, (past, past))
    engine.validate_files([str(root)], jobs=1)  # recorded with settled stats
    made: list[int] = []
    original = statchunks.Scanned.held

    def counted(self: statchunks.Scanned) -> dict[str, Any]:
        made.append(1)
        return original(self)

    monkeypatch.setattr(statchunks.Scanned, "held", counted)
    warm = engine.validate_files([str(root)], jobs=1)
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert made == []
    assert sorted(d.to_dict()["message"] for d in warm.diagnostics) == sorted(
        d.to_dict()["message"] for d in fresh.diagnostics)


def test_a_scan_begun_early_serves_only_its_own_paths(tmp_path: Path,
                                                      forking: list[int]) -> None:
    root = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    other = copy_tree(FIXTURE_MANIFESTS, tmp_path / "other")
    engine.validate_files([str(root)], jobs=1)
    scan = scanning.begin([str(root)], loader.DEFAULT_MAX_BYTES)
    assert scan.serves([str(root)], loader.DEFAULT_MAX_BYTES)
    assert not scan.serves([str(root)], 1024)
    assert not scan.serves([str(other)], loader.DEFAULT_MAX_BYTES)
    agent = root / "agents" / "fraud_agent.yaml"  # (edited after the scan: seen next time)
    served = engine.validate_files([str(root)], jobs=1, scan=scan)
    assert scan.stats() is not None  # taken up, not begun again
    agent.write_text(agent.read_text().replace("allowed_tools:\n",
                                               "allowed_tools:\n  - no_such_tool\n", 1))
    assert not any("no_such_tool" in d.message for d in served.errors)
    # a scan of other paths is not used: the other tree is validated as itself
    elsewhere = engine.validate_files([str(other)], jobs=1, scan=scan)
    assert not any("no_such_tool" in d.message for d in elsewhere.errors)
    again = engine.validate_files([str(root)], jobs=1)
    assert any("no_such_tool" in d.message for d in again.errors)
