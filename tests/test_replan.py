"""Planning only what changed since the last sync (issue 26): after any sequence of manifest
edits, applies and foreign edits of the live registries, the plan `replan` makes from the
validation index's record (the keys of the files not marked in sync, plus the live-only
ones) means what a plan from scratch (`use_cache=False`) means: the same findings, the same
changes in the same order, the same access changes, the same counts (its noops are counted,
not listed). Hypothesis drives the sequences over the example manifests and registries."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import access, engine, replan, statchunks
from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.store import FileStore, default_info
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, agent, copy_tree, write
from tests.test_revalidate import create, remove, rename, replace_in

_clock = itertools.count(1)
Step = Callable[[Path, Path], None]


def settle(path: Path) -> None:
    when = time.time_ns() - 100_000_000_000 + next(_clock) * 1_000_000
    os.utime(path, ns=(when, when))


def on_manifests(edit: Callable[[Path], None]) -> Step:
    return lambda manifests, registries: edit(manifests)


def drift(kind_file: str, list_key: str, field: str, value: Any) -> Step:
    """Someone edits the live registry by hand (a foreign writer: no revision)."""
    def step(manifests: Path, registries: Path) -> None:
        path = registries / kind_file
        data = json.loads(path.read_text())
        data[list_key][0][field] = value
        path.write_text(json.dumps(data, indent=2))
    return step


def written(kind: Kind, name: str, change: Callable[[dict[str, Any] | None],
                                                    dict[str, Any] | None]) -> Step:
    """Another meshctl writer (the API, the library, an apply from elsewhere) commits a
    change through the store: a revision records it."""
    def step(manifests: Path, registries: Path) -> None:
        store = FileStore(registries)
        live = store.snapshot()
        entry = live.state.get(ResourceKey(kind, name))
        store.commit({ResourceKey(kind, name): change(entry.entry if entry else None)},
                     expected=live.fingerprint, info=default_info("test"))
    return step


def _described(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if entry is None else {**entry, "description": "written through the API"}


def _new_agent(entry: dict[str, Any] | None) -> dict[str, Any]:
    return {**json.loads(json.dumps(_TEMPLATE)), "agent_id": "written_agent"}


_TEMPLATE = {"agent_id": "", "name": "Written", "description": "by another writer",
             "capabilities": ["x"], "allowed_tools": [], "model_profile_id": "default_gpt35",
             "max_iterations": 3, "iteration_timeout_seconds": 30, "allowed_agents": []}
WRITE_FRAUD = written(Kind.AGENT, "fraud_agent", _described)
WRITE_NEW = written(Kind.AGENT, "written_agent", _new_agent)
WRITE_DELETE = written(Kind.TOOL, "policy_snapshot", lambda entry: None)
APPLY = "apply"
USE_GPT4 = replace_in("agents/intake_agent.yaml", "model_profile_id: default_gpt35",
                      "model_profile_id: gpt4")
STOP_USING = replace_in("agents/coverage_agent.yaml", "allowed_tools:\n  - policy_snapshot\n",
                        "allowed_tools:\n")
STEP_LIST: list[Any] = [
    on_manifests(replace_in("agents/fraud_agent.yaml", "max_iterations: 5",
                            "max_iterations: 7")),
    on_manifests(replace_in("agents/fraud_agent.yaml", "max_iterations: 7",
                            "max_iterations: 5")),
    on_manifests(replace_in("agents/fraud_agent.yaml", "- similarity", "- policy_snapshot")),
    on_manifests(replace_in("agents/fraud_agent.yaml", "- similarity", "- no_such_tool")),
    on_manifests(replace_in("tools/policy_snapshot.yaml", "name: Policy Snapshot Retriever",
                            "name: Policy Snapshots")),  # an update: its impact listed
    on_manifests(STOP_USING),
    on_manifests(remove("tools/policy_snapshot.yaml")),
    on_manifests(USE_GPT4),
    on_manifests(replace_in("agents/intake_agent.yaml", "model_profile_id: gpt4",
                            "model_profile_id: default_gpt35")),
    on_manifests(remove("model-profiles/gpt4.yaml")),
    on_manifests(remove("tools/similarity.yaml")),            # used: a refused delete
    on_manifests(remove("model-profiles/claude_opus_3.yaml")),  # unused: a delete
    on_manifests(remove("agents/coverage_agent.yaml")),
    on_manifests(create("agents/extra.yaml",
                        agent("extra_agent", "allowed_tools: [fraud_rules]"))),
    on_manifests(create("agents/twice.yaml", agent("fraud_agent"))),  # M010
    on_manifests(rename("agents/severity_agent.yaml", "agents/severity.yaml")),
    on_manifests(replace_in("policies/agent_tool_access.yaml", "- fraud_rules",
                            "- policy_snapshot")),
    on_manifests(replace_in("policies/hitl_access_control.yaml", "- decision",
                            "- approval")),
    on_manifests(replace_in("workflows/claims_triage.yaml", "agent_id: severity_agent",
                            "agent_id: coverage_agent")),
    drift("agent_registry.json", "agents", "description", "edited live"),
    drift("tool_registry.json", "tools", "name", "Renamed live"),
    APPLY, APPLY, APPLY,
    WRITE_FRAUD, WRITE_NEW, WRITE_DELETE,
]
STEPS = st.sampled_from(STEP_LIST)


def meaning(plan: Plan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    data = planfile.to_dict(plan)
    data["changes"] = [c for c in data["changes"] if c["action"] != "noop"]
    del data["unchanged"]
    return data


def same_plan(manifests: Path, registries: Path) -> engine.PlanResult:
    fast = engine.make_plan([manifests], registries, jobs=1)
    slow = engine.make_plan([manifests], registries, jobs=1, use_cache=False)
    assert [d.to_dict() for d in fast.diagnostics] == [d.to_dict() for d in slow.diagnostics]
    assert meaning(fast.plan) == meaning(slow.plan)
    return fast


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replan")
    copy_tree(FIXTURE_MANIFESTS, root / "manifests")
    copy_tree(FIXTURE_REGISTRIES, root / "registries")
    for path in (root / "manifests").rglob("*.yaml"):
        settle(path)
    return root


def planned_after_each(base: Path, root: Path, steps: list[Any]) -> int:
    """Take `steps` on a copy of `base` in `root`, holding the plan after each to a plan
    from scratch; how many of those plans were made from the record (the short path)."""
    shutil.copytree(base, root, dirs_exist_ok=True, copy_function=shutil.copy2)
    manifests, registries = root / "manifests", root / "registries"
    same_plan(manifests, registries)  # the index, its record, the first marks
    scoped = 0
    for step in steps:
        if step == APPLY:
            planned = engine.make_plan([manifests], registries, jobs=1)
            if planned.plan is not None and not planned.plan.refusals:
                engine.apply_plan(planned.plan, registries, planned=planned, max_deletes=-1)
        else:
            step(manifests, registries)
        result = same_plan(manifests, registries)
        scoped += result.basis is not None and result.basis.keys is not None
    return scoped


@pytest.mark.parametrize("small", [False, True], ids=["as-is", "small-thresholds"])
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEPS, min_size=1, max_size=8))
def test_a_plan_of_what_changed_means_what_a_plan_from_scratch_means(
        base: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        small: bool, steps: list[Any]) -> None:
    """`small`: the record's stats in many chunks, the access policies kept by subject,
    and a plan no mark serves made by comparing every file first, in many batches, as at
    100,000 agents (see tests/test_revalidate.py)."""
    if small:
        monkeypatch.setattr(statchunks, "CHUNK", 3)
        monkeypatch.setattr(access, "ROWS_FROM", 1)
        monkeypatch.setattr(replan, "COMPARE_FROM", 0)
        monkeypatch.setattr(replan, "BATCH", 2)
    planned_after_each(base, tmp_path_factory.mktemp("steps"), steps)


@pytest.mark.parametrize("compare", [False, True], ids=["small-mesh", "compare-all"])
def test_valid_edits_in_turn_are_planned_from_the_record(
        base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compare: bool) -> None:
    """The comparison above compares something: edits that keep the manifests valid,
    taken one after another with applies between, are planned from the record, but for
    the plan after a foreign edit of the registries: made in full in a small mesh, from
    the keys that differ once every file was compared in a large one."""
    if compare:
        monkeypatch.setattr(replan, "COMPARE_FROM", 0)
    steps = [STEP_LIST[n] for n in (0, 4, 5, 21, 7, 22, 8, 9, 11, 15, 1, 23, 19, 0)]
    scoped = planned_after_each(base, tmp_path / "valid", steps)
    assert scoped == (len(steps) if compare else len(steps) - 1)


def test_when_most_of_the_mesh_differs_it_is_planned_whole(
        base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More keys to look at than `MAX_KEYS` after the comparison (an import into an empty
    store, a mesh rewritten): the whole mesh is planned, as before, and means the same."""
    monkeypatch.setattr(replan, "MAX_KEYS", 1)
    monkeypatch.setattr(replan, "COMPARE_FROM", 0)
    root = tmp_path / "whole"
    shutil.copytree(base, root, copy_function=shutil.copy2)
    manifests, registries = root / "manifests", root / "registries"
    STEP_LIST[0](manifests, registries)  # fraud_agent: one key to plan
    STEP_LIST[4](manifests, registries)  # policy_snapshot: a second
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is None
    assert result.plan is not None and len(result.plan.actionable) == 2
