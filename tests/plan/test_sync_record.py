"""The sync records: files a plan (or an apply) proved in sync with the live registries are
not compared again on the next plan, and only while nothing could have changed.

Two records do it. With pruning (the default), the validation index's record marks the
files in sync and `replan` plans only the others (`result.basis.keys`), counting the rest
as unchanged. Without (`--no-prune`, and layered manifests), the older sync record serves
them from the live entries (`result.desired.in_sync`). Every test runs in both modes and
compares against the plan computed without any cache (`use_cache=False`), which reads and
compares every file: a record may make a plan faster, never different (the noops it knows
of are counted in the summary, not listed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine, revalidate
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.parsecache import CACHE_DIR
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from tests.conftest import write

_clock = [0]


def settle(path: Path) -> None:
    """Give a file an old mtime of its own (older than the racy window, and different from
    every earlier one, as a real edit's would be)."""
    _clock[0] += 1
    old = (1_700_000_000 + _clock[0]) * 1_000_000_000
    os.utime(path, ns=(old, old))


def settle_all(root: Path) -> None:
    for path in sorted(root.rglob("*.yaml")):
        settle(path)


PRUNE = {"replan": True, "record": False}
_mode = ["replan"]


def plan(manifests: Path, registries: Path, **options: Any) -> engine.PlanResult:
    return engine.make_plan([manifests], registries, jobs=1, prune=PRUNE[_mode[0]], **options)


def meaning(plan: Plan) -> dict[str, Any]:
    """A plan's data, noops left out: a plan from a record counts them without listing."""
    data = planfile.to_dict(plan)
    data["changes"] = [c for c in data["changes"] if c["action"] != "noop"]
    del data["unchanged"]
    return data


def same_plan(manifests: Path, registries: Path) -> engine.PlanResult:
    """The plan through the caches, checked against the plan without any."""
    fast = plan(manifests, registries)
    slow = plan(manifests, registries, use_cache=False)
    assert [str(d) for d in fast.diagnostics] == [str(d) for d in slow.diagnostics]
    if slow.plan is None:
        assert fast.plan is None
    else:
        assert fast.plan is not None
        assert meaning(fast.plan) == meaning(slow.plan)
    return fast


def record_files(manifests: Path) -> list[Path]:
    return sorted((manifests / CACHE_DIR).rglob("sync-*.json"))


def in_sync(result: engine.PlanResult, manifests: Path) -> set[str]:
    """The files the plan took as in sync without comparing their resources."""
    served = set(result.desired.in_sync)  # a full load's, served by the older record
    if result.basis is not None and result.basis.keys is not None:
        planned = {revalidate.key_text(key) for key in result.basis.keys}
        served |= {name for name, f in result.basis.indexed.record.files().items()
                   if not planned.intersection(f.keys)}
    return {str(Path(p).relative_to(manifests)) for p in served}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    settle(path)


@pytest.fixture(params=list(PRUNE))
def synced(manifests: Path, registries: Path, request: pytest.FixtureRequest
           ) -> Iterator[tuple[Path, Path]]:
    """Manifests and registries in sync, settled, with a record of it."""
    _mode[0] = request.param
    settle_all(manifests)
    first = plan(manifests, registries)
    assert first.plan is not None and not first.plan.summary.has_changes
    assert in_sync(first, manifests) == set()  # nothing recorded yet: every file was read
    assert len(record_files(manifests)) == 1
    yield manifests, registries
    _mode[0] = "replan"


def test_a_plan_in_sync_is_served_from_the_record_and_says_the_same(
        synced: tuple[Path, Path]) -> None:
    manifests, registries = synced
    again = same_plan(manifests, registries)
    assert len(in_sync(again, manifests)) == len(again.desired.files) == 29
    assert again.plan is not None and again.plan.summary.noop == 29


def test_an_edited_file_is_read_again_and_its_change_planned(synced: tuple[Path, Path]) -> None:
    manifests, registries = synced
    edit(manifests / "agents" / "fraud_agent.yaml", "max_iterations: 5", "max_iterations: 7")
    result = same_plan(manifests, registries)
    assert "agents/fraud_agent.yaml" not in in_sync(result, manifests)
    assert len(in_sync(result, manifests)) == 28
    assert result.plan is not None
    assert [str(c.key) for c in result.plan.actionable] == ["agent/fraud_agent"]


def test_drift_in_the_live_registries_is_never_hidden(synced: tuple[Path, Path]) -> None:
    """Someone edits the live agent registry by hand: its fingerprint moves, so no file is
    taken as in sync, and the plan puts the manifests' value back."""
    manifests, registries = synced
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"][0]["max_iterations"] = 42
    path.write_text(json.dumps(data, indent=2))
    result = same_plan(manifests, registries)
    assert in_sync(result, manifests) == set()
    assert result.plan is not None
    (change,) = result.plan.actionable
    assert change.before is not None and change.before["max_iterations"] == 42


def test_after_an_apply_the_next_plan_is_served_at_the_new_fingerprint(
        synced: tuple[Path, Path]) -> None:
    manifests, registries = synced
    edit(manifests / "tools" / "fraud_rules.yaml", "name: Fraud Rules", "name: Renamed")
    result = plan(manifests, registries)
    assert result.plan is not None and result.plan.summary.update == 1
    revision = engine.apply_plan(result.plan, registries, planned=result)
    assert revision is not None
    after = same_plan(manifests, registries)
    assert len(in_sync(after, manifests)) == 29
    assert after.plan is not None and not after.plan.summary.has_changes
    assert after.live.fingerprint == revision.fingerprint_after


def test_a_duplicate_name_against_an_in_sync_file_names_both_lines(
        synced: tuple[Path, Path]) -> None:
    manifests, registries = synced
    copy = manifests / "agents" / "zz_copy.yaml"
    write(copy, (manifests / "agents" / "fraud_agent.yaml").read_text())
    settle(copy)
    result = same_plan(manifests, registries)
    assert "agents/fraud_agent.yaml" in in_sync(result, manifests)
    (duplicate,) = [d for d in result.diagnostics if d.code == "M010"]
    assert f"{manifests / 'agents' / 'fraud_agent.yaml'}:" in duplicate.message


@pytest.mark.parametrize("synced", ["replan"], indirect=True)  # without pruning: no delete
def test_a_refused_delete_names_users_in_in_sync_files_by_line(
        synced: tuple[Path, Path]) -> None:
    """The users' lines come from files not read for the plan: they are read on demand."""
    manifests, registries = synced
    (manifests / "tools" / "fraud_rules.yaml").unlink()
    result = same_plan(manifests, registries)
    assert result.plan is not None
    (refusal,) = result.plan.refusals
    user = next(u for u in refusal.users if u.key == ResourceKey(Kind.AGENT, "fraud_agent"))
    text = (manifests / "agents" / "fraud_agent.yaml").read_text().splitlines()
    assert user.location.line is not None and "fraud_rules" in text[user.location.line - 1]
    assert "agents/fraud_agent.yaml" in in_sync(result, manifests)


def test_a_damaged_or_foreign_record_is_ignored(synced: tuple[Path, Path],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    manifests, registries = synced
    (record,) = record_files(manifests)
    body = json.loads(record.read_text())
    # a record that claims a changed file is in sync, written without this machine's key
    edit(manifests / "agents" / "fraud_agent.yaml", "max_iterations: 5", "max_iterations: 6")
    key = str(manifests / "agents" / "fraud_agent.yaml")
    body["files"][key]["stat"] = [os.stat(key).st_size, os.stat(key).st_mtime_ns,
                                  os.stat(key).st_ino]
    body["salt"] = "0" * 32
    record.write_text(json.dumps(body))
    for path in validation_records(manifests):  # the index's record: every file in sync
        if path.suffix == ".sqlite":
            with contextlib.closing(sqlite3.connect(path)) as connection, connection:
                connection.execute("UPDATE meta SET value = CAST('[]' AS BLOB) "
                                   "WHERE key = 'unsynced'")
    result = same_plan(manifests, registries)
    assert "agents/fraud_agent.yaml" not in in_sync(result, manifests)
    assert result.desired.in_sync == set()
    for damaged in ("not json", "[]", '{"format": 1}', json.dumps({**body, "files": 3})):
        record.write_text(damaged)
        for path in validation_records(manifests):
            path.write_text(damaged)  # the index, and its record (not a database now)
        assert in_sync(same_plan(manifests, registries), manifests) == set()
    monkeypatch.setenv("MESHCTL_CACHE_KEY_FILE", str(tmp_path / "another-key"))
    assert in_sync(same_plan(manifests, registries), manifests) == set()


def validation_records(manifests: Path) -> list[Path]:
    return sorted((manifests / CACHE_DIR).rglob("validated-*"))


def test_a_file_edited_within_the_racy_window_is_not_recorded(
        synced: tuple[Path, Path]) -> None:
    manifests, registries = synced
    target = manifests / "agents" / "fraud_agent.yaml"
    target.write_text(target.read_text() + "\n")  # now: too recent for its stat to stand
    plan(manifests, registries)
    again = same_plan(manifests, registries)
    if _mode[0] == "record":
        assert "agents/fraud_agent.yaml" not in in_sync(again, manifests)
        assert len(in_sync(again, manifests)) == 28
    else:  # read again each time, its stat cannot stand for it; its digest is what is marked
        assert again.basis is not None and again.basis.keys == frozenset()
        target.write_text(target.read_text().replace("max_iterations: 5", "max_iterations: 8"))
        edited = same_plan(manifests, registries)
        assert edited.plan is not None
        assert [str(c.key) for c in edited.plan.actionable] == ["agent/fraud_agent"]


def test_another_registries_directory_has_its_own_record(synced: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    manifests, registries = synced
    other = tmp_path / "other"
    os.makedirs(other)
    for path in registries.rglob("*.json"):
        if ".meshctl" not in path.parts:
            write(other / path.relative_to(registries), path.read_bytes())
    first = same_plan(manifests, other)
    assert in_sync(first, manifests) == set()
    assert len(record_files(manifests)) == 2
    assert len(in_sync(same_plan(manifests, registries), manifests)) == 29


def test_random_edits_never_make_the_plan_differ(synced: tuple[Path, Path]) -> None:
    """Edits, removals, new files, live drift and applies in a random order: after each,
    the plan through the record is the plan without it."""
    manifests, registries = synced
    rng = random.Random(7)
    served, changed = 0, 0
    for step in range(40):
        files = sorted(manifests.rglob("*.yaml"))
        choice = rng.choice(["edit", "edit", "remove", "add", "drift", "apply"])
        if choice == "edit":
            target = rng.choice([f for f in files if "agents" in f.parts])
            edit(target, "max_iterations:", f"max_iterations: {rng.randint(1, 9)}\n  x_note:")
        elif choice == "remove" and len(files) > 20:
            target = rng.choice([f for f in files if "model-profiles" in f.parts
                                 or "policies" in f.parts])
            target.unlink()
        elif choice == "add":
            target = manifests / "tools" / f"extra_{step}.yaml"
            template = (manifests / "tools" / "fraud_rules.yaml").read_text()
            write(target, template.replace("name: fraud_rules", f"name: extra_{step}"))
            settle(target)
        elif choice == "drift":
            path = registries / "tool_registry.json"
            data = json.loads(path.read_text())
            data["tools"][rng.randrange(len(data["tools"]))]["description"] = f"drift {step}"
            path.write_text(json.dumps(data, indent=2))
        result = same_plan(manifests, registries)
        served += bool(in_sync(result, manifests))
        changed += bool(result.plan and result.plan.summary.has_changes)
        if choice == "apply" and result.plan is not None and not result.plan.refusals:
            engine.apply_plan(result.plan, registries, planned=result, max_deletes=-1)
            same_plan(manifests, registries)
    # both paths were really taken (without pruning, a removal changes nothing)
    assert served >= 6 and changed >= (6 if PRUNE[_mode[0]] else 4)
