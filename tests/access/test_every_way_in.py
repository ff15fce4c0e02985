"""The access rules hold on every way in and every store: the library on the file store and
on PostgreSQL (a write asking for a tool governance denies is refused, nothing written; the
same write with its grant, as one change, is one revision the library then allows), the
watch loop (a manifest edit that asks for a denied tool fails the sync, live untouched),
and `--deny-access-widening` through the library and the watch loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import AccessWidening, ChangeRejected, EntryChange, RegistryManager
from reconciler.access import Verb
from reconciler.model.kinds import Kind
from reconciler.store import Store
from reconciler.watch.controller import Controller, Event, EventKind, SyncResult
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, copy_tree


@pytest.fixture(params=["files", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "files":
        return copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    pg: Store = request.getfixturevalue("pg_store")
    return pg


def with_tool(manager: RegistryManager, tool: str) -> dict[str, Any]:
    entry = manager.entry(Kind.AGENT, "fraud_agent")
    assert entry is not None
    return {**entry, "allowed_tools": [*entry["allowed_tools"], tool]}


def granting(manager: RegistryManager, tool: str) -> dict[str, Any]:
    policy = manager.entry(Kind.GOVERNANCE_POLICY, "agent_tool_access")
    assert policy is not None
    rule = policy["rules"][2]
    assert rule["agent_id"] == "fraud_agent"
    rule["allowed_tools"] = [*rule["allowed_tools"], tool]
    rule["denied_tools"] = [name for name in rule["denied_tools"] if name != tool]
    return policy


def test_the_library_refuses_a_denied_tool_and_saves_it_with_its_grant(store: Any) -> None:
    with RegistryManager(store=store, watch=False) as manager:
        manager.load_all()
        revision = manager.stats()["revision"]
        with pytest.raises(ChangeRejected) as refused:
            manager.update_agent("fraud_agent", with_tool(manager, "policy_snapshot"))
        assert ("lists tool 'policy_snapshot' in allowed_tools, but governance will not let "
                "it use it: agent_tool_access rules[2].denied_tools[0] denies it"
                in str(refused.value))
        assert [d.code for d in refused.value.diagnostics] == ["A003"]
        assert manager.stats()["revision"] == revision
        assert not manager.is_tool_access_allowed("fraud_agent", "policy_snapshot")
        plan = manager.change([
            EntryChange(Kind.AGENT, "fraud_agent", with_tool(manager, "policy_snapshot")),
            EntryChange(Kind.GOVERNANCE_POLICY, "agent_tool_access",
                        granting(manager, "policy_snapshot"))])
        assert [(c.subject, c.object, c.widens) for c in plan.access_changes] == [
            ("fraud_agent", "policy_snapshot", True)]
        assert manager.stats()["revision"] == revision + 1
        assert manager.is_tool_access_allowed("fraud_agent", "policy_snapshot")
        decision = manager.access_decision("fraud_agent", Verb.USE, "policy_snapshot")
        assert decision.rule is not None and decision.rule.path == "rules[2].allowed_tools[2]"


def test_the_library_with_deny_access_widening_refuses_a_grant(tmp_path: Path) -> None:
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    before = (registries / "governance_policies.json").read_bytes()
    with RegistryManager(registries, watch=False, deny_access_widening=True) as manager:
        manager.load_all()
        with pytest.raises(AccessWidening, match="fraud_agent may now use schema_validator"):
            manager.change([EntryChange(Kind.GOVERNANCE_POLICY, "agent_tool_access",
                                        granting(manager, "schema_validator"))])
        narrower = with_tool(manager, "x")
        narrower["allowed_tools"] = ["fraud_rules"]
        manager.update_agent("fraud_agent", narrower)  # narrowing passes the guard
    assert (registries / "governance_policies.json").read_bytes() == before


def sync_after(tmp_path: Path, relative: str, edit: tuple[str, str],
               **options: Any) -> tuple[Any, Path]:
    """One watch sync after `edit` (old, new) of the example manifest at `relative`."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    manager = RegistryManager(registries, watch=False, source="watch")
    controller = Controller([str(manifests)], registries, manager=manager, interval=1e9,
                            watch_files=False, **options)
    controller._start()
    try:
        assert controller.last_report is not None
        assert controller.last_report.result is SyncResult.IN_SYNC
        path = manifests / relative
        text = path.read_text()
        assert edit[0] in text
        path.write_text(text.replace(edit[0], edit[1], 1))
        controller._handle([Event(EventKind.FILE, str(path))])
        report = controller.last_report
    finally:
        controller._finish()
        manager.close()
    return report, registries


FRAUD = "agents/fraud_agent.yaml"
TOOL_POLICY = "policies/agent_tool_access.yaml"
FRAUD_GRANTS = ("  - agent_id: fraud_agent\n    allowed_tools:\n",
                "  - agent_id: fraud_agent\n    allowed_tools:\n    - schema_validator\n")


def test_the_watch_loop_keeps_live_when_a_manifest_asks_for_a_denied_tool(
        tmp_path: Path) -> None:
    before = (FIXTURE_REGISTRIES / "agent_registry.json").read_bytes()
    report, registries = sync_after(tmp_path, FRAUD, (
        "  - similarity\n", "  - similarity\n  - policy_snapshot\n"))
    assert report.result is SyncResult.FAILED
    assert [error["code"] for error in report.errors] == ["A003"]
    assert report.errors[0]["file"].endswith(FRAUD)
    assert (registries / "agent_registry.json").read_bytes() == before


def test_the_watch_loop_with_deny_access_widening_refuses_a_grant(tmp_path: Path) -> None:
    before = (FIXTURE_REGISTRIES / "governance_policies.json").read_bytes()
    report, registries = sync_after(tmp_path, TOOL_POLICY, FRAUD_GRANTS,
                                    deny_access_widening=True)
    assert report.result is SyncResult.REFUSED, report.message
    assert "fraud_agent may now use schema_validator" in json.dumps(report.errors)
    assert (registries / "governance_policies.json").read_bytes() == before
    granted, _ = sync_after(tmp_path / "unguarded", TOOL_POLICY, FRAUD_GRANTS)
    assert granted.result is SyncResult.SYNCED, granted.message


def test_the_watch_loop_with_deny_access_widening_lets_a_narrowing_through(
        tmp_path: Path) -> None:
    report, registries = sync_after(tmp_path, FRAUD, ("  - similarity\n", ""),
                                    deny_access_widening=True)
    assert report.result is SyncResult.SYNCED, report.message
    agents = json.loads((registries / "agent_registry.json").read_text())["agents"]
    fraud = next(a for a in agents if a["agent_id"] == "fraud_agent")
    assert fraud["allowed_tools"] == ["fraud_rules"]
