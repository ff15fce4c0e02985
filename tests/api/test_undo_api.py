"""Restore and revert over the REST API (issue 27): each previewed as a plan first
(`GET /registries/{restore,revert}/N/plan`, with a token), committed with that token in
If-Match (412 when the registries moved on, nothing written), a revert refused with 409
naming the resource and the later revision; and `/registries/plan` and
`/registries/watch/status` answer 200 `"configured": false` on a server without manifests
or a watch controller. In-process (the app itself), on the file store and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import create_app, mesh_routes
from tests.api.inprocess import InProcess, served
from tests.conftest import FIXTURE_REGISTRIES, copy_tree


@pytest.fixture(params=["file", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcess]:
    yield from served(request, tmp_path, FIXTURE_REGISTRIES)




def put_agent(api: InProcess, name: str, **fields: Any) -> int:
    answer = api.put(f"/registries/agents/{name}",
                     json={**api.entry(f"/registries/agents/{name}"), **fields})
    assert answer.status_code == 200, answer.text
    head: int = api.get("/health").json()["revision"]
    return head


def four(api: InProcess) -> list[int]:
    """Four revisions through the API: fraud, severity, fraud's other field, coverage."""
    return [put_agent(api, "fraud_agent", description="r-a"),
            put_agent(api, "severity_agent", max_iterations=8),
            put_agent(api, "explainability_agent", max_iterations=7),
            put_agent(api, "coverage_agent", description="r-d")]


def test_a_revert_is_planned_then_committed_with_its_token(api: InProcess) -> None:
    _, b, _, d = four(api)
    planned = api.get(f"/registries/revert/{b}/plan")
    assert planned.status_code == 200, planned.text
    shown = planned.json()
    assert planned.headers["ETag"] == f'"{shown["token"]}"'
    assert (shown["action"], shown["revision"], shown["committable"]) == ("revert", b, True)
    [change] = shown["changes"]
    assert (change["kind"], change["name"], change["action"]) == (
        "Agent", "severity_agent", "update")
    assert change["fields"] == ["max_iterations"]
    assert '-  "max_iterations": 8,' in change["diff"]
    assert api.get("/health").json()["revision"] == d  # a plan writes nothing
    done = api.post(f"/registries/revert/{b}", headers={"If-Match": f'"{shown["token"]}"'})
    assert done.status_code == 200, done.text
    assert done.json()["applied"] is True and done.json()["revision"] == d + 1
    assert api.entry("/registries/agents/severity_agent")["max_iterations"] != 8
    assert api.entry("/registries/agents/fraud_agent")["description"] == "r-a"  # kept
    assert api.entry("/registries/agents/explainability_agent")["max_iterations"] == 7
    listed = api.get("/registries/history").json()["revisions"][-1]
    assert listed["undo"] == {"action": "revert", "revision": b}
    assert listed["note"] == f"revert of revision {b}" and listed["source"] == "api"
    # The change feed's event of that revision says what it undid too.
    record = api.get(f"/registries/history/{d + 1}").json()
    assert mesh_routes._event(record)["undo"] == {"action": "revert", "revision": b}
    assert "undo" not in mesh_routes._event(api.get(f"/registries/history/{b}").json())


def test_a_plan_gone_stale_is_412_and_writes_nothing(api: InProcess) -> None:
    _, b, _, _ = four(api)
    token = api.get(f"/registries/revert/{b}/plan").json()["token"]
    head = put_agent(api, "fraud_agent", description="meanwhile")
    stale = api.post(f"/registries/revert/{b}", headers={"If-Match": f'"{token}"'})
    assert stale.status_code == 412, stale.text
    assert "changed since that plan was made" in stale.json()["detail"]
    assert stale.json()["current_version"] != token
    assert api.get("/health").json()["revision"] == head
    assert api.entry("/registries/agents/severity_agent")["max_iterations"] == 8


