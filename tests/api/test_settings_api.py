"""The settings kinds over REST, at upstream's paths, as a client sees them: `meshctl serve`
(a real uvicorn server in its own process) on a copy of the full upstream tree, and httpx.
Every write goes through the same rules (the engine's message, a 400, the file untouched),
and every document and entry has its ETag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FULL_REGISTRIES, copy_tree
from tests.servers import Server


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return copy_tree(FULL_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def api(full: Path) -> Iterator[httpx.Client]:
    server = Server(full)
    try:
        with server.client() as client:
            yield client
    finally:
        server.stop()


def on_disk(full: Path, relative: str) -> bytes:
    return (full / relative).read_bytes()


def test_system_config_is_served_and_replaced_with_if_match(full: Path,
                                                            api: httpx.Client) -> None:
    got = api.get("/registries/system-config")
    assert got.status_code == 200
    document = got.json()
    assert document["workflow"]["max_agent_invocations"] == 20
    assert document["last_updated"] == "2026-01-03T02:37:32.554964Z"
    etag = got.headers["ETag"]
    document["workflow"]["max_agent_invocations"] = 25
    put = api.put("/registries/system-config", json=document, headers={"If-Match": etag})
    assert put.status_code == 200, put.text
    assert put.json()["workflow"]["max_agent_invocations"] == 25
    assert put.headers["ETag"] != etag
    saved = json.loads(on_disk(full, "system_config.json"))
    assert saved["workflow"]["max_agent_invocations"] == 25
    assert saved["last_updated"] != document["last_updated"]
    assert "_description" in saved["workflow"]  # what the caller sent back is kept
    stale = api.put("/registries/system-config", json=document, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == put.headers["ETag"].strip('"')


def test_a_zero_limit_or_a_missing_section_is_refused_and_nothing_is_written(
        full: Path, api: httpx.Client) -> None:
    before = on_disk(full, "system_config.json")
    document = api.get("/registries/system-config").json()
    document["llm"]["max_retries"] = 0
    refused = api.put("/registries/system-config", json=document)
    assert refused.status_code == 400
    assert "llm.max_retries is 0" in refused.json()["detail"]
    document["llm"]["max_retries"] = 3
    del document["safety"]
    missing = api.put("/registries/system-config", json=document)
    assert missing.status_code == 400 and "safety" in missing.json()["detail"]
    assert on_disk(full, "system_config.json") == before


def test_context_strategies_and_the_pipeline(full: Path, api: httpx.Client) -> None:
    strategies = api.get("/registries/context/strategies").json()
    budget = strategies["context_compilation"]["default_budget_allocation"]
    budget["observations_percentage"] = 25
    refused = api.put("/registries/context/strategies", json=strategies)
    assert refused.status_code == 400 and "add up to 105" in refused.json()["detail"]
    budget["prior_outputs_percentage"] = 45
    assert api.put("/registries/context/strategies", json=strategies).status_code == 200
    listed = api.get("/registries/context/processors").json()
    assert listed["total_count"] == 7
    assert [p["processor_id"] for p in listed["processors"]][0] == "content_selector"
    injector = api.get("/registries/context/processors/injector")
    body = {**injector.json(), "order": 1}
    clash = api.put("/registries/context/processors/injector", json=body,
                    headers={"If-Match": injector.headers["ETag"]})
    assert clash.status_code == 400 and "order 1" in clash.json()["detail"]
    unknown = api.post("/registries/context/processors",
                       json={"processor_id": "reranker", "order": 8})
    assert unknown.status_code == 400 and "not one of the runtime's processors" in unknown.text
    off = api.put("/registries/context/processors/injector",
                  json={**injector.json(), "enabled": False})
    assert off.status_code == 200
    pipeline = json.loads(on_disk(full, "context_processor_pipeline.json"))
    assert pipeline["processors"][-1]["enabled"] is False


def test_the_integration_fabric(full: Path, api: httpx.Client) -> None:
    connectors = api.get("/registries/integration/connectors").json()
    assert connectors["total_count"] == 4
    assert api.get("/registries/integration/auth-profiles").json()["total_count"] == 4
    assert api.get("/registries/integration/security-policies").json()["total_count"] == 2
    assert api.get("/registries/integration/workflows").json()["total_count"] == 4
    config = api.get("/registries/integration/system-config")
    assert [p["policy_id"] for p in config.json()["config"]["retry_policies"]] == [
        "standard", "aggressive"]
    before = {name: on_disk(full, f"integration/{name}") for name in (
        "auth_profiles.json", "connectors.json", "system_config.json")}
    in_use = api.delete("/registries/integration/auth-profiles/gw_oauth")
    assert in_use.status_code == 400
    assert "used by connectors guidewire_claims" in in_use.json()["detail"]
    dangling = api.put("/registries/integration/connectors/guidewire_claims", json={
        **api.get("/registries/integration/connectors/guidewire_claims").json(),
        "auth_profile": "nope"})
    assert dangling.status_code == 400 and "unknown auth profile 'nope'" in dangling.text
    trimmed = config.json()["config"]
    trimmed["retry_policies"] = trimmed["retry_policies"][:1]
    removed = api.put("/registries/integration/system-config", json={"config": trimmed},
                      headers={"If-Match": config.headers["ETag"]})
    assert removed.status_code == 400 and "retry policy 'aggressive'" in removed.text
    for name, data in before.items():
        assert on_disk(full, f"integration/{name}") == data, name
    flow = api.get("/registries/integration/workflows/billing_sync").json()
    flow["sla"]["timeout_ms"] = 9000
    saved = api.put("/registries/integration/workflows/billing_sync", json=flow)
    assert saved.status_code == 200, saved.text
    written = json.loads(on_disk(full, "integration/workflows/billing_sync.json"))
    assert written["sla"]["timeout_ms"] == 9000


def test_a_missing_document_is_404_and_a_put_creates_it(tmp_path: Path) -> None:
    from tests.conftest import FIXTURE_REGISTRIES

    older = copy_tree(FIXTURE_REGISTRIES, tmp_path / "older")
    server = Server(older)
    try:
        with server.client() as api:
            assert api.get("/registries/context/strategies").status_code == 404
            created = api.put("/registries/context/strategies", json={
                "compaction": {"enabled": False}})
            assert created.status_code == 200, created.text
            assert json.loads((older / "context_strategies.json").read_text()) == {
                "compaction": {"enabled": False}, "version": "1.0.0"}
    finally:
        server.stop()


def test_the_whole_pipeline_is_replaced_in_one_revision(full: Path, api: httpx.Client) -> None:
    listed = api.get("/registries/context/processors")
    version = listed.headers["ETag"]
    assert listed.json()["resource_version"] == version.strip('"')
    processors = listed.json()["processors"]
    by_id = {p["processor_id"]: p for p in processors}
    by_id["injector"]["order"], by_id["transformer"]["order"] = 5, 7  # a swap
    put = api.put("/registries/context/processors", json={"processors": processors},
                  headers={"If-Match": version})
    assert put.status_code == 200, put.text
    saved = json.loads(on_disk(full, "context_processor_pipeline.json"))["processors"]
    assert [(p["processor_id"], p["order"]) for p in saved][4:] == [
        ("transformer", 7), ("token_budget_enforcer", 6), ("injector", 5)]
    assert len(list((full / ".meshctl" / "history").glob("*.json"))) == 1
    stale = api.put("/registries/context/processors", json={"processors": processors},
                    headers={"If-Match": version})
    assert stale.status_code == 412
    clash = [{**p, "order": 1} for p in saved]
    refused = api.put("/registries/context/processors", json={"processors": clash})
    assert refused.status_code == 400 and "order 1" in refused.json()["detail"]
