"""The REST API as a client sees it: `meshctl serve` on a free port (a real uvicorn server
in its own process) and httpx. The upstream plan's backend checklist, then 404, 412, 413,
401 and 403, path ids, and writers at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.store import history
from reconciler.store.registry_files import read_live_state
from tests.conftest import save
from tests.servers import SCRIPT, Server, free_port

ADMIN, EDITOR, VIEWER = "admin-token-0123456789", "editor-token-0123456789", \
    "viewer-token-0123456789"


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def fixture_entry(registries: Path, file: str, key: str, name: str, id_field: str
                  ) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in json.loads((registries / file).read_text())[key]
                                 if e[id_field] == name)
    return found


def agent(registries: Path, name: str, **fields: Any) -> dict[str, Any]:
    base = fixture_entry(registries, "agent_registry.json", "agents", "severity_agent",
                         "agent_id")
    return {**base, "agent_id": name, **fields}


def test_the_backend_checklist(registries: Path, api: httpx.Client) -> None:
    """Every item of the upstream plan's backend checklist, each visible at once."""
    created = api.post("/registries/agents", json=agent(registries, "triage_agent"))
    assert created.status_code == 201, created.text
    assert api.get("/registries/agents/triage_agent").json()["name"] == created.json()["name"]
    assert api.post("/registries/agents", json=agent(registries, "triage_agent")
                    ).status_code == 400
    unknown_model = api.post("/registries/agents",
                             json=agent(registries, "a2", model_profile_id="gpt-5"))
    assert unknown_model.status_code == 400
    assert "unknown model profile 'gpt-5'" in unknown_model.json()["detail"]
    unknown_tool = api.post("/registries/agents", json=agent(registries, "a3",
                                                             allowed_tools=["nope"]))
    assert unknown_tool.status_code == 400 and "unknown tool 'nope'" in unknown_tool.text
    updated = api.put("/registries/agents/triage_agent",
                      json=agent(registries, "triage_agent", max_iterations=9))
    assert updated.status_code == 200 and updated.json()["max_iterations"] == 9
    assert api.put("/registries/agents/triage_agent",
                   json=agent(registries, "triage_agent", model_profile_id="x")
                   ).status_code == 400
    deleted = api.delete("/registries/agents/triage_agent")
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert api.get("/registries/agents/triage_agent").status_code == 404
    used = api.delete("/registries/agents/fraud_agent")  # the orchestrator may invoke it
    assert used.status_code == 400 and "orchestrator_agent" in used.json()["detail"]
    required = api.delete("/registries/agents/intake_agent")
    assert required.status_code == 400 and "claims_triage" in required.json()["detail"]
    orchestrator = api.delete("/registries/agents/orchestrator_agent")
    assert orchestrator.status_code == 400 and "never deleted" in orchestrator.text
    tool = fixture_entry(registries, "tool_registry.json", "tools", "fraud_rules", "tool_id")
    bad_schema = api.post("/registries/tools", json={**tool, "tool_id": "t2",
                                                      "input_schema": {"type": "objekt"}})
    assert bad_schema.status_code == 400 and "input_schema" in bad_schema.text
    assert api.delete("/registries/tools/fraud_rules").status_code == 400
    profile = fixture_entry(registries, "model_profiles.json", "profiles", "gpt4",
                            "profile_id")
    assert api.post("/registries/model-profiles",
                    json={**profile, "profile_id": "gpt4_mini"}).status_code == 201
    assert api.delete("/registries/model-profiles/default_gpt35").status_code == 400
    flow = json.loads((registries / "workflows" / "claims_triage.json").read_text())
    assert api.post("/registries/workflows", json={**flow, "workflow_id": "w2",
                                                    "required_agents": ["ghost"]}
                    ).status_code == 400
    governance = api.get("/registries/governance").json()
    del governance["policies"]["context_filtering"]
    assert api.put("/registries/governance", json=governance).status_code == 200
    assert "context_filtering" not in api.get("/registries/governance").json()["policies"]
    stats = api.get("/registries/stats").json()
    assert stats["counts"]["models"] == 7 and stats["revision"] == 5
    revisions = [history.load(registries / ".meshctl", n)
                 for n in history.numbers(registries / ".meshctl")]
    assert {r["source"] for r in revisions} == {"api"}
    assert stats["fingerprint"] == read_live_state(registries).fingerprint