def test_a_conflicting_revert_has_no_plan_and_is_409_naming_the_resource_and_revision(
        api: InProcess) -> None:
    a, _, _, _ = four(api)
    again = put_agent(api, "fraud_agent", description="r-e")
    planned = api.get(f"/registries/revert/{a}/plan")  # the answer: no plan, and why
    assert planned.status_code == 200, planned.text
    assert (planned.json()["committable"], planned.json()["changes"]) == (False, [])
    refused = api.post(f"/registries/revert/{a}")
    assert refused.status_code == 409, refused.text
    for answer in (planned, refused):
        assert f"Agent fraud_agent was changed again in revision {again}" in \
            answer.json()["detail"]
        assert answer.json()["conflicts"] == [
            {"kind": "Agent", "name": "fraud_agent", "revision": again}]
    assert api.get("/health").json()["revision"] == again


def test_restore_to_here_plan_and_commit(api: InProcess) -> None:
    a, _, _, d = four(api)
    shown = api.get(f"/registries/restore/{a}/plan").json()
    assert sorted(c["name"] for c in shown["changes"]) == [
        "coverage_agent", "explainability_agent", "severity_agent"]
    done = api.post(f"/registries/restore/{a}", headers={"If-Match": shown["token"]})
    assert done.status_code == 200, done.text
    assert api.entry("/registries/agents/coverage_agent")["description"] != "r-d"
    assert api.entry("/registries/agents/fraud_agent")["description"] == "r-a"
    last = api.get("/registries/history").json()["revisions"][-1]
    assert (last["revision"], last["undo"]) == (d + 1, {"action": "restore", "revision": a})
    assert api.get("/registries/restore/99/plan").status_code == 404
    assert api.get("/registries/revert/99/plan").status_code == 404


def test_restore_to_revision_zero(tmp_path: Path) -> None:
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    app = create_app(str(registries), watch=False)
    api = InProcess(app)
    assert api.get("/registries/restore/0/plan").status_code == 404  # no history yet
    original = api.entry("/registries/agents/fraud_agent")
    four(api)
    shown = api.get("/registries/restore/0/plan").json()
    assert len(shown["changes"]) == 4
    assert api.post("/registries/restore/0",
                    headers={"If-Match": shown["token"]}).status_code == 200
    assert api.entry("/registries/agents/fraud_agent") == original
    assert api.get("/registries/revert/0/plan").status_code == 404
    app.state.registry.close()


def test_no_manifests_and_no_watch_answer_200_not_configured(api: InProcess) -> None:
    plan = api.get("/registries/plan")
    assert plan.status_code == 200
    assert plan.json()["configured"] is False and plan.json()["resources"] == []
    assert "--manifests" in plan.json()["detail"]
    status = api.get("/registries/watch/status")
    assert status.status_code == 200
    assert status.json()["configured"] is False and status.json()["running"] is False


def test_a_server_that_denies_breaking_changes_denies_a_breaking_revert(tmp_path: Path) -> None:
    """`serve --deny-breaking` judges a revert as any write: its plan is shown, not
    committable, naming the callers it breaks, and the POST is 409 (as the PUT of the same
    change would be) with nothing written."""
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    app = create_app(str(registries), watch=False, deny_breaking=True)
    api = InProcess(app)
    tool = api.entry("/registries/tools/fraud_rules")
    looser = {**tool, "input_schema": {**tool["input_schema"], "required": []}}
    assert api.put("/registries/tools/fraud_rules", json=looser).status_code == 200
    head = api.get("/health").json()["revision"]
    shown = api.get(f"/registries/revert/{head}/plan").json()
    assert shown["committable"] is False
    assert "fraud_agent" in shown["detail"], shown["detail"]
    answer = api.post(f"/registries/revert/{head}", headers={"If-Match": shown["token"]})
    assert answer.status_code == 409, answer.text
    assert answer.json()["codes"] == ["B001"]
    assert api.get("/health").json()["revision"] == head
    assert api.entry("/registries/tools/fraud_rules") == looser
    app.state.registry.close()
