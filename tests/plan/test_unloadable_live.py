"""A live entry the runtime would skip (L007) is reported wherever registries are read, and
applying its manifest repairs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.library import RegistryManager
from tests.plan.conftest import REGISTRIES, change_of, edit_registry, make_plan
from tests.servers import Server
from tests.test_runtime_fidelity import runtime_load

FILE = REGISTRIES / "agent_registry.json"


def damage_fraud_agent(data: dict[str, Any]) -> None:
    """What a hand edit or an older tool leaves: a required field gone, one mistyped."""
    entry = next(e for e in data["agents"] if e["agent_id"] == "fraud_agent")
    del entry["output_schema"]
    entry["max_iterations"] = "many"


def test_plan_warns_and_apply_repairs(ws: Path, meshctl: Any) -> None:
    edit_registry("agent_registry.json", damage_fraud_agent)
    assert any("fraud_agent" in line for line in runtime_load(REGISTRIES)[1])
    result = make_plan()
    assert result.plan is not None
    [warning] = [d for d in result.diagnostics if d.code == "L007"]
    assert warning.resource == "agent/fraud_agent"
    assert warning.file is not None and Path(warning.file).resolve() == FILE.resolve()
    assert "'max_iterations' is not an integer; 'output_schema' is missing" in warning.message
    assert "not loaded by the AgentMesh runtime" in warning.message
    change = change_of(result.plan, "agent/fraud_agent")
    assert {f.path for f in change.fields} == {"max_iterations", "output_schema"}
    applied = meshctl("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert "L007" in applied.out + applied.err
    loaded, skipped = runtime_load(REGISTRIES)
    assert skipped == [] and loaded["agent_registry.json"] == 7
    assert [d for d in make_plan().diagnostics if d.code == "L007"] == []


def test_get_and_describe_warn_on_stderr(ws: Path, meshctl: Any) -> None:
    edit_registry("agent_registry.json", damage_fraud_agent)
    listed = meshctl("get", "agents")
    assert listed.code == 0 and "fraud_agent" in listed.out
    assert "warning L007 agent/fraud_agent" in listed.err
    assert meshctl("get", "agents", "intake_agent").err == ""  # only the ones shown
    described = meshctl("describe", "agent", "fraud_agent", "-o", "json")
    assert described.code == 0
    assert json.loads(described.out)["runtime_skips"] == [
        "'max_iterations' is not an integer", "'output_schema' is missing"]
    assert "L007" in described.err


def test_the_library_reports_them_in_stats_and_does_not_serve_them(ws: Path) -> None:
    edit_registry("agent_registry.json", damage_fraud_agent)
    with RegistryManager(REGISTRIES, watch=False) as registry:
        registry.load_all()
        [found] = registry.stats()["unloadable"]
        assert found["resource"] == "agent/fraud_agent"
        assert "'output_schema' is missing" in found["message"]
        assert registry.get_agent("fraud_agent") is None  # as upstream: skipped
        assert registry.get_agent("intake_agent") is not None
        assert registry.get_agent("intake_agent").output_schema  # never None when loaded


def test_serve_logs_them_at_start_and_lists_them_in_stats(ws: Path) -> None:
    edit_registry("agent_registry.json", damage_fraud_agent)
    server = Server(REGISTRIES.absolute())
    try:
        with server.client() as api:
            [found] = api.get("/registries/stats").json()["unloadable"]
            assert found["resource"] == "agent/fraud_agent"
            assert api.get("/registries/agents/fraud_agent").status_code == 200  # kept
    finally:
        log = server.stop()
    assert "agent 'fraud_agent' is not loaded by the AgentMesh runtime" in log
