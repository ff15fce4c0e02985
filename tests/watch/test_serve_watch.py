"""`meshctl serve --watch`: the controller in the server, its status in the API, and push
webhooks (GitHub's HMAC signature, GitLab's token) that sync a git branch at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from pathlib import Path

from reconciler.model.kinds import Kind
from tests.conftest import FIXTURE_MANIFESTS, copy_tree
from tests.library.test_following import eventually
from tests.servers import SCRIPT, Server
from tests.watch.test_controller import commit_all, git, live_entry, set_field

SECRET = "s3cret-for-tests"


def test_the_server_runs_the_controller_and_shows_its_status(manifests: Path,
                                                             registries: Path) -> None:
    server = Server(registries, "--manifests", str(manifests), "--watch", "--debounce-ms",
                    "20")
    try:
        with server.client() as client:
            assert eventually(lambda: client.get("/registries/watch/status").json().get(
                "last_sync") is not None)
            set_field(manifests / "agents" / "fraud_agent.yaml", "max_iterations", "19")
            assert eventually(lambda: client.get("/registries/agents/fraud_agent").json()[
                "max_iterations"] == 19)
            found = client.get("/registries/watch/status").json()
            assert found["running"] is True
            assert found["last_sync"]["result"] == "synced"
            assert found["controller"]["source"]["type"] == "directory"
            # a REST write while the directory is git-managed is drift, reported at once
            entry = client.get("/registries/agents/intake_agent").json()
            entry.pop("resource_version")
            assert client.put("/registries/agents/intake_agent",
                              json={**entry, "max_iterations": 2}).status_code == 200
            assert eventually(lambda: client.get("/registries/watch/status").json()[
                "drifted"] == [{"kind": "Agent", "name": "intake_agent",
                                "status": "drifted"}])
            assert client.post("/registries/watch/sync").status_code == 202
            assert client.post("/hooks/git", content=b"{}").status_code == 403  # no secret
    finally:
        log = server.stop()
    assert "synced rev 1: 1 updated" in log


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push",
            "Content-Type": "application/json"}


def test_push_webhooks_sync_the_branch_at_once(tmp_path: Path, registries: Path) -> None:
    repo = tmp_path / "repo"
    copy_tree(FIXTURE_MANIFESTS, repo / "manifests")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "the mesh")
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text(SECRET + "\n")
    server = Server(registries, "--watch", "--git-repo", str(repo), "--branch", "main",
                    "--git-path", "manifests", "--interval", "3600",
                    "--webhook-secret-file", str(secret_file))
    try:
        with server.client() as client:
            assert eventually(lambda: client.get("/registries/watch/status").json().get(
                "last_sync") is not None)
            # a burst of pushes: the last commit is what is synced
            for value in ("33", "34", "35"):
                set_field(repo / "manifests" / "agents" / "fraud_agent.yaml",
                          "max_iterations", value)
                head = commit_all(repo, f"fraud {value}")
                body = json.dumps({"ref": "refs/heads/main", "after": head}).encode()
                answer = client.post("/hooks/git", content=body, headers=_signed(body))
                assert answer.status_code == 202, answer.text
            assert eventually(lambda: client.get("/registries/watch/status").json()[
                "last_sync"]["commit"] == head)
            assert client.get("/registries/agents/fraud_agent").json()["max_iterations"] == 35
            syncs = [r for r in client.get("/registries/history").json()["revisions"]
                     if r["source"] == "watch"]
            assert 1 <= len(syncs) <= 3 and syncs[-1]["git_commit"] == head
            # refused: a wrong signature, a wrong token; ignored: another branch, a ping
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            assert client.post("/hooks/git", content=body,
                               headers=_signed(body, "wrong")).status_code == 401
            assert client.post("/hooks/git", content=body,
                               headers={"X-Gitlab-Token": "wrong"}).status_code == 401
            assert client.post("/hooks/git", content=body).status_code == 401
            other = json.dumps({"ref": "refs/heads/feature"}).encode()
            answer = client.post("/hooks/git", content=other, headers=_signed(other))
            assert answer.status_code == 200 and answer.json()["accepted"] is False
            ping = client.post("/hooks/git", content=b"{}",
                               headers={**_signed(b"{}"), "X-GitHub-Event": "ping"})
            assert ping.status_code == 200
            # GitLab's token header works too
            set_field(repo / "manifests" / "agents" / "fraud_agent.yaml", "max_iterations",
                      "36")
            head = commit_all(repo, "fraud 36")
            body = json.dumps({"ref": "refs/heads/main", "checkout_sha": head}).encode()
            answer = client.post("/hooks/git", content=body,
                                 headers={"X-Gitlab-Token": SECRET,
                                          "X-Gitlab-Event": "Push Hook"})
            assert answer.status_code == 202
            assert eventually(lambda: client.get("/registries/agents/fraud_agent").json()[
                "max_iterations"] == 36)
    finally:
        server.stop()
    assert live_entry(registries, Kind.AGENT, "fraud_agent")["max_iterations"] == 36


def test_serve_refuses_watch_options_without_watch(registries: Path) -> None:
    done = subprocess.run([str(SCRIPT), "serve", "--registries", str(registries),
                           "--self-heal"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "need --watch" in done.stderr
    done = subprocess.run([str(SCRIPT), "serve", "--registries", str(registries), "--watch"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "--manifests DIR or --git-repo" in done.stderr