def test_an_edit_is_planned_from_its_own_keys(tmp_path: Path) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    first = same_plan(manifests, registries)
    assert first.basis is not None and first.basis.keys is None  # no marks yet: in full
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 7")(manifests)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is not None
    assert sorted(map(str, result.basis.keys)) == ["agent/fraud_agent"]
    assert result.plan is not None and result.plan.unchanged == 28
    assert [str(c.key) for c in result.plan.changes] == ["agent/fraud_agent"]
    assert result.plan.summary.noop == 28
    revision = engine.apply_plan(result.plan, registries, planned=result)
    assert revision is not None
    after = same_plan(manifests, registries)
    assert after.basis is not None and after.basis.keys == frozenset()
    assert after.plan is not None and after.plan.changes == ()
    assert after.plan.unchanged == 29


def test_a_foreign_edit_of_the_registries_means_a_full_plan(tmp_path: Path) -> None:
    """The live fingerprint moved: no mark vouches for anything, the whole mesh is planned
    (and the foreign edit planned back)."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    same_plan(manifests, registries)
    same_plan(manifests, registries)
    drift("agent_registry.json", "agents", "max_iterations", 42)(manifests, registries)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is None
    assert result.plan is not None
    (change,) = result.plan.actionable
    assert change.before is not None and change.before["max_iterations"] == 42


def test_in_a_large_mesh_a_plan_no_mark_serves_compares_every_file_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From `COMPARE_FROM` resources, the first plan and the one after a foreign edit
    compare every file with the registries (batch by batch, each batch's entries let go),
    mark the files in sync and plan only what differs: the same meaning as a plan of the
    whole mesh, without holding the whole mesh twice."""
    monkeypatch.setattr(replan, "COMPARE_FROM", 0)
    monkeypatch.setattr(replan, "BATCH", 3)
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    first = same_plan(manifests, registries)
    assert first.basis is not None and first.basis.keys == frozenset()
    assert first.plan is not None and first.plan.changes == ()
    assert first.plan.unchanged == 29
    drift("agent_registry.json", "agents", "max_iterations", 42)(manifests, registries)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is not None
    assert sorted(map(str, result.basis.keys)) == ["agent/orchestrator_agent"]
    assert result.plan is not None
    (change,) = result.plan.actionable
    assert change.before is not None and change.before["max_iterations"] == 42


