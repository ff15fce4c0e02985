"""The list tabs' rows over REST (issue 27): `GET /registries/views/{kind}` answers a page
of rows with the columns an operator reads, searched across every shown field, sorted by a
column and paged, with the total and the matched counts; "used by" is the reverse reference
index's count, "Can run" the access model's verdict, and an entry the runtime skips (L007)
says so. The upstream-shaped lists (`GET /registries/agents`) keep their shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import graph
from reconciler.api import create_app
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.registry_files import read_live_state
from tests.api.inprocess import InProcess
from tests.conftest import FIXTURE_REGISTRIES, copy_tree


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def prepare(registries: Path) -> Path:
    """The example registries with what the list columns must tell apart: fraud_agent on
    the gpt4 profile; idle_agent, which the orchestrator does not list; coverage_agent
    listing a tool governance does not grant it; broken_agent, which the runtime skips
    (a string max_iterations)."""
    def agents(document: Any) -> None:
        by_id = {agent["agent_id"]: agent for agent in document["agents"]}
        by_id["fraud_agent"]["model_profile_id"] = "gpt4"
        explainability = by_id["explainability_agent"]
        document["agents"].append({**explainability, "agent_id": "idle_agent",
                                   "name": "Idle Agent"})
        document["agents"].append({**explainability, "agent_id": "broken_agent",
                                   "name": "Broken Agent", "max_iterations": "five"})

    def governance(document: Any) -> None:
        rule = next(rule for rule in document["policies"]["agent_tool_access"]["rules"]
                    if rule["agent_id"] == "coverage_agent")
        rule["allowed_tools"].remove("coverage_rules")

    edit_json(registries / "agent_registry.json", agents)
    edit_json(registries / "governance_policies.json", governance)
    return registries


class Client(InProcess):
    """The app answering in-process, with its list views at hand."""

    def view(self, kind: str, **query: Any) -> dict[str, Any]:
        answer = self.request("GET", f"/registries/views/{kind}", params=query)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


@pytest.fixture
def registries(tmp_path: Path) -> Path:
    return prepare(copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries"))


@pytest.fixture
def api(registries: Path) -> Iterator[Client]:
    app = create_app(str(registries), watch=False)
    yield Client(app)
    app.state.registry.close()


def ids(answer: dict[str, Any]) -> list[str]:
    return [row["id"] for row in answer["rows"]]


def row_of(answer: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(row for row in answer["rows"] if row["id"] == name)
    return found


def test_each_kind_has_the_columns_an_operator_reads(api: Client) -> None:
    agents = api.view("agents")
    assert [c["key"] for c in agents["columns"]] == [
        "id", "name", "model", "capabilities", "tools", "used_by", "runs"]
    fraud = row_of(agents, "fraud_agent")
    assert (fraud["model_profile_id"], fraud["model_name"]) == ("gpt4", "gpt-4")
    assert fraud["capabilities"] == ["fraud_detection", "risk_scoring", "pattern_analysis",
                                     "anomaly_detection"]
    assert fraud["tools"] == ["fraud_rules", "similarity"]
    tools = api.view("tools")
    similarity = row_of(tools, "similarity")
    assert similarity["endpoint"] == "/invoke/similarity"
    assert similarity["lineage_tags"] == ["pattern_analysis", "historical_data", "heuristic"]
    profiles = api.view("model-profiles")
    gpt4 = row_of(profiles, "gpt4")
    assert (gpt4["provider"], gpt4["model"]) == ("openai", "gpt-4")
    assert gpt4["parameters"]["temperature"] == 0.3
    assert gpt4["parameters_text"].startswith("temperature 0.3 · max_tokens 2000")
    triage = row_of(api.view("workflows"), "claims_triage")
    assert (triage["mode"], triage["agents"], triage["steps"]) == ("advisory", 6, 6)
    # The upstream-shaped list keeps its shape for existing clients.
    listed = api.request("GET", "/registries/agents").json()
    assert set(listed) == {"agents", "total_count", "timestamp"}
    assert listed["total_count"] == 9


def test_search_reads_every_shown_field(api: Client) -> None:
    assert ids(api.view("agents", q="gpt4")) == ["fraud_agent"]  # its model profile
    assert ids(api.view("agents", q="GPT-4")) == ["fraud_agent"]  # the profile's model
    assert ids(api.view("agents", q="similarity")) == ["fraud_agent"]  # a tool it lists
    assert ids(api.view("agents", q="risk_alignment")) == ["recommendation_agent"]
    assert ids(api.view("agents", q="cannot run")) == ["idle_agent"]
    assert ids(api.view("agents", q="denied")) == ["coverage_agent"]
    assert ids(api.view("agents", q="does not load")) == ["broken_agent"]
    assert ids(api.view("tools", q="rule_based")) == ["fraud_rules", "coverage_rules",
                                                      "decision_rules"]
    assert ids(api.view("tools", q="/invoke/similarity")) == ["similarity"]
    assert ids(api.view("model-profiles", q="anthropic max_tokens 4000")) == [
        "claude_sonnet_35", "claude_opus_3"]  # every word, anywhere in the row
    assert ids(api.view("workflows", q="advisory")) == ["claims_triage"]
    found = api.view("agents", q="agent fraud")
    assert (found["matched_count"], found["total_count"]) == (1, 9)
    assert api.view("agents", q="no-such-thing")["rows"] == []


def test_sort_by_a_column_either_way(api: Client) -> None:
    everyone = ids(api.view("agents"))
    assert everyone[:2] == ["orchestrator_agent", "intake_agent"]  # registry order
    assert ids(api.view("agents", sort="id")) == sorted(everyone)
    assert ids(api.view("agents", sort="id", order="desc")) == sorted(everyone, reverse=True)
    assert ids(api.view("agents", sort="model", order="desc"))[0] == "fraud_agent"
    # What needs a look first: the one that does not load, then those that cannot run.
    assert ids(api.view("agents", sort="runs"))[:3] == ["broken_agent", "idle_agent",
                                                        "coverage_agent"]
    used = api.view("model-profiles", sort="used_by", order="desc")
    assert ids(used)[:2] == ["default_gpt35", "gpt4"]
    steps = api.view("tools", sort="lineage_tags")
    assert ids(steps)[0] == "coverage_rules"  # coverage_analysis, rule_based
    refused = api.request("GET", "/registries/views/agents", params={"sort": "colour"})
    assert refused.status_code == 400
    assert "id, name, model" in refused.json()["detail"]


def test_pages_with_the_total_and_matched_counts(api: Client) -> None:
    everyone = ids(api.view("agents", sort="id"))
    page = api.view("agents", sort="id", offset=2, limit=3)
    assert ids(page) == everyone[2:5]
    assert (page["total_count"], page["matched_count"], page["offset"], page["limit"]) == (
        9, 9, 2, 3)
    found = api.view("agents", q="agent", sort="id", offset=8, limit=3)
    assert found["matched_count"] == 9 and ids(found) == everyone[8:]
    assert api.view("agents", offset=50)["rows"] == []
    too_many = api.request("GET", "/registries/views/agents", params={"limit": 501})
    assert too_many.status_code == 422


def test_a_picker_asks_for_ids_found_by_id(api: Client) -> None:
    """What the panel's pickers ask: ids alone (`fields=id`), found by id (`match=id`: a
    tool listed by an agent does not find it), and which of some ids exist (`ids`)."""
    every = ids(api.view("agents"))
    page = api.view("agents", fields="id", match="id", limit=3)
    assert page["rows"] == [{"id": name} for name in every[:3]]
    assert (page["total_count"], page["matched_count"]) == (9, 9)
    assert ids(api.view("agents", q="similarity")) == ["fraud_agent"]  # its tool
    assert api.view("agents", q="similarity", fields="id", match="id")["rows"] == []
    assert ids(api.view("agents", q="fraud", fields="id", match="id")) == ["fraud_agent"]
    asked = api.request("GET", "/registries/views/agents", params=[
        ("fields", "id"), ("match", "id"), ("ids", "nobody_agent"), ("ids", "intake_agent"),
        ("ids", "fraud_agent")])
    assert ids(asked.json()) == ["intake_agent", "fraud_agent"]  # registry order
    # The same through the kind's table (another field asked for, or a sort).
    named = api.view("tools", fields="name", match="id", q="rules", sort="id")
    assert [set(row) for row in named["rows"]] == [{"id", "name"}] * named["matched_count"]
    assert all("rules" in row["id"] for row in named["rows"])


def test_used_by_counts_what_refers_to_each(api: Client, registries: Path) -> None:
    state = read_live_state(registries).state
    mesh = graph.build(state)
    for kind, path in ((Kind.AGENT, "agents"), (Kind.TOOL, "tools"),
                       (Kind.MODEL_PROFILE, "model-profiles"), (Kind.WORKFLOW, "workflows")):
        for row in api.view(path, limit=500)["rows"]:
            users = {edge.source for edge in mesh.incoming(ResourceKey(kind, row["id"]))}
            assert row["used_by"]["count"] == len(users), (path, row["id"])
            assert sum(row["used_by"]["by_kind"].values()) == len(users)
    profiles = api.view("model-profiles")
    assert row_of(profiles, "gpt4")["used_by"]["by_kind"] == {"Agent": 1}
    assert row_of(profiles, "claude_opus_3")["used_by"]["count"] == 0
    # The delete the panel would refuse names as many users.
    refused = api.request("POST", "/registries/changes", json={
        "dry_run": True, "changes": [{"kind": "ModelProfile", "name": "gpt4", "entry": None}]})
    # (A dry run answers what the commit would: refused. Asking is no failed request.)
    assert refused.status_code == 200 and refused.json()["committable"] is False
    assert refused.json()["refusal"]["status"] == 400
    assert "fraud_agent" in refused.json()["refusal"]["detail"]
    assert [u["name"] for u in refused.json()["refusal"]["used_by"]] == ["fraud_agent"]


def test_can_run_is_the_access_models_verdict(api: Client) -> None:
    agents = api.view("agents")
    assert row_of(agents, "fraud_agent")["runs"] == {
        "verdict": "runs", "text": "can run", "reason": "", "denied_tools": []}
    assert row_of(agents, "orchestrator_agent")["runs"]["reason"] == "(the orchestrator)"
    idle = row_of(agents, "idle_agent")["runs"]
    assert (idle["text"], idle["reason"]) == ("cannot run", "not listed by the orchestrator")
    coverage = row_of(agents, "coverage_agent")["runs"]
    assert coverage["text"] == "can run"
    assert [d["tool"] for d in coverage["denied_tools"]] == ["coverage_rules"]
    assert "denies by default" in coverage["denied_tools"][0]["reason"]
    broken = row_of(agents, "broken_agent")
    assert (broken["loads"], broken["runs"]["text"]) == (False, "does not load")
    assert "max_iterations" in broken["load_problem"]
    assert all(row["loads"] for row in agents["rows"] if row["id"] != "broken_agent")


def test_a_write_is_seen_on_the_next_page(api: Client) -> None:
    before = api.view("agents", q="gpt4")
    fraud = api.request("GET", "/registries/agents/fraud_agent").json()
    fraud.pop("resource_version")
    fraud["model_profile_id"] = "claude_opus_3"
    assert api.request("PUT", "/registries/agents/fraud_agent", json=fraud).status_code == 200
    after = api.view("agents", q="gpt4")
    assert ids(before) == ["fraud_agent"] and ids(after) == []
    assert after["revision"] > before["revision"]
    assert row_of(api.view("model-profiles"), "claude_opus_3")["used_by"]["count"] == 1


def test_an_agent_created_without_its_defaulted_fields_loads(api: Client) -> None:
    """A create leaving out the fields the API writes defaults for (as the panel's grant
    does) is served as the store holds it, defaults written: the runtime loads it."""
    created = api.request("POST", "/registries/changes", json={"changes": [{
        "kind": "Agent", "name": "triage_agent", "create": True,
        "entry": {"agent_id": "triage_agent", "name": "Triage", "description": "Sorts",
                  "capabilities": ["triage"], "allowed_tools": [],
                  "model_profile_id": "gpt4", "output_schema": {}}}]})
    assert created.status_code == 200, created.text
    served = api.request("GET", "/registries/agents/triage_agent").json()
    assert (served["max_iterations"], served["iteration_timeout_seconds"]) == (10, 60)
    triage = row_of(api.view("agents", q="triage_agent"), "triage_agent")
    assert triage["loads"] and triage["runs"]["text"] == "cannot run"