def test_lists_filters_and_the_orchestrator(registries: Path, api: httpx.Client) -> None:
    agents = api.get("/registries/agents").json()
    assert agents["total_count"] == 7 and len(agents["agents"]) == 7 and agents["timestamp"]
    without = api.get("/registries/agents", params={"exclude_orchestrator": "true"}).json()
    assert "orchestrator_agent" not in [a["agent_id"] for a in without["agents"]]
    fraud = api.get("/registries/agents", params={"capability": "fraud_detection"}).json()
    assert [a["agent_id"] for a in fraud["agents"]] == ["fraud_agent"]
    tools = api.get("/registries/tools").json()
    tag = tools["tools"][0]["lineage_tags"][0]
    assert api.get("/registries/tools", params={"tag": tag}).json()["total_count"] >= 1
    assert api.get("/registries/model-profiles").json()["total_count"] == 6
    assert api.get("/registries/workflows").json()["workflows"][0]["workflow_id"] == \
        "claims_triage"
    orchestrator = api.get("/registries/orchestrator").json()
    assert orchestrator["agent_id"] == "orchestrator_agent"
    other = api.put("/registries/orchestrator", json=agent(registries, "fraud_agent"))
    assert other.status_code == 400
    changed = api.put("/registries/orchestrator", json={**orchestrator, "max_iterations": 12})
    assert changed.status_code == 200 and changed.json()["max_iterations"] == 12


def test_versions_stop_lost_updates(registries: Path, api: httpx.Client) -> None:
    first = api.get("/registries/agents/fraud_agent")
    version = first.headers["ETag"]
    assert first.json()["resource_version"] == version.strip('"')
    body = {k: v for k, v in first.json().items() if k != "resource_version"}
    ok = api.put("/registries/agents/fraud_agent", json={**body, "max_iterations": 6},
                 headers={"If-Match": version})
    assert ok.status_code == 200 and ok.headers["ETag"] != version
    stale = api.put("/registries/agents/fraud_agent", json={**body, "max_iterations": 7},
                    headers={"If-Match": version})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == ok.headers["ETag"].strip('"')
    assert api.get("/registries/agents/fraud_agent").json()["max_iterations"] == 6
    in_body = api.put("/registries/agents/fraud_agent",
                      json={**body, "max_iterations": 8, "resource_version": "0" * 16})
    assert in_body.status_code == 412
    assert api.delete("/registries/agents/severity_agent",
                      headers={"If-Match": '"0000000000000000"'}).status_code == 412
    assert "resource_version" not in fixture_entry(
        registries, "agent_registry.json", "agents", "fraud_agent", "agent_id")