def test_writes_through_the_store_are_planned_from_their_own_keys(tmp_path: Path) -> None:
    """After an apply, writes another meshctl writer committed (revisions, chained by
    their fingerprints) cost the next plan the resources they changed, not the whole mesh;
    a foreign edit after them breaks the chain: then the plan is made in full."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    first = same_plan(manifests, registries)
    assert first.plan is not None
    engine.apply_plan(first.plan, registries, planned=first, max_deletes=-1)
    WRITE_FRAUD(manifests, registries)
    WRITE_NEW(manifests, registries)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is not None
    assert sorted(map(str, result.basis.keys)) == ["agent/fraud_agent", "agent/written_agent"]
    assert result.plan is not None
    assert sorted((str(c.key), c.action.value) for c in result.plan.actionable) == [
        ("agent/fraud_agent", "update"), ("agent/written_agent", "delete")]
    again = same_plan(manifests, registries)  # the marks moved on with the plan
    assert again.basis is not None and again.basis.keys is not None
    assert sorted(map(str, again.basis.keys)) == ["agent/fraud_agent", "agent/written_agent"]
    WRITE_DELETE(manifests, registries)
    drift("agent_registry.json", "agents", "max_iterations", 42)(manifests, registries)
    full = same_plan(manifests, registries)
    assert full.basis is not None and full.basis.keys is None


def test_without_pruning_or_with_unmanaged_live_kinds_the_plan_is_made_in_full(
        tmp_path: Path) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    same_plan(manifests, registries)
    kept = engine.make_plan([manifests], registries, jobs=1, prune=False)
    assert kept.basis is None
    write(registries / "system_config.json", json.dumps({"version": "1", "settings": {}}))
    assert same_plan(manifests, registries).basis is None


def test_an_update_lists_as_impact_what_will_refer_to_it(tmp_path: Path) -> None:
    """An agent stops using a tool that is updated in the same plan: the tool's impact is
    what will refer to it, as in a plan from scratch (which reads the manifests' graph)."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    same_plan(manifests, registries)
    replace_in("tools/policy_snapshot.yaml", "name: Policy Snapshot Retriever",
               "name: Policy Snapshots")(manifests)
    STOP_USING(manifests)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is not None
    assert result.plan is not None
    tool = next(c for c in result.plan.changes if str(c.key) == "tool/policy_snapshot")
    assert "agent/coverage_agent" not in map(str, tool.impact)


def test_a_delete_lists_as_impact_what_referred_to_it(tmp_path: Path) -> None:
    """An agent stops using a profile deleted in the same plan: the delete's impact names
    the agent (it referred to the profile live), as in a plan from scratch."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    USE_GPT4(manifests)
    first = same_plan(manifests, registries)
    assert first.plan is not None
    engine.apply_plan(first.plan, registries, planned=first)
    replace_in("agents/intake_agent.yaml", "model_profile_id: gpt4",
               "model_profile_id: default_gpt35")(manifests)
    remove("model-profiles/gpt4.yaml")(manifests)
    result = same_plan(manifests, registries)
    assert result.basis is not None and result.basis.keys is not None
    assert result.plan is not None
    profile = next(c for c in result.plan.changes if str(c.key) == "model-profile/gpt4")
    assert "agent/intake_agent" in map(str, profile.impact)


def test_the_live_state_is_read_beside_the_stats_and_read_again_if_that_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan from the record reads the live registries on loading's second thread, while
    the manifests' stats are taken; should that read fail, the plan reads again itself,
    and an error that persists is raised as from any live read."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    same_plan(manifests, registries)  # (the record exists from here on)
    original = FileStore.snapshot
    on_main: list[bool] = []
    fails = {"beside": False, "here": False}

    def snapshot(self: FileStore, *args: Any, **kwargs: Any) -> Any:
        here = threading.current_thread() is threading.main_thread()
        on_main.append(here)
        if fails["here" if here else "beside"]:
            raise StoreError("the registries are locked (injected)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FileStore, "snapshot", snapshot)
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 7")(manifests)
    result = engine.make_plan([manifests], FileStore(registries), jobs=1)
    assert on_main[0] is False  # read beside the stats
    assert result.plan is not None
    assert [str(c.key) for c in result.plan.changes] == ["agent/fraud_agent"]

    fails["beside"] = True
    on_main.clear()
    again = engine.make_plan([manifests], FileStore(registries), jobs=1)
    assert on_main[:2] == [False, True]  # failed beside, read again here
    assert meaning(again.plan) == meaning(result.plan)

    fails["here"] = True
    with pytest.raises(StoreError, match="injected"):
        engine.make_plan([manifests], FileStore(registries), jobs=1)
