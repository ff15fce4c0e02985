"""`meshctl access check|list` and the REST endpoints over the same model: decisions with
the rule that decides, exit codes 0/1/2, the manifests view and --live, and a batch write
that saves an agent and the governance rule it needs as one revision."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager
from reconciler.access import Verb
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, CliResult, copy_tree
from tests.servers import Server

Run = Callable[..., CliResult]


@pytest.fixture
def mesh(tmp_path: Path) -> tuple[Path, Path]:
    return (copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests"),
            copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries"))


def test_check_says_yes_or_no_and_which_rule_decides(meshctl: Run,
                                                     mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    allowed = meshctl("access", "check", "orchestrator_agent", "invoke", "fraud_agent",
                      "-f", manifests, "--store", registries)
    assert allowed.code == 0
    policy = manifests / "policies" / "agent_invocation_access.yaml"
    assert allowed.out.splitlines()[:2] == [
        "yes: orchestrator_agent may invoke fraud_agent",
        f"  agent_invocation_access rules[0].allowed_agents[2] allows it ({policy}:13)"]
    denied = meshctl("access", "check", "fraud_agent", "use", "policy_snapshot",
                     "-f", manifests, "--store", registries)
    assert denied.code == 1
    assert denied.out.startswith("no: fraud_agent may not use policy_snapshot\n"
                                 "  agent_tool_access rules[2].denied_tools[0] denies it (")
    assert "does not list policy_snapshot in allowed_tools" in denied.out
    default = meshctl("access", "check", "severity_agent", "use", "schema_validator",
                      "-f", manifests, "-o", "json")
    assert default.code == 1
    data = json.loads(default.out)
    assert (data["allowed"], data["basis"], data["rule"], data["asked"]) == (
        False, "default", None, False)
    assert data["reason"] == ("no rule of agent_tool_access for 'severity_agent' names "
                              "'schema_validator', and the runtime denies by default")


def test_check_on_the_live_registries_names_the_registry_file(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    _, registries = mesh
    result = meshctl("access", "check", "fraud_agent", "use", "similarity", "--live",
                     "--store", registries, "-o", "json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["rule"]["file"] == str(registries / "governance_policies.json")
    assert data["rule"]["path"] == "rules[2].allowed_tools[1]"
    assert data["effective"] is True


@pytest.mark.parametrize("args", [
    ("fraud_agnt", "use", "similarity"),
    ("fraud_agent", "use", "similarty"),
    ("orchestrator_agent", "invoke", "fraud_rules"),
])
def test_check_exits_2_on_an_unknown_name(meshctl: Run, mesh: tuple[Path, Path],
                                          args: tuple[str, ...]) -> None:
    manifests, registries = mesh
    result = meshctl("access", "check", *args, "-f", manifests, "--store", registries)
    assert result.code == 2
    assert "Error: no " in result.err


def test_check_exits_2_on_unreadable_manifests(meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    (manifests / "agents" / "fraud_agent.yaml").write_text("spec: [unclosed\n")
    result = meshctl("access", "check", "orchestrator_agent", "invoke", "intake_agent",
                     "-f", manifests, "--store", registries)
    assert result.code == 2
    assert "M001" in result.err


def test_list_marks_what_is_asked_for_and_denied(meshctl: Run, mesh: tuple[Path, Path]) -> None:
    manifests, registries = mesh
    fraud = manifests / "agents" / "fraud_agent.yaml"
    fraud.write_text(fraud.read_text().replace("  - similarity\n",
                                               "  - similarity\n  - policy_snapshot\n"))
    result = meshctl("access", "list", "--as", "fraud_agent", "-f", manifests,
                     "--store", registries, "-o", "json")
    assert result.code == 0
    rows = {(row["object"], row["asked"], row["allowed"])
            for row in json.loads(result.out)["rows"]}
    assert rows == {("fraud_rules", True, True), ("similarity", True, True),
                    ("policy_snapshot", True, False)}
    differs = meshctl("access", "list", "--differs", "-f", manifests, "--store", registries)
    assert differs.code == 0
    marked = [line for line in differs.out.splitlines() if line.startswith("!")]
    assert len(marked) == 1 and "policy_snapshot" in marked[0] and "denied" in marked[0]


def test_the_whole_matrix_of_the_real_registries_matches_the_library(
        meshctl: Run, mesh: tuple[Path, Path]) -> None:
    """Every row `access list --live` gives is what the library (upstream's methods)
    answers, and every agent's every ask is allowed on the real registries."""
    _, registries = mesh
    rows = json.loads(meshctl("access", "list", "--live", "--store", registries,
                              "-o", "json").out)["rows"]
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    for row in rows:
        ask = (manager.is_agent_invocation_allowed if row["verb"] == "invoke"
               else manager.is_tool_access_allowed)
        assert ask(row["subject"], row["object"]) is row["allowed"], row
        assert not row["asked"] or row["allowed"], row
    assert sum(1 for row in rows if row["asked"]) == 12  # 6 tools asked, 6 agents invoked
    manager.close()


def fraud_agent_entry(registries: Path, tools: list[str]) -> dict[str, Any]:
    agents = json.loads((registries / "agent_registry.json").read_text())["agents"]
    entry: dict[str, Any] = next(a for a in agents if a["agent_id"] == "fraud_agent")
    return {**entry, "allowed_tools": tools}


def test_rest_answers_the_same_model_and_saves_an_agent_with_its_grant(
        registries: Path) -> None:
    governance = json.loads((registries / "governance_policies.json").read_text())
    tool_policy = governance["policies"]["agent_tool_access"]
    fraud_rule = tool_policy["rules"][2]
    fraud_rule["allowed_tools"].append("policy_snapshot")
    fraud_rule["denied_tools"].remove("policy_snapshot")
    server = Server(registries)
    try:
        with server.client() as api:
            check = api.get("/registries/access/check", params={
                "subject": "fraud_agent", "verb": "use", "object": "policy_snapshot"})
            assert check.status_code == 200
            assert (check.json()["allowed"], check.json()["basis"]) == (False, "denied")
            assert api.get("/registries/access/check", params={
                "subject": "fraud_agent", "verb": "use",
                "object": "nope"}).status_code == 404
            matrix = api.get("/registries/access", params={"as": "fraud_agent"}).json()
            assert {row["object"] for row in matrix["rows"]} == {"fraud_rules", "similarity"}
            # The agent alone is refused (A003); with its grant, one plan, one revision.
            alone = api.put("/registries/agents/fraud_agent", json=fraud_agent_entry(
                registries, ["fraud_rules", "similarity", "policy_snapshot"]))
            assert alone.status_code == 400 and "A003" not in alone.json()["detail"]
            assert "denies it" in alone.json()["detail"]
            # the field it is about, for a form to mark: the rule's code is its type
            assert [(e["type"], e["loc"]) for e in alone.json()["errors"]] == [
                ("A003", ["body", "allowed_tools", 2])]
            before = api.get("/registries/history").json()["total_count"]
            body = {"changes": [
                {"kind": "Agent", "name": "fraud_agent", "entry": fraud_agent_entry(
                    registries, ["fraud_rules", "similarity", "policy_snapshot"])},
                {"kind": "GovernancePolicy", "name": "agent_tool_access",
                 "entry": tool_policy}]}
            preview = api.post("/registries/changes", json={**body, "dry_run": True})
            assert preview.status_code == 200, preview.text
            assert preview.json()["committed"] is False
            assert [(c["subject"], c["object"], c["widens"]) for c in
                    preview.json()["plan"]["access_changes"]] == [
                ("fraud_agent", "policy_snapshot", True)]
            assert api.get("/registries/history").json()["total_count"] == before
            saved = api.post("/registries/changes", json=body)
            assert saved.status_code == 200, saved.text
            history = api.get("/registries/history").json()
            assert history["total_count"] == before + 1
            newest = api.get(f"/registries/history/{saved.json()['revision']}").json()
            assert {(c["kind"], c["name"]) for c in newest["changes"]} == {
                ("Agent", "fraud_agent"), ("GovernancePolicy", "agent_tool_access")}
            after = api.get("/registries/access/check", params={
                "subject": "fraud_agent", "verb": Verb.USE.value,
                "object": "policy_snapshot"}).json()
            assert (after["allowed"], after["effective"]) == (True, True)
    finally:
        server.stop()


def test_a_batch_item_marked_create_never_replaces_an_existing_entry(registries: Path) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    server = Server(registries)
    try:
        with server.client() as api:
            entry = fraud_agent_entry(registries, ["fraud_rules"])
            answer = api.post("/registries/changes", json={"changes": [
                {"kind": "agents", "name": "fraud_agent", "entry": entry, "create": True}]})
            assert answer.status_code == 400, answer.text
            assert "already exists" in answer.json()["detail"]
            unknown = api.post("/registries/changes", json={"changes": [
                {"kind": "gadgets", "name": "x", "entry": {}}]})
            assert unknown.status_code == 400 and "unknown kind" in unknown.json()["detail"]
    finally:
        server.stop()
    assert (registries / "agent_registry.json").read_bytes() == before


def test_serve_with_deny_access_widening_answers_409_to_a_grant(registries: Path) -> None:
    governance = json.loads((registries / "governance_policies.json").read_text())
    tool_policy = governance["policies"]["agent_tool_access"]
    tool_policy["rules"][2]["allowed_tools"].append("schema_validator")
    before = (registries / "governance_policies.json").read_bytes()
    server = Server(registries, "--deny-access-widening")
    try:
        with server.client() as api:
            answer = api.post("/registries/changes", json={"changes": [
                {"kind": "GovernancePolicy", "name": "agent_tool_access",
                 "entry": tool_policy}]})
    finally:
        server.stop()
    assert answer.status_code == 409, answer.text
    assert "fraud_agent may now use schema_validator" in answer.json()["detail"]
    assert (registries / "governance_policies.json").read_bytes() == before
