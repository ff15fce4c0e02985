"""The file store's commit, on a copy of the example registries: only what changes is
rewritten, file modes and unknown content survive, each commit is one revision with its
before/after and an audit line, and a stale commit writes nothing.

(Crash recovery and concurrent writers are tested in test_journal.py and tests/e2e.)
"""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import LockTimeout, StalePlan, StoreError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import filestore, history, lock
from reconciler.store.filestore import FileStore
from reconciler.store.history import CommitInfo
from reconciler.store.registry_files import read_live_state, registry_file_names
from tests.conftest import files_state

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
OPUS = ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3")
TRIAGE = ResourceKey(Kind.WORKFLOW, "claims_triage")
OLD_STAMP = "2025-12-22T10:00:00Z"
INFO = CommitInfo(source="test", user="alice", host="box", git_commit="abc123",
                  summary={"create": 0, "update": 1, "delete": 0}, note="why")


def entry_of(root: Path, key: ResourceKey) -> dict[str, Any]:
    resource = read_live_state(root).state.get(key)
    assert resource is not None
    return copy.deepcopy(resource.entry)


def commit(root: Path, changes: dict[ResourceKey, Any], *, with_befores: bool = True,
           info: CommitInfo = INFO) -> filestore.Revision:
    store = FileStore(root)
    live = store.snapshot()
    befores = None
    if with_befores:
        befores = {key: entry(live.state.get(key)) for key in changes}
    return store.commit(changes, expected=live.fingerprint, info=info, befores=befores)


def entry(resource: Any) -> dict[str, Any] | None:
    return None if resource is None else dict(resource.entry)


def audit_lines(root: Path) -> list[dict[str, Any]]:
    path = root / ".meshctl" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_only_the_changed_file_is_rewritten(registries: Path) -> None:
    before = files_state(registries)
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    revision = commit(registries, {FRAUD: fraud})
    after = files_state(registries)
    assert revision.files == ("agent_registry.json",)
    assert set(after) == set(before)
    for name in before:
        if name == "agent_registry.json":
            assert after[name][0] != before[name][0]
            assert after[name][2] != before[name][2]  # a new file renamed into place
        else:
            assert after[name] == before[name], f"{name} was touched"


def test_last_updated_is_refreshed_in_rewritten_files_only(registries: Path) -> None:
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    revision = commit(registries, {FRAUD: fraud, OPUS: None})
    assert revision.files == ("model_profiles.json", "agent_registry.json")
    stamps = {name: json.loads((registries / name).read_text()).get("last_updated")
              for name in ("agent_registry.json", "model_profiles.json", "tool_registry.json",
                           "governance_policies.json")}
    assert stamps["tool_registry.json"] == stamps["governance_policies.json"] == OLD_STAMP
    assert stamps["agent_registry.json"] == stamps["model_profiles.json"] == \
        revision.record["time"] != OLD_STAMP