def test_errors_have_their_status(registries: Path, api: httpx.Client) -> None:
    assert api.get("/registries/agents/nobody").status_code == 404
    assert api.delete("/registries/tools/nobody").status_code == 404
    malformed = api.post("/registries/agents", json={"agent_id": "x", "max_iterations": "5"})
    assert malformed.status_code == 422
    assert any(item["loc"][-1] == "name" for item in malformed.json()["detail"])
    assert api.post("/registries/agents", content=b"{not json",
                    headers={"content-type": "application/json"}).status_code == 422
    huge = api.post("/registries/tools", content=b"x" * (1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    assert huge.status_code == 413
    for bad in ("..", ".hidden", "a" * 200):
        response = api.get(f"/registries/workflows/{bad}")
        assert response.status_code in (400, 404), bad
    traversal = api.delete("/registries/workflows/.secret")
    assert traversal.status_code == 400
    assert (registries / "workflows" / "claims_triage.json").exists()
    schema = api.get("/openapi.json").json()
    assert schema["info"]["title"] == "meshctl"
    # handlers run on a worker thread through a wrapper: their parameters still show
    replace = schema["paths"]["/registries/agents/{name}"]["put"]
    assert "requestBody" in replace
    assert {p["name"] for p in replace["parameters"]} == {"name", "if-match", "authorization"}
    assert api.get("/docs").status_code == 200


def test_tokens_and_roles(registries: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# who may\n{ADMIN} admin\n{EDITOR} editor\n{VIEWER} viewer\n")
    server = Server(registries, "--token-file", str(token_file))
    try:
        with server.client() as anonymous:
            assert anonymous.get("/registries/agents").status_code == 401
            assert anonymous.get("/health").status_code == 200
        with server.client("wrong-token-0123456789") as wrong:
            assert wrong.get("/registries/agents").status_code == 401
        with server.client(VIEWER) as viewer:
            assert viewer.get("/registries/agents").status_code == 200
            assert viewer.delete("/registries/agents/severity_agent").status_code == 403
        with server.client(EDITOR) as editor:
            body = agent(registries, "by_editor")
            assert editor.post("/registries/agents", json=body).status_code == 201
            assert editor.post("/registries/reload").status_code == 403
        with server.client(ADMIN) as admin:
            assert admin.post("/registries/reload").status_code == 200
    finally:
        server.stop()


def test_serving_beyond_loopback_needs_tokens(registries: Path) -> None:
    refused = subprocess.run([str(SCRIPT), "serve", "--registries", str(registries),
                              "--host", "0.0.0.0", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "without tokens" in refused.stderr


def test_writes_made_elsewhere_are_served(registries: Path, tmp_path: Path,
                                          api: httpx.Client) -> None:
    path = registries / "tool_registry.json"
    data = json.loads(path.read_text())
    data["tools"][0]["name"] = "Renamed by hand"
    save(path, json.dumps(data, indent=2))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if api.get(f"/registries/tools/{data['tools'][0]['tool_id']}").json()[
                "name"] == "Renamed by hand":
            break
        time.sleep(0.1)
    else:
        pytest.fail("an edit of the files was not served")


def test_concurrent_writers_lose_nothing(registries: Path, server: Server) -> None:
    failures: list[str] = []

    def writer(worker: int) -> None:
        with server.client() as client:
            for n in range(6):
                response = client.post("/registries/agents",
                                       json=agent(registries, f"c{worker}_{n}"))
                if response.status_code != 201:
                    failures.append(response.text)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    names = {r.name for r in read_live_state(registries).state if r.kind.value == "Agent"}
    assert {f"c{w}_{n}" for w in range(4) for n in range(6)} <= names


def test_graph_history_and_rollback(registries: Path, api: httpx.Client) -> None:
    mesh = api.get("/registries/graph").json()
    assert {"nodes", "edges", "cycles"} <= set(mesh)
    assert any(e["from"] == "agent/fraud_agent" and e["to"] == "tool/fraud_rules"
               for e in mesh["edges"])
    before = api.get("/registries/agents/fraud_agent").json()["max_iterations"]
    body = {k: v for k, v in api.get("/registries/agents/fraud_agent").json().items()
            if k != "resource_version"}
    assert api.put("/registries/agents/fraud_agent",
                   json={**body, "max_iterations": before + 1}).status_code == 200
    listed = api.get("/registries/history").json()
    assert listed["total_count"] == 1
    assert listed["revisions"][0]["resources"] == ["Agent/fraud_agent"]
    one = api.get("/registries/history/1").json()
    assert one["changes"][0]["after"]["max_iterations"] == before + 1
    assert api.get("/registries/history/9").status_code == 404
    assert api.post("/registries/rollback/7").status_code == 404
    assert api.put("/registries/agents/fraud_agent",
                   json={**body, "max_iterations": before + 2}).status_code == 200
    rolled = api.post("/registries/rollback/1")
    assert rolled.status_code == 200 and rolled.json()["revision"] == 3
    assert api.get("/registries/agents/fraud_agent").json()["max_iterations"] == before + 1


def test_the_plan_from_the_manifests(registries: Path, drifted_manifests: Path) -> None:
    manifests = drifted_manifests
    (manifests / "tools" / "similarity.yaml").unlink()
    server = Server(registries, "--manifests", str(manifests))
    try:
        with server.client() as api:
            found = api.get("/registries/plan").json()
            status = {(r["kind"], r["name"]): r["status"] for r in found["resources"]}
            assert status[("Agent", "fraud_agent")] == "drifted"
            assert status[("Tool", "similarity")] == "not_in_git"
            assert status[("Agent", "intake_agent")] == "in_sync"
            assert found["plan"]["summary"]["update"] == 1
    finally:
        server.stop()
    without = Server(registries)
    try:
        with without.client() as api:
            without_manifests = api.get("/registries/plan")  # nothing to plan from: said
            assert without_manifests.status_code == 200
            assert without_manifests.json()["configured"] is False
    finally:
        without.stop()


def test_every_revision_is_an_event(registries: Path, server: Server) -> None:
    """One event per revision, whoever made it: the API, and another process's manager."""
    received: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with server.client() as client, client.stream("GET", "/registries/events") as stream:
            for line in stream.iter_lines():
                if line.startswith(":"):
                    ready.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if len(received) == 2:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(30)
    with server.client() as api:
        assert api.post("/registries/agents", json=agent(registries, "e1")).status_code == 201
    script = ("import sys, json\nfrom reconciler import RegistryManager\n"
              "m = RegistryManager(sys.argv[1], watch=False)\nm.load_all()\n"
              "m.create_agent({**json.loads(sys.argv[2]), 'agent_id': 'e2'})")
    other = subprocess.run([sys.executable, "-c", script, str(registries),
                            json.dumps(agent(registries, "e2"))], capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    listener.join(timeout=30)
    assert [(e["revision"], e["source"], e["changes"][0]["name"]) for e in received] == [
        (1, "api", "e1"), (2, "library", "e2")]


def test_tokens_from_the_environment_and_cors_only_when_asked(registries: Path) -> None:
    server = Server(registries, "--cors-origin", "http://panel.example",
                    env={"MESHCTL_API_TOKENS": f"{VIEWER}:viewer,{ADMIN}:admin"})
    try:
        with server.client(VIEWER) as viewer:
            assert viewer.get("/registries/agents").status_code == 200
            assert viewer.post("/registries/reload").status_code == 403
            preflight = viewer.options("/registries/agents", headers={
                "Origin": "http://panel.example", "Access-Control-Request-Method": "GET"})
            assert preflight.headers.get("access-control-allow-origin") == \
                "http://panel.example"
            other = viewer.get("/registries/agents", headers={"Origin": "http://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        server.stop()
    plain = Server(registries)
    try:
        with plain.client() as api:
            answer = api.get("/registries/agents", headers={"Origin": "http://panel.example"})
            assert "access-control-allow-origin" not in answer.headers
    finally:
        plain.stop()
