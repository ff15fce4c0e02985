"""Mesh-wide rules: exactly one orchestrator (O001, M010) and agent invocation cycles (G001)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler import engine, graph
from reconciler.errors import Severity
from reconciler.model.resource import MeshState
from reconciler.validate import mesh as mesh_rules
from tests.conftest import (
    FIXTURE_REGISTRIES,
    agent,
    by_code,
    line_of,
    load,
    manifest,
    only,
    write,
)

Case = Callable[[str], tuple[Path, engine.DesiredState]]


def test_one_orchestrator_passes(case: Case) -> None:
    _, desired = case("")
    assert by_code(desired.diagnostics, "O001") == []
    live = engine.load_live(FIXTURE_REGISTRIES)
    assert mesh_rules.check_orchestrator(live.state) == []


def test_a_mesh_without_an_orchestrator_is_o001(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", manifest("ModelProfile", "p", "name: P\nprovider: openai\n"
                                        "model_name: m\ndescription: d\nintended_usage: u")
          + "---\n" + agent("worker", model="p"))
    desired = load(tmp_path)
    diagnostic = only(desired.diagnostics, "O001")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.resource == "agent/orchestrator_agent"
    assert "no agent 'orchestrator_agent'" in diagnostic.message
    assert diagnostic.hint is not None and "declare an Agent named" in diagnostic.hint
    assert [d.code for d in desired.diagnostics] == ["O001"]


def test_an_empty_mesh_has_no_orchestrator() -> None:
    assert [d.code for d in mesh_rules.check_orchestrator(MeshState())] == ["O001"]


def test_an_orchestrator_defined_twice_is_m010_naming_both_places(mesh: Path) -> None:
    second = write(mesh / "team" / "orchestrator.yaml",
                   "# a second orchestrator\n" + agent("orchestrator_agent"))
    desired = load(mesh)
    diagnostic = only(desired.diagnostics, "M010")
    assert diagnostic.severity is Severity.ERROR
    assert (diagnostic.file, diagnostic.line) == (
        str(second), line_of(second, "name: orchestrator_agent"))
    first = mesh / "base.yaml"
    assert f"{first}:{line_of(first, 'name: orchestrator_agent')}" in diagnostic.message
    assert "agent 'orchestrator_agent' is defined twice" in diagnostic.message
    assert by_code(desired.diagnostics, "O001") == []


def test_agents_invoking_each_other_in_a_cycle_is_a_g001_warning(case: Case) -> None:
    path, desired = case(agent("x", "allowed_agents: [y]") + "---\n"
                         + agent("y", "allowed_agents: [x]"))
    diagnostic = only(desired.diagnostics, "G001")
    assert diagnostic.severity is Severity.WARNING
    assert diagnostic.resource == "agent/x"
    assert (diagnostic.file, diagnostic.line) == (str(path), line_of(path, "allowed_agents: [y]"))
    assert "agents invoke each other in a cycle: x -> y -> x" in diagnostic.message
    assert desired.errors == []


def test_an_agent_invoking_itself_is_g001(case: Case) -> None:
    _, desired = case(agent("solo", "allowed_agents: [solo]"))
    assert "solo -> solo" in only(desired.diagnostics, "G001").message


def test_a_chain_without_a_loop_is_not_g001(case: Case) -> None:
    _, desired = case(agent("x", "allowed_agents: [y]") + "---\n"
                      + agent("y", "allowed_agents: [fraud_agent]"))
    assert desired.diagnostics == []
    state = desired.state
    assert mesh_rules.check_cycles(state, graph.build(state)) == []
