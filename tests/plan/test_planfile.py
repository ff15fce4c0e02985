"""`plan.planfile`: a saved plan reads back as the same plan, and byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from reconciler.errors import PlanFormatError
from reconciler.plan import planfile
from reconciler.plan.model import FORMAT_VERSION, Plan
from tests.conftest import agent, line_of, write
from tests.grants import TOOL_ACCESS, grant_in_manifests
from tests.plan.conftest import MANIFESTS, docs, edit, the_plan, tool


@pytest.fixture
def rich_plan(ws: Path) -> Plan:
    """A plan with every action, a refusal, field changes of each op, impact and a warning."""
    write(MANIFESTS / "new.yaml", docs(tool("new_tool"),
                                       agent("new_agent", "surprise_field: 1\n")))
    fraud = MANIFESTS / "agents" / "fraud_agent.yaml"
    edit(fraud, "max_iterations: 5", "max_iterations: 7")
    edit(fraud, "  - similarity\n", "  - similarity\n  - new_tool\n")
    edit(fraud, "  - anomaly_detection\n", "")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS, "fraud_agent", "new_tool")  # as the runtime needs
    edit(MANIFESTS / "model-profiles" / "gpt4.yaml", "top_p: 1.0", "top_p: 0.5")
    (MANIFESTS / "model-profiles" / "gpt4_turbo.yaml").unlink()
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    plan = the_plan()
    assert {c.action.value for c in plan.changes} == {"create", "update", "delete", "noop"}
    assert plan.refusals and plan.warnings
    return plan


def test_save_then_load_gives_an_equal_plan_and_identical_bytes(rich_plan: Plan,
                                                                tmp_path: Path) -> None:
    first = tmp_path / "plan.json"
    planfile.save(rich_plan, first)
    loaded = planfile.load(first)
    assert loaded == rich_plan
    assert loaded.summary == rich_plan.summary
    second = tmp_path / "again.json"
    planfile.save(loaded, second)
    assert second.read_bytes() == first.read_bytes()
    assert planfile.dumps(loaded) == planfile.dumps(rich_plan)


def test_the_json_form(rich_plan: Plan) -> None:
    data = json.loads(planfile.dumps(rich_plan))
    assert data["format_version"] == FORMAT_VERSION == 1
    assert data["live_fingerprint"] == rich_plan.live_fingerprint
    assert data["prune"] is True
    s = rich_plan.summary
    assert data["summary"] == {"create": s.create, "update": s.update, "delete": s.delete,
                               "noop": s.noop, "refused": s.refused, "impacted": s.impacted,
                               "has_changes": True}
    assert data["summary"]["refused"] == 1
    by_name = {(c["kind"], c["name"]): c for c in data["changes"]}
    noop = by_name[("Agent", "intake_agent")]
    assert noop == {"kind": "Agent", "name": "intake_agent", "action": "noop",
                    "source": {"file": "manifests/agents/intake_agent.yaml", "line": 1}}
    update = by_name[("Agent", "fraud_agent")]
    assert update["action"] == "update"
    assert {"path": "max_iterations", "op": "change", "old": 5, "new": 7} in update["fields"]
    assert {"path": "allowed_tools[2]", "op": "add", "old": None, "new": "new_tool"} in (
        update["fields"])
    assert update["before"]["max_iterations"] == 5 and update["after"]["max_iterations"] == 7
    assert {"kind": "Agent", "name": "orchestrator_agent"} in update["impact"]
    refused = by_name[("Tool", "fraud_rules")]
    assert refused["refused"].startswith("Cannot delete tool 'fraud_rules': used by agents ")
    assert refused["after"] is None and refused["before"]["tool_id"] == "fraud_rules"
    assert refused["users"][0] == {
        "kind": "Agent", "name": "fraud_agent", "path": "allowed_tools[0]",
        "location": {"file": "manifests/agents/fraud_agent.yaml",
                     "line": line_of(MANIFESTS / "agents" / "fraud_agent.yaml", "- fraud_rules")}}
    assert by_name[("ModelProfile", "gpt4")]["fields"] == [
        {"path": "parameters.top_p", "op": "change", "old": 1.0, "new": 0.5}]
    assert [w["code"] for w in data["warnings"]] == ["S006", "H003", "H003"]
    # Where the plan came from; the workspace is not a git work tree, so no commit.
    assert data["meta"] == {"registries": "registries", "manifests": ["manifests"],
                            "git_commit": None}


def test_a_float_stays_a_float_and_an_integer_an_integer(rich_plan: Plan) -> None:
    loaded = planfile.loads(planfile.dumps(rich_plan))
    gpt4 = next(c for c in loaded.changes if c.key.name == "gpt4")
    assert type(gpt4.fields[0].old) is float
    fraud = next(c for c in loaded.changes if c.key.name == "fraud_agent")
    assert [type(f.old) for f in fraud.fields if f.path == "max_iterations"] == [int]


def test_another_format_version_is_refused_saying_why(rich_plan: Plan) -> None:
    data = planfile.to_dict(rich_plan)
    data["format_version"] = 2
    with pytest.raises(PlanFormatError) as error:
        planfile.from_dict(data)
    message = str(error.value)
    assert "format_version 2 is not supported" in message
    assert "reads version 1" in message and "meshctl plan --out" in message


@pytest.mark.parametrize(("content", "reason"), [
    (b"{ nope", "plan file is not JSON"),
    (b"[]", "not a meshctl plan: no format_version"),
    (b'{"changes": []}', "not a meshctl plan: no format_version"),
    (b'{"format_version": "1", "live_fingerprint": "x", "changes": []}',
     "format_version '1' is not supported"),
    (b'{"format_version": 1, "changes": []}', "damaged plan file"),
    (b'{"format_version": 1, "live_fingerprint": "x", "changes": [{"kind": "Robot", '
     b'"name": "r", "action": "create"}]}', "damaged plan file"),
    (b'{"format_version": 1, "live_fingerprint": "x", "changes": [{"kind": "Tool", '
     b'"name": "t", "action": "explode"}]}', "damaged plan file"),
])
def test_damaged_plan_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanFormatError, match=reason):
        planfile.load(path)


def test_a_missing_plan_file_is_a_plan_format_error(tmp_path: Path) -> None:
    with pytest.raises(PlanFormatError, match="cannot read plan file"):
        planfile.load(tmp_path / "absent.json")


def test_an_empty_plan_round_trips(ws: Path) -> None:
    plan = the_plan()
    assert planfile.loads(planfile.dumps(plan)) == plan
    minimal = Plan("fp", ())
    assert planfile.loads(planfile.dumps(minimal)) == minimal
    assert orjson.loads(planfile.dumps(minimal))["summary"]["has_changes"] is False
