"""What a plan says about access: the A rules with both file:lines, the access changes of
edits to governance, to an agent's tools and to the orchestrator (text, markdown, JSON),
and `--deny-access-widening`. Through the real CLI, on a copy of the example manifests and
registries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURE_MANIFESTS,
    FIXTURE_REGISTRIES,
    CliResult,
    agent,
    copy_tree,
    line_of,
    write,
)

Run = Callable[..., CliResult]


@pytest.fixture
def mesh(tmp_path: Path) -> tuple[Path, Path]:
    return (copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests"),
            copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_fraud_rule(manifests: Path, old: str, new: str) -> None:
    """Replace the first `old` in fraud_agent's rule of agent_tool_access (its manifest)."""
    policy = manifests / "policies" / "agent_tool_access.yaml"
    text = policy.read_text()
    start = text.index(old, text.index("- agent_id: fraud_agent"))
    policy.write_text(text[:start] + new + text[start + len(old):])


def line_after(path: Path, anchor: str, needle: str) -> int:
    """The line of the first `needle` after the line holding `anchor`."""
    lines = path.read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if anchor in line)
    return next(n for n, line in enumerate(lines) if n > start and needle in line) + 1


def plan_json(meshctl: Run, manifests: Path, registries: Path, *flags: str) -> CliResult:
    return meshctl("plan", manifests, "--store", registries, "-o", "json", *flags)


def test_a_tool_governance_denies_is_an_error_naming_both_places(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    fraud = manifests / "agents" / "fraud_agent.yaml"
    edit(fraud, "  - similarity\n", "  - similarity\n  - policy_snapshot\n")
    result = meshctl("plan", manifests, "--store", registries)
    assert result.code == 1
    policy = manifests / "policies" / "agent_tool_access.yaml"
    rule_line = line_after(policy, "agent_id: fraud_agent", "policy_snapshot")
    assert (f"{fraud}:{line_of(fraud, 'policy_snapshot')}: error A003 agent/fraud_agent"
            in result.err)
    assert f"agent_tool_access rules[2].denied_tools[0] denies it ({policy}:{rule_line})" \
        in result.err
    assert "No plan" in result.err


def test_narrowing_an_agents_tools_is_listed_with_its_reason(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    edit(manifests / "agents" / "fraud_agent.yaml", "  - similarity\n", "")
    result = plan_json(meshctl, manifests, registries)
    assert result.code == 0, result.err
    changes = json.loads(result.out)["access_changes"]
    assert changes == [{
        "subject": "fraud_agent", "verb": "use", "object": "similarity", "widens": False,
        "asked": False, "granted": True, "allowed": False,
        "reason": "'fraud_agent' no longer lists it in allowed_tools; governance still "
                  "allows it",
        "rule": {"file": str(manifests / "policies" / "agent_tool_access.yaml"),
                 "line": line_after(manifests / "policies" / "agent_tool_access.yaml",
                                    "agent_id: fraud_agent", "similarity")},
        "cause": {"kind": "Agent", "name": "fraud_agent"}}]
    text = meshctl("plan", manifests, "--store", registries)
    assert "Access changes (what agents may do at runtime):" in text.out
    assert "  - fraud_agent may no longer use similarity: 'fraud_agent' no longer lists" \
        in text.out
    assert "Access: 0 widened, 1 narrowed." in text.out
    # Narrowing passes the protected branch's guard.
    assert plan_json(meshctl, manifests, registries, "--deny-access-widening").code == 0


def new_agent_the_orchestrator_invokes(manifests: Path) -> None:
    write(manifests / "agents" / "history_agent.yaml", agent("history_agent"))
    edit(manifests / "agents" / "orchestrator_agent.yaml", "  - explainability_agent\n",
         "  - explainability_agent\n  - history_agent\n")


def test_a_new_agent_needs_the_orchestrators_grant(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    new_agent_the_orchestrator_invokes(manifests)
    refused = meshctl("plan", manifests, "--store", registries)
    assert refused.code == 1
    orchestrator = manifests / "agents" / "orchestrator_agent.yaml"
    assert (f"{orchestrator}:{line_of(orchestrator, 'history_agent')}: error A001 "
            "agent/orchestrator_agent: the orchestrator lists agent 'history_agent' in "
            "allowed_agents, but governance will not let it invoke it: no rule of "
            "agent_invocation_access for 'orchestrator_agent' names 'history_agent', and the "
            "runtime denies by default") in refused.err
    policy = manifests / "policies" / "agent_invocation_access.yaml"
    edit(policy, "    - explainability_agent\n",
         "    - explainability_agent\n    - history_agent\n")
    result = plan_json(meshctl, manifests, registries)
    assert result.code == 0, result.err
    [change] = json.loads(result.out)["access_changes"]
    assert change["subject"] == "orchestrator_agent" and change["verb"] == "invoke"
    assert change["object"] == "history_agent" and change["widens"] is True
    assert change["reason"] == "agent_invocation_access rules[0].allowed_agents[6] allows it"
    assert change["rule"] == {"file": str(policy), "line": line_of(policy, "history_agent")}
    markdown = meshctl("plan", manifests, "--store", registries, "-o", "markdown")
    assert "#### Access changes (1)" in markdown.out
    assert ("- `+` orchestrator_agent may now invoke history_agent: agent_invocation_access "
            "rules[0].allowed_agents[6] allows it") in markdown.out
    guarded = meshctl("plan", manifests, "--store", registries, "--deny-access-widening")
    assert guarded.code == 1
    assert ("widens access, refused by --deny-access-widening: orchestrator_agent may now "
            "invoke history_agent") in guarded.out
    applied = meshctl("apply", manifests, "--store", registries, "--auto-approve",
                      "--deny-access-widening")
    assert applied.code == 1
    assert "history_agent" not in (registries / "agent_registry.json").read_text()


def test_a_governance_grant_nobody_asks_for_yet_is_listed(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    edit_fraud_rule(manifests, "    - similarity\n",
                    "    - similarity\n    - schema_validator\n")
    result = plan_json(meshctl, manifests, registries)
    assert result.code == 0, result.err
    [change] = json.loads(result.out)["access_changes"]
    assert (change["subject"], change["object"], change["widens"], change["asked"],
            change["granted"]) == ("fraud_agent", "schema_validator", True, False, True)
    assert change["cause"] == {"kind": "GovernancePolicy", "name": "agent_tool_access"}
    text_plan = meshctl("plan", manifests, "--store", registries)
    assert ("+ fraud_agent may now use schema_validator (granted; fraud_agent does not ask "
            "for it)") in text_plan.out
    guarded = meshctl("plan", manifests, "--store", registries, "--deny-access-widening")
    assert guarded.code == 1
    assert "! governance-policy/agent_tool_access widens access" in guarded.out


def test_revoking_a_grant_an_agent_still_asks_for_is_refused(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    edit_fraud_rule(manifests, "    - similarity\n", "")
    result = meshctl("plan", manifests, "--store", registries)
    assert result.code == 1
    assert "error A003 agent/fraud_agent: agent 'fraud_agent' lists tool 'similarity'" \
        in result.err
    assert "no rule of agent_tool_access for 'fraud_agent' names 'similarity'" in result.err
    # Dropping the ask too makes it a narrowing the plan lists.
    edit(manifests / "agents" / "fraud_agent.yaml", "  - similarity\n", "")
    changes = json.loads(plan_json(meshctl, manifests, registries).out)["access_changes"]
    assert [(c["subject"], c["object"], c["widens"], c["granted"]) for c in changes] == [
        ("fraud_agent", "similarity", False, False)]