def test_permission_bits_are_kept(registries: Path) -> None:
    os.chmod(registries / "agent_registry.json", 0o640)
    os.chmod(registries / "workflows" / "claims_triage.json", 0o600)
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    triage = entry_of(registries, TRIAGE)
    triage["mode"] = "strict"
    revision = commit(registries, {FRAUD: fraud, TRIAGE: triage})
    assert set(revision.files) == {"agent_registry.json", "workflows/claims_triage.json"}
    assert stat.S_IMODE((registries / "agent_registry.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((registries / "workflows" / "claims_triage.json").stat().st_mode) == 0o600
    assert json.loads((registries / "workflows" / "claims_triage.json").read_text()) == triage


def test_workflow_files_are_created_and_removed(registries: Path) -> None:
    new = ResourceKey(Kind.WORKFLOW, "new_flow")
    body = {"workflow_id": "new_flow", "name": "New", "steps": []}
    revision = commit(registries, {new: body})
    path = registries / "workflows" / "new_flow.json"
    assert revision.files == ("workflows/new_flow.json",)
    assert json.loads(path.read_text()) == body
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    revision = commit(registries, {new: None, TRIAGE: None})
    assert set(revision.files) == {"workflows/new_flow.json", "workflows/claims_triage.json"}
    assert list((registries / "workflows").iterdir()) == []
    assert [c["action"] for c in revision.record["changes"]] == ["delete", "delete"]


def test_a_missing_registry_file_is_created(registries: Path) -> None:
    (registries / "tool_registry.json").unlink()
    tool = ResourceKey(Kind.TOOL, "t")
    revision = commit(registries, {tool: {"tool_id": "t", "name": "T"}})
    data = json.loads((registries / "tool_registry.json").read_text())
    assert data == {"version": "1.0.0", "last_updated": revision.record["time"],
                    "tools": [{"tool_id": "t", "name": "T"}]}


def test_entries_the_reader_cannot_key_survive_a_commit(registries: Path) -> None:
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"].insert(1, {"name": "no id", "_comment": "hand-made"})
    path.write_text(json.dumps(data, indent=2))
    live = read_live_state(registries)
    assert [d.code for d in live.diagnostics] == ["L003"]
    fraud = copy.deepcopy(live.state.get(FRAUD).entry)  # type: ignore[union-attr]
    fraud["max_iterations"] = 9
    # Without the plan's before-entries the store must read the registries, and refuses
    # to change what it cannot read completely.
    with pytest.raises(StoreError, match="could not be read completely"):
        commit(registries, {FRAUD: fraud}, with_befores=False)
    commit(registries, {FRAUD: fraud})
    agents = json.loads(path.read_text())["agents"]
    assert agents[1] == {"name": "no id", "_comment": "hand-made"}
    assert next(a for a in agents if a.get("agent_id") == "fraud_agent") == fraud
    assert len(agents) == len(data["agents"])


def test_a_commit_is_one_revision_with_before_and_after(registries: Path) -> None:
    store = FileStore(registries)
    live = store.snapshot()
    fraud = entry_of(registries, FRAUD)
    old_fraud = copy.deepcopy(fraud)
    fraud["max_iterations"] = 9
    tool = ResourceKey(Kind.TOOL, "t")
    revision = store.commit({FRAUD: fraud, OPUS: None, tool: {"tool_id": "t"}},
                            expected=live.fingerprint, info=INFO)
    assert revision.number == 1
    record = history.load(store.meta, 1)
    assert record == revision.record
    assert {k: record[k] for k in ("revision", "user", "host", "source", "git_commit", "note",
                                   "summary")} == {
        "revision": 1, "user": "alice", "host": "box", "source": "test",
        "git_commit": "abc123", "note": "why", "summary": INFO.summary}
    assert record["fingerprint_before"] == live.fingerprint
    assert record["fingerprint_after"] == store.fingerprint() == revision.fingerprint_after
    opus = live.state.get(OPUS).entry  # type: ignore[union-attr]
    assert record["changes"] == [
        {"kind": "Agent", "name": "fraud_agent", "action": "update", "before": old_fraud,
         "after": fraud},
        {"kind": "ModelProfile", "name": "claude_opus_3", "action": "delete", "before": opus,
         "after": None},
        {"kind": "Tool", "name": "t", "action": "create", "before": None,
         "after": {"tool_id": "t"}}]
    assert record["files"] == ["model_profiles.json", "tool_registry.json",
                               "agent_registry.json"]
    second = commit(registries, {OPUS: opus})
    assert second.number == 2
    assert history.numbers(store.meta) == [1, 2]
    assert second.record["fingerprint_before"] == revision.fingerprint_after


def test_a_stale_commit_writes_nothing(registries: Path) -> None:
    store = FileStore(registries)
    live = store.snapshot()
    path = registries / "tool_registry.json"
    path.write_text(path.read_text().replace("Policy Snapshot Retriever", "Edited by hand"))
    before = files_state(registries)
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    with pytest.raises(StalePlan, match="stale plan: the live registries changed since it "
                                        "was made; re-run plan"):
        store.commit({FRAUD: fraud}, expected=live.fingerprint, info=INFO)
    seen: list[Any] = []

    def detail(now_live: Any, since: list[dict[str, Any]]) -> str:
        seen.append((now_live.fingerprint, since))
        return "tool policy_snapshot changed"

    with pytest.raises(StalePlan, match="stale plan: tool policy_snapshot changed; re-run"):
        store.commit({FRAUD: fraud}, expected=live.fingerprint, info=INFO, stale_detail=detail)
    assert seen == [(read_live_state(registries).fingerprint, [])]
    assert files_state(registries) == before
    assert history.numbers(store.meta) == []


def test_revisions_since_a_fingerprint(registries: Path) -> None:
    start = FileStore(registries).fingerprint()
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    first = commit(registries, {FRAUD: fraud})
    commit(registries, {OPUS: None})
    meta = registries / ".meshctl"
    assert [r["revision"] for r in history.revisions_since(meta, start)] == [1, 2]
    assert [r["revision"] for r in history.revisions_since(meta, first.fingerprint_after)] == [2]
    assert history.revisions_since(meta, "0" * 64) == []


def test_nothing_meshctl_keeps_is_seen_by_the_runtime(registries: Path) -> None:
    """The runtime globs `*.json` and `workflows/*.json`: .meshctl/ must never add one."""
    names = sorted(p.name for p in registries.glob("*.json"))
    flows = sorted(p.name for p in (registries / "workflows").glob("*.json"))
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    triage = entry_of(registries, TRIAGE)
    triage["mode"] = "strict"
    commit(registries, {FRAUD: fraud, TRIAGE: triage})
    FileStore(registries).audit({"source": "test", "result": "refused", "reason": "x"})
    assert (registries / ".meshctl" / "history" / "1.json").is_file()
    assert sorted(p.name for p in registries.glob("*.json")) == names
    assert sorted(p.name for p in (registries / "workflows").glob("*.json")) == flows
    assert not (registries / "workflows" / ".meshctl").exists()
    assert registry_file_names(registries) == [
        "model_profiles.json", "tool_registry.json", "agent_registry.json",
        "workflows/claims_triage.json", "governance_policies.json"]
    meta = sorted(str(p.relative_to(registries / ".meshctl"))
                  for p in (registries / ".meshctl").rglob("*"))
    assert meta == ["audit.jsonl", "history", "history/1.json", "layout.json", "lock",
                    "lock.info", "proofs.json", "txn"]


def test_every_commit_and_attempt_is_audited(registries: Path) -> None:
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    commit(registries, {FRAUD: fraud})
    FileStore(registries).audit({"source": "test", "user": "bob", "result": "refused",
                                 "reason": "max-deletes"})
    ok, refused = audit_lines(registries)
    assert ok == {"time": ok["time"], "user": "alice", "host": "box", "source": "test",
                  "action": "commit", "result": "ok", "revision": 1,
                  "summary": INFO.summary, "resources": 1}
    assert refused == {"time": refused["time"], "source": "test", "user": "bob",
                       "result": "refused", "reason": "max-deletes"}
    assert ok["time"].endswith("Z") and len(ok["time"]) == 20


def test_a_commit_leaves_no_journal_or_temp_files(registries: Path) -> None:
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    commit(registries, {FRAUD: fraud})
    meta = registries / ".meshctl"
    assert not (meta / "journal.json").exists()
    assert not (meta / "journal.json.tmp").exists()
    assert list((meta / "txn").iterdir()) == []


def test_a_held_lock_makes_a_writer_give_up_naming_the_holder(registries: Path) -> None:
    store = FileStore(registries, lock_timeout=0.1)
    live = store.snapshot()
    fraud = entry_of(registries, FRAUD)
    fraud["max_iterations"] = 9
    before = files_state(registries)
    with lock.exclusive(store.meta, timeout=1, purpose="someone else"):
        with pytest.raises(LockTimeout, match=rf"locked by pid {os.getpid()} on .* "
                                              r"\(someone else\), since .*gave up after 0.1 s"):
            store.commit({FRAUD: fraud}, expected=live.fingerprint, info=INFO)
    assert files_state(registries) == before
    store.commit({FRAUD: fraud}, expected=live.fingerprint, info=INFO)


def test_the_store_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not found"):
        FileStore(tmp_path / "missing")
