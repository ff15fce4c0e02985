"""Plan before save over the REST API (issue 27): `POST /registries/changes` with `dry_run`
answers the plan as the panel shows it (each change's diff, fields and dependents) and its
token (also the ETag); the commit with `If-Match: "<token>"` commits exactly that plan, or
answers 412 with nothing written when the registries moved since; `kind_versions` fences a
batch on a whole kind (the governance document, the processor pipeline); a one-document
kind is planned like any other. In-process, on the file store and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.inprocess import InProcess, served
from tests.conftest import FULL_REGISTRIES

CHANGES = "/registries/changes"


@pytest.fixture(params=["file", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcess]:
    yield from served(request, tmp_path, FULL_REGISTRIES)




def head(api: InProcess) -> int:
    revision: int = api.get("/health").json()["revision"]
    return revision


def agent_change(api: InProcess, name: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "Agent", "name": name,
            "entry": {**api.entry(f"/registries/agents/{name}"), **fields}}


def test_a_dry_run_answers_the_plan_shown_and_its_token(api: InProcess) -> None:
    before = head(api)
    planned = api.post(CHANGES, json={"changes": [agent_change(api, "fraud_agent",
                                                               max_iterations=9)],
                                      "dry_run": True})
    assert planned.status_code == 200, planned.text
    shown = planned.json()
    assert planned.headers["ETag"] == f'"{shown["token"]}"'
    assert shown["token"] == shown["plan"]["live_fingerprint"]
    assert (shown["committed"], shown["committable"], shown["revision"]) == (False, True, None)
    [change] = shown["changes"]
    assert (change["kind"], change["name"], change["action"]) == (
        "Agent", "fraud_agent", "update")
    assert change["fields"] == ["max_iterations"]
    assert '+  "max_iterations": 9,' in change["diff"]
    assert {"kind": "Workflow", "name": "claims_triage"} in change["dependents"]
    assert "access_changes" in shown["plan"] and "warnings" in shown["plan"]
    assert head(api) == before  # a plan writes nothing


def test_the_commit_with_the_token_writes_exactly_that_plan(api: InProcess) -> None:
    body = {"changes": [agent_change(api, "fraud_agent", max_iterations=9)]}
    token = api.post(CHANGES, json={**body, "dry_run": True}).json()["token"]
    done = api.post(CHANGES, json=body, headers={"If-Match": f'"{token}"'})
    assert done.status_code == 200, done.text
    assert done.json()["committed"] is True and done.json()["revision"] == head(api)
    assert api.entry("/registries/agents/fraud_agent")["max_iterations"] == 9


def test_a_write_between_plan_and_commit_is_a_412_that_writes_nothing(api: InProcess) -> None:
    body = {"changes": [agent_change(api, "fraud_agent", max_iterations=9)]}
    token = api.post(CHANGES, json={**body, "dry_run": True}).json()["token"]
    other = api.put("/registries/agents/severity_agent",
                    json=api.entry("/registries/agents/severity_agent") | {"max_iterations": 6})
    assert other.status_code == 200, other.text
    moved = head(api)
    stale = api.post(CHANGES, json=body, headers={"If-Match": f'"{token}"'})
    assert stale.status_code == 412, stale.text
    assert "plan again" in stale.json()["detail"]
    assert head(api) == moved
    assert api.entry("/registries/agents/fraud_agent")["max_iterations"] != 9
    again = api.post(CHANGES, json={**body, "dry_run": True}).json()
    assert again["token"] == stale.json()["current_version"] != token
    done = api.post(CHANGES, json=body, headers={"If-Match": f'"{again["token"]}"'})
    assert done.status_code == 200, done.text
    assert api.entry("/registries/agents/fraud_agent")["max_iterations"] == 9


def test_an_untouched_entry_plans_no_changes(api: InProcess) -> None:
    shown = api.post(CHANGES, json={"changes": [agent_change(api, "fraud_agent")],
                                    "dry_run": True}).json()
    assert shown["changes"] == [] and shown["plan"]["summary"]["has_changes"] is False


def test_kind_versions_fence_a_batch_on_a_whole_kind(api: InProcess) -> None:
    document = api.get("/registries/governance").json()
    version = document["resource_version"]
    name = next(iter(document["policies"]))
    policy = {**document["policies"][name], "description": "changed here"}
    body = {"changes": [{"kind": "GovernancePolicy", "name": name, "entry": policy}],
            "kind_versions": {"GovernancePolicy": version}, "dry_run": True}
    assert api.post(CHANGES, json=body).status_code == 200
    other = {**document["policies"][name], "description": "changed elsewhere"}
    assert api.post(CHANGES, json={"changes": [
        {"kind": "GovernancePolicy", "name": name, "entry": other}]}).status_code == 200
    # The dry run answers what the commit would get: 412, with the version there is now.
    stale = api.post(CHANGES, json=body)
    assert stale.status_code == 200, stale.text
    refusal = stale.json()["refusal"]
    assert refusal["status"] == 412 and stale.json()["committable"] is False
    assert refusal["current_version"] == api.get(
        "/registries/governance").json()["resource_version"]
    committed = api.post(CHANGES, json={**body, "dry_run": False})
    assert committed.status_code == 412, committed.text


def test_a_one_document_kind_is_planned_like_any_other(api: InProcess) -> None:
    document = api.get("/registries/system-config").json()  # with last_updated, version
    document["orchestrator"]["max_iterations"] = 12
    body = {"changes": [{"kind": "SystemConfig", "name": "default", "entry": document}]}
    shown = api.post(CHANGES, json={**body, "dry_run": True}).json()
    [change] = shown["changes"]
    assert change["fields"] == ["orchestrator.max_iterations"]  # not the stamps
    done = api.post(CHANGES, json=body, headers={"If-Match": f'"{shown["token"]}"'})
    assert done.status_code == 200, done.text
    saved = api.entry("/registries/system-config")
    assert saved["orchestrator"]["max_iterations"] == 12
    assert "resource_version" not in saved
