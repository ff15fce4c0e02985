"""The parse cache is trusted only on the machine that wrote it, and skips reading files that
were not touched, without ever serving stale results."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.parsecache import CACHE_DIR, RACY_NS


def rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    """Run `sql` on the parse cache's database (committing any change); its rows."""
    [database] = (root / CACHE_DIR).rglob("parse-*.sqlite")
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        return connection.execute(sql).fetchall()


def load(root: Path) -> engine.DesiredState:
    return engine.load_desired([root], use_cache=True, jobs=1)


def age(path: Path, seconds: int = 60) -> None:
    """Make a file look modified `seconds` ago, older than the racy window."""
    old = path.stat().st_mtime_ns - seconds * 1_000_000_000
    os.utime(path, ns=(old, old))


@pytest.fixture
def invalid(manifests: Path) -> Path:
    (manifests / "agents" / "fraud_agent.yaml").write_text(
        (manifests / "agents" / "fraud_agent.yaml").read_text().replace(
            "max_iterations: 5", "max_iterations: 500"))
    return manifests


def test_a_forged_cache_from_another_machine_is_not_trusted(
        invalid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An attacker's machine writes a cache, then rewrites every result as "no problems".
    monkeypatch.setenv("MESHCTL_CACHE_KEY_FILE", str(tmp_path / "attacker-key"))
    honest = load(invalid)
    assert any(d.code == "S003" for d in honest.diagnostics)
    rows(invalid, "UPDATE entries SET result = CAST(json_set(CAST(result AS TEXT), "
                  "'$.diagnostics', json('[]')) AS BLOB)")
    assert not any(d.code == "S003" for d in load(invalid).diagnostics)  # the forgery works there
    # CI, with its own key, ignores that cache and finds the problem.
    monkeypatch.setenv("MESHCTL_CACHE_KEY_FILE", str(tmp_path / "ci-key"))
    ci = load(invalid)
    assert ci.cache_hits == 0
    assert any(d.code == "S003" for d in ci.diagnostics)


def test_untouched_files_are_served_by_stat_and_edits_are_seen(manifests: Path) -> None:
    for path in manifests.rglob("*.yaml"):
        age(path)
    cold = load(manifests)
    assert cold.cache_hits == 0
    entries = rows(manifests, "SELECT size, mtime_ns, inode FROM entries")
    assert len(entries) == len(cold.files) and all(None not in e for e in entries)
    target = manifests / "agents" / "fraud_agent.yaml"
    original = target.read_text()
    target.write_text(original.replace("max_iterations: 5", "max_iterations: 9"))  # same size
    age(target, 30)  # an edit whose mtime is old and size unchanged: inode or mtime still differs
    warm = load(manifests)
    assert warm.cache_hits == len(cold.files) - 1
    resource = next(r for r in warm.state if r.name == "fraud_agent")
    assert resource.entry["max_iterations"] == 9


def test_a_file_modified_in_the_racy_window_is_always_hashed(manifests: Path) -> None:
    cold = load(manifests)  # every file was just written: none gets a stat shortcut
    entries = rows(manifests, "SELECT size, mtime_ns, inode FROM entries")
    assert entries and all(e == (None, None, None) for e in entries)
    assert load(manifests).cache_hits == len(cold.files)
    assert RACY_NS >= 1_000_000_000


def test_a_stat_learnt_after_the_result_was_read_is_kept_with_it(manifests: Path) -> None:
    """Files written just before the cold run get no stat (racy window); the next run,
    once they settle, reads them, finds their results by content, and records their stats.
    That must update the rows it read, never lose them: the run after serves every file by
    its stat, without reading one."""
    cold = load(manifests)  # every file was just written: rows without a stat
    for path in manifests.rglob("*.yaml"):
        age(path)
    warm = load(manifests)  # read, hashed, found by content; stats recorded
    assert warm.cache_hits == len(cold.files)
    entries = rows(manifests, "SELECT size, mtime_ns, inode, length(result) FROM entries")
    assert len(entries) == len(cold.files) and all(None not in e for e in entries)
    again = load(manifests)
    assert again.cache_hits == len(cold.files) and again.diagnostics == cold.diagnostics
