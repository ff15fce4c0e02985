"""DNS rebinding and cross-site writes against a real `meshctl serve` (tests/servers.py):
requests addressed to a name that is not the server's are refused whatever they ask (400),
writes from another site's page are refused (403), and nothing is written; the server's own
names, the names given with --allowed-host (or $MESHCTL_ALLOWED_HOSTS), CORS origins, and
tokens keep working. The browser's side is tests/web/test_rebinding_panel.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import files_state
from tests.servers import SCRIPT, Server, free_port

pytestmark = pytest.mark.slow

EVIL = "evil.example"
ADMIN = "admin-token-0123456789"


def tool(registries: Path, name: str) -> dict[str, Any]:
    tools = json.loads((registries / "tool_registry.json").read_text())["tools"]
    return {**next(t for t in tools if t["tool_id"] == "fraud_rules"), "tool_id": name}


def every_kind_of_call(api: httpx.Client, registries: Path, headers: dict[str, str]
                       ) -> list[httpx.Response]:
    """A read and a write of each sort the API has, with `headers`."""
    return [
        api.get("/registries/agents", headers=headers),
        api.get("/registries/agents/fraud_agent", headers=headers),
        api.get("/registries/history", headers=headers),
        api.post("/registries/tools", json=tool(registries, "rebound_tool"), headers=headers),
        api.put("/registries/tools/fraud_rules",
                json={**tool(registries, "fraud_rules"), "description": "rebound"},
                headers=headers),
        api.delete("/registries/tools/victim_tool", headers=headers),
        api.post("/registries/reload", headers=headers),
        api.post("/registries/rollback/1", headers=headers),
    ]


def test_requests_addressed_to_another_name_are_refused(server: Server,
                                                        registries: Path) -> None:
    forged = {"Host": f"{EVIL}:{server.port}"}
    with server.client() as api:
        made = api.post("/registries/tools", json=tool(registries, "victim_tool"))
        assert made.status_code == 201, made.text
        before = files_state(registries)
        answers = every_kind_of_call(api, registries, forged)
        answers += [api.get(path, headers=forged) for path in (
            "/health", "/config", "/docs", "/openapi.json", "/static/panel.js")]
        for answer in answers:
            assert answer.status_code == 400, (answer.request.url, answer.text)
            detail = answer.json()["detail"]
            assert f"'{EVIL}'" in detail and f"--allowed-host {EVIL}" in detail
        assert files_state(registries) == before
        assert api.get("/registries/tools/rebound_tool").status_code == 404
        assert api.get("/registries/history").json()["total_count"] == 1
        # The server's own names are answered.
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}",
                     f"[::1]:{server.port}"):
            assert api.get("/registries/agents", headers={"Host": host}).status_code == 200


def test_writes_from_another_sites_page_are_refused(server: Server, registries: Path) -> None:
    with server.client() as api:
        made = api.post("/registries/tools", json=tool(registries, "victim_tool"))
        assert made.status_code == 201, made.text  # no Origin: curl, scripts
        before = files_state(registries)
        for origin in (f"http://{EVIL}", f"http://{EVIL}:{server.port}", "null",
                       f"http://127.0.0.1:{free_port()}"):
            answers = every_kind_of_call(api, registries, {"Origin": origin})
            for answer in answers[:3]:  # reads: the browser keeps them from the page
                assert answer.status_code == 200, answer.text
            for answer in answers[3:]:
                assert answer.status_code == 403, (answer.request.method, answer.text)
                assert "is refused" in answer.json()["detail"]
                assert f"--cors-origin {origin}" in answer.json()["detail"]
        assert files_state(registries) == before
        assert api.get("/registries/history").json()["total_count"] == 1
        own = api.post("/registries/tools", json=tool(registries, "panel_tool"),
                       headers={"Origin": server.url})  # the panel's own page
        assert own.status_code == 201, own.text


def test_names_given_with_allowed_host_are_answered(registries: Path) -> None:
    for extra, env in ((("--allowed-host", "mesh.example", "--allowed-host", "api.example"),
                        {}),
                       ((), {"MESHCTL_ALLOWED_HOSTS": "mesh.example,api.example"})):
        running = Server(registries, *extra, env=env)
        try:
            with running.client() as api:
                for name in ("mesh.example", "API.example"):
                    host = {"Host": f"{name}:{running.port}"}
                    assert api.get("/registries/agents", headers=host).status_code == 200
                    written = api.put(
                        "/registries/tools/fraud_rules", headers={
                            **host, "Origin": f"http://{name}:{running.port}"},
                        json={**tool(registries, "fraud_rules"), "description": name})
                    assert written.status_code == 200, written.text
                assert api.get("/registries/agents", headers={"Host": EVIL}
                               ).status_code == 400
        finally:
            running.stop()


def test_a_star_answers_any_host_but_still_checks_origin(registries: Path) -> None:
    running = Server(registries, "--allowed-host", "*")
    try:
        with running.client() as api:
            forged = {"Host": f"{EVIL}:{running.port}"}
            assert api.get("/registries/agents", headers=forged).status_code == 200
            refused = api.post("/registries/tools", json=tool(registries, "t1"),
                               headers={**forged, "Origin": "http://other.example"})
            assert refused.status_code == 403
    finally:
        running.stop()
    assert "t1" not in (registries / "tool_registry.json").read_text()


def test_a_cors_origin_may_write(registries: Path) -> None:
    running = Server(registries, "--cors-origin", "http://app.example")
    try:
        with running.client() as api:
            made = api.post("/registries/tools", json=tool(registries, "from_app"),
                            headers={"Origin": "http://app.example"})
            assert made.status_code == 201, made.text
            assert made.headers["access-control-allow-origin"] == "http://app.example"
            assert api.post("/registries/tools", json=tool(registries, "from_evil"),
                            headers={"Origin": f"http://{EVIL}"}).status_code == 403
    finally:
        running.stop()


def test_tokens_keep_working_beside_the_host_check(registries: Path) -> None:
    """On every address (0.0.0.0, with tokens): any IP address is answered, a name only
    when listed; the Host check comes before the token, which still decides the rest."""
    running = Server(registries, "--host", "0.0.0.0",
                     env={"MESHCTL_API_TOKENS": f"{ADMIN}:admin"})
    try:
        with running.client(ADMIN) as api:
            assert api.get("/registries/agents", headers={"Host": f"{EVIL}:{running.port}"}
                           ).status_code == 400
            assert api.get("/registries/agents", headers={"Host": "myhost.lan"}
                           ).status_code == 400
            made = api.post("/registries/tools", json=tool(registries, "with_token"),
                            headers={"Host": f"192.0.2.10:{running.port}"})
            assert made.status_code == 201, made.text
        with running.client() as anonymous:
            assert anonymous.get("/registries/agents").status_code == 401
    finally:
        log = running.stop()
    assert "name others with --allowed-host" in log
    assert ADMIN not in log


def test_an_allowed_host_that_is_a_url_is_a_usage_error(registries: Path) -> None:
    done = subprocess.run([str(SCRIPT), "serve", "--registries", str(registries), "--port",
                           str(free_port()), "--allowed-host", "http://mesh.example"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--allowed-host 'http://mesh.example': give a host name" in done.stderr
