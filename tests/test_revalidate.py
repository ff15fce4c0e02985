"""Validating again only what changed (issue 26): after any sequence of edits, what
`validate` finds from the index's record and the changed files equals a full validation
from scratch. Hypothesis drives random edit sequences over the example manifests."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconciler.revalidate as revalidate_module
from reconciler import access, engine, scanning, statchunks
from tests.conftest import agent, copy_tree, manifest, write

FIXTURE = Path(__file__).resolve().parent.parent / "manifests"
_clock = itertools.count(1)


def settle(path: Path) -> None:
    """Date a file in the past (out of the racy window), each time a different past."""
    when = time.time_ns() - 100_000_000_000 + next(_clock) * 1_000_000
    os.utime(path, ns=(when, when))


@dataclass(frozen=True)
class Edit:
    """One edit of a manifests tree, named so that a failing example reads."""

    name: str
    run: Callable[[Path], None]

    def __call__(self, root: Path) -> None:
        self.run(root)

    def __repr__(self) -> str:
        return self.name


def replace_in(relative: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / relative
        if path.exists() and old in path.read_text():
            path.write_text(path.read_text().replace(old, new, 1))
            settle(path)
    return Edit(f"replace_in({relative!r}, {old!r}, {new!r})", edit)


def remove(relative: str) -> Edit:
    def edit(root: Path) -> None:
        (root / relative).unlink(missing_ok=True)
    return Edit(f"remove({relative!r})", edit)


def create(relative: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        settle(write(root / relative, text))
    return Edit(f"create({relative!r})", edit)


def rename(old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        if (root / old).exists():
            (root / old).rename(root / new)
    return Edit(f"rename({old!r}, {new!r})", edit)


EDITS = st.sampled_from([
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 0"),
    replace_in("agents/fraud_agent.yaml", "max_iterations: 0", "max_iterations: 5"),
    replace_in("agents/fraud_agent.yaml", "- similarity", "- no_such_tool"),
    replace_in("agents/intake_agent.yaml", "model_profile_id: default_gpt35",
               "model_profile_id: gpt4"),
    remove("tools/similarity.yaml"),
    remove("agents/coverage_agent.yaml"),
    create("tools/similarity.yaml", manifest("Tool", "similarity", """\
        name: Similarity
        description: finds similar claims
        endpoint: http://tools/similarity
        input_schema: {type: object}
        output_schema: {type: object}
        """)),
    create("agents/extra.yaml", agent("extra_agent", "allowed_tools: [fraud_rules]")),
    create("agents/twice.yaml", agent("fraud_agent")),         # M010
    create("agents/cased.yaml", agent("Fraud_Agent")),         # M014
    create("agents/broken.yaml", "apiVersion: agentmesh.io/v1\nkind: Agent\n  bad: [\n"),
    rename("agents/severity_agent.yaml", "agents/severity.yaml"),
    replace_in("policies/agent_tool_access.yaml", "- fraud_rules", "- policy_snapshot"),
    replace_in("policies/hitl_access_control.yaml", "- decision", "- approval"),
    replace_in("agents/orchestrator_agent.yaml", "- coverage_agent", "- orchestrator_agent"),
    replace_in("workflows/claims_triage.yaml", "agent_id: severity_agent",
               "agent_id: coverage_agent"),
])


def findings(found: Any) -> list[bytes]:
    return sorted(orjson.dumps(d.to_dict()) for d in found.diagnostics)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("revalidate") / "fixture"
    copy_tree(FIXTURE, root)  # (without a .meshctl-cache another test left there)
    for path in root.rglob("*.yaml"):
        settle(path)
    return root


@pytest.mark.parametrize("small", [False, True], ids=["as-is", "small-thresholds"])
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(EDITS, min_size=1, max_size=6))
def test_validating_what_changed_equals_validating_everything(
        base: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        small: bool, steps: list[Callable[[Path], None]]) -> None:
    """`small`: the thresholds of a large mesh brought down to the example's size: the
    record's stats span many chunks (as 122,000 files span 120), so that edits and files
    coming, going and renamed land in one chunk, several, or shift them; and the access
    policies are kept by subject (as a 100,000-rule policy is), so that a changed agent's
    access is decided from the record's rows."""
    if small:
        monkeypatch.setattr(statchunks, "CHUNK", 3)
        monkeypatch.setattr(access, "ROWS_FROM", 1)
        monkeypatch.setattr(revalidate_module, "BUCKETS", 2)  # buckets of many keys
    root = tmp_path_factory.mktemp("edits") / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    paths = [str(root)]
    engine.validate_files(paths, jobs=1)  # the index and its record
    for step in steps:
        step(root)
        found = engine.validate_files(paths, jobs=1)
        fresh = engine.load_desired(paths, use_cache=False, jobs=1)
        assert findings(found) == findings(fresh), steps
        assert found.declared == [(str(r.key), r.source.file if r.source else None)
                                  for r in fresh.state]
        assert (found.file_count, found.resource_count) == (len(fresh.files),
                                                            len(fresh.state))


