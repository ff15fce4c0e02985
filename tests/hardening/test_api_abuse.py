"""The REST API fed what clients should never send: oversized and malformed bodies, wrong
content types, path ids with encoded slashes and NULs. Each gets a 4xx that says why, never
a 500, and no registry file changes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import Server


def files_of(registries: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in registries.rglob("*")
            if p.is_file() and ".meshctl" not in p.parts}


AGENT = (b'{"agent_id": "fraud_agent", "description": "d", "model_profile_id": "gpt4", '
         b'"capabilities": ["c"], "output_schema": {"type": "object"}')
BODIES: list[tuple[str, dict[str, str], bytes | None, int]] = [
    ("not JSON", {"Content-Type": "application/json"}, b"{not json", 422),
    ("JSON of the wrong type", {"Content-Type": "application/json"}, b"[1, 2, 3]", 422),
    ("text/plain", {"Content-Type": "text/plain"}, b'{"agent_id": "x"}', 422),
    ("no body", {"Content-Type": "application/json"}, None, 422),
    ("lone surrogate", {"Content-Type": "application/json"},
     AGENT + b', "name": "\\ud800"}', 400),
    ("huge number", {"Content-Type": "application/json"},
     AGENT + b', "name": "n", "max_iterations": 1' + b"0" * 400 + b"}", 422),
    ("nested 200 deep", {"Content-Type": "application/json"},
     AGENT + b', "name": "n", "input_schema": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",
     400),
    ("2 MiB body", {"Content-Type": "application/json"}, b'{"a": "' + b"x" * (2 << 20) + b'"}',
     413),
    # A missing required field is a 422 naming it, without echoing the body (which may be
    # large, or hold what JSON cannot encode).
    ("missing field, lone surrogate", {"Content-Type": "application/json"},
     b'{"agent_id": "fraud_agent", "name": "\\ud800"}', 422),
]


@pytest.mark.parametrize(("name", "headers", "body", "status"), BODIES,
                         ids=[case[0] for case in BODIES])
def test_bad_bodies_are_refused_clearly(server: Server, registries: Path, name: str,
                                       headers: dict[str, str], body: bytes | None,
                                       status: int) -> None:
    before = files_of(registries)
    with server.client() as client:
        answer = client.put("/registries/agents/fraud_agent", content=body, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.json()["detail"]  # says why
        if status == 422 and name.startswith("missing field"):
            fields = {tuple(item["loc"]) for item in answer.json()["detail"]}
            assert ("body", "capabilities") in fields and ("body", "output_schema") in fields
            assert "input" not in answer.text
        assert client.get("/health").json()["status"] == "ok"
    assert files_of(registries) == before


def test_a_body_over_the_limit_without_a_length_is_refused(server: Server,
                                                           registries: Path) -> None:
    before = files_of(registries)

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, sent chunked: no Content-Length to refuse on

    with server.client() as client:
        answer = client.put("/registries/agents/fraud_agent", content=chunks(),
                            headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
    assert files_of(registries) == before


PATHS = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a%2Fb", "a%00b", "%2F", "x" * 5000, ".meshctl",
         "CON", "a%5Cb", "%E2%80%AE"]


@pytest.mark.parametrize("raw", PATHS)
def test_hostile_path_ids_never_reach_a_file(server: Server, registries: Path,
                                             raw: str) -> None:
    before = files_of(registries)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, kind in (("GET", "workflows"), ("DELETE", "workflows"), ("PUT", "agents"),
                             ("DELETE", "tools")):
            url = f"/registries/{kind}/{raw}"
            answer = client.request(method, url, json={"workflow_id": "x", "name": "x"}
                                    if method == "PUT" else None)
            # refused (4xx), or, for an id that decodes to "/", redirected to the list
            assert 300 <= answer.status_code < 500, (method, url, answer.status_code)
    assert files_of(registries) == before
    assert not (registries.parent / "etc").exists()


HOSTS = ["evil.example", "x" * 5000, "localhost:abc", "[::1", "localhost@evil.example",
         "127.0.0.1.evil.example", "localhost:8016:8016", "%6c%6f%63%61%6c%68%6f%73%74",
         "local host", "[evil.example]:80"]


@pytest.mark.parametrize("host", HOSTS, ids=lambda host: host[:30])
def test_hostile_host_headers_are_refused_and_change_nothing(server: Server, registries: Path,
                                                             host: str) -> None:
    """A Host that is not this server's (or not a host at all) is a 400 that says why,
    never a 500, for a read and a write alike (a server or proxy may also refuse it first,
    as long as it is a 4xx)."""
    before = files_of(registries)
    with server.client() as client:
        for method in ("GET", "DELETE"):
            answer = client.request(method, "/registries/tools/fraud_rules",
                                    headers={"Host": host})
            assert 400 <= answer.status_code < 500, (method, answer.status_code)
            if answer.headers.get("content-type") == "application/json":
                assert "Host" in answer.json()["detail"]
        assert client.get("/health").json()["status"] == "ok"
    assert files_of(registries) == before