def answers_of_revalidate(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """From now on, whether each `revalidate` call answered (True) or gave up (False)."""
    answered: list[bool] = []
    original = revalidate_module.revalidate

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(revalidate_module, "revalidate", spy)
    return answered


def test_a_small_change_is_validated_from_the_record(base: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    answered = answers_of_revalidate(monkeypatch)
    engine.validate_files([str(root)], jobs=1)
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 0")(root)
    found = engine.validate_files([str(root)], jobs=1)
    assert answered == [True] and [d.code for d in found.errors] == ["S003"]
    # an agent's references to agents change the cycles: validated in full instead
    replace_in("agents/orchestrator_agent.yaml", "- coverage_agent",
               "- orchestrator_agent")(root)
    engine.validate_files([str(root)], jobs=1)
    assert answered == [True, False]


@pytest.mark.parametrize("damage", ["row", "blob", "stats", "rules", "garbage", "truncated",
                                    "gone"])
def test_a_damaged_record_means_a_full_validation(base: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  damage: str) -> None:
    """The record's rows are MAC'd: an edited row (here the fraud agent's keys renamed,
    which would hide the change's finding), an edited blob, a file that is no database,
    one cut short or gone, and the change is validated in full, as from scratch."""
    monkeypatch.setattr(access, "ROWS_FROM", 1)  # the tool access policy kept by subject
    root = tmp_path / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    engine.validate_files([str(root)], jobs=1)
    [record] = (root / ".meshctl-cache" / "v1").glob("validated-*.sqlite")
    with contextlib.closing(sqlite3.connect(record)) as connection, connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if damage == "row":
            connection.execute("UPDATE files SET value = CAST(replace(CAST(value AS TEXT), "
                               "'fraud_agent', 'fraud_agenT') AS BLOB)")
        elif damage == "stats":  # the fraud agent's recorded size, one more
            [(before,)] = connection.execute("SELECT value FROM stats")
            connection.execute("UPDATE stats SET value = CAST(replace(CAST(value AS TEXT), "
                               "'fraud_agent.yaml\":[', 'fraud_agent.yaml\":[1') AS BLOB)")
            [(after,)] = connection.execute("SELECT value FROM stats")
            assert len(after) == len(before) + 1
        elif damage == "rules":  # the fraud agent's rule allows what it denied
            [(key, before)] = connection.execute(
                "SELECT key, value FROM rules WHERE CAST(value AS TEXT) LIKE ?",
                ('%"fraud_agent":%',))
            assert key.startswith('["agent_tool_access",')
            connection.execute("UPDATE rules SET value = ? WHERE key = ?",
                               (before.replace(b"denied_tools", b"allowed_tools"), key))
        elif damage == "blob":
            connection.execute("UPDATE meta SET value = CAST('[]' AS BLOB) "
                               "WHERE key = 'mesh'")
    if damage in ("garbage", "truncated", "gone"):
        body = record.read_bytes()
        for suffix in ("-wal", "-shm"):
            Path(f"{record}{suffix}").unlink(missing_ok=True)
        if damage == "gone":
            record.unlink()
        else:
            record.write_bytes(os.urandom(4096) if damage == "garbage" else body[:5000])
    answered = answers_of_revalidate(monkeypatch)
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 0")(root)
    found = engine.validate_files([str(root)], jobs=1)
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert findings(found) == findings(fresh)
    assert "S003" in {d.code for d in found.errors}
    assert answered in ([], [False])  # the damaged record was never the answer
    replace_in("agents/fraud_agent.yaml", "max_iterations: 0", "max_iterations: 5")(root)
    again = engine.validate_files([str(root)], jobs=1)
    assert answered[-1] is True  # written again by the full validation, and used
    assert findings(again) == findings(engine.load_desired([str(root)], use_cache=False,
                                                           jobs=1))


def test_a_deleted_agent_is_rechecked_where_workflows_run_it(base: Path,
                                                             tmp_path: Path) -> None:
    """Found by the property test: the orchestrator stops listing coverage_agent (A002 at
    the workflow running it), then coverage_agent goes (R003 there instead, no A002)."""
    root = tmp_path / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    engine.validate_files([str(root)], jobs=1)
    replace_in("agents/orchestrator_agent.yaml", "- coverage_agent",
               "- orchestrator_agent")(root)
    assert "A002" in {d.code for d in engine.validate_files([str(root)], jobs=1).errors}
    remove("agents/coverage_agent.yaml")(root)
    found = engine.validate_files([str(root)], jobs=1)
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert findings(found) == findings(fresh)
    assert "A002" not in {d.code for d in found.errors}


def test_a_deleted_agent_takes_its_own_access_findings_along(base: Path,
                                                             tmp_path: Path) -> None:
    """Found by the property test: two edits of the tool policy deny coverage_agent a tool
    it lists (A003), then coverage_agent goes: its A003 must go too."""
    root = tmp_path / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    engine.validate_files([str(root)], jobs=1)
    for _ in range(2):
        replace_in("policies/agent_tool_access.yaml", "- fraud_rules",
                   "- policy_snapshot")(root)
    denied = engine.validate_files([str(root)], jobs=1).errors
    assert ("A003", "agent/coverage_agent") in {(d.code, d.resource) for d in denied}
    remove("agents/coverage_agent.yaml")(root)
    found = engine.validate_files([str(root)], jobs=1)
    assert findings(found) == findings(engine.load_desired([str(root)], use_cache=False,
                                                           jobs=1))
    assert "agent/coverage_agent" not in {d.resource for d in found.diagnostics}


def test_a_record_written_meanwhile_by_another_process_is_not_overwritten(
        base: Path, tmp_path: Path) -> None:
    """Two runs read the record at one generation; the first to write wins, the second's
    rows are not mixed into it (its write is refused), and validation stays right."""
    from reconciler import loading

    root = tmp_path / "manifests"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    engine.validate_files([str(root)], jobs=1)
    index = scanning.index_for([str(root)], loading.loader.DEFAULT_MAX_BYTES)
    assert index is not None
    latest = index.latest()
    assert latest is not None
    first = loading._record_in(latest[1], index)
    second = loading._record_in(latest[1], index)
    assert first is not None and second is not None and first.db and second.db
    first.mark(next(iter(first.stats)), True)
    written = first.save(first.db)
    assert written is not None and written != latest[1]["record"]
    second.mark(next(iter(second.stats)), False)
    assert second.save(second.db) is None  # not at the generation it read any more
    assert first.db.generation() == written
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 0")(root)
    found = engine.validate_files([str(root)], jobs=1)  # the index names the old generation
    fresh = engine.load_desired([str(root)], use_cache=False, jobs=1)
    assert findings(found) == findings(fresh)
