"""`meshctl serve --env NAME` as a real process in a project with environments
(tests/environments.py): `GET /health` names the environment (null without one); with
`--watch` the server syncs the environment's layers into the environment's own store (from
the folders, or with --git-repo from the checkout), and `GET /registries/plan` plans those
layers. The panel's header is tests/web/test_env_panel.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.store import history
from tests.conftest import eventually, save
from tests.environments import PROD_CONNECTORS, make_project
from tests.servers import Server
from tests.watch.test_controller import git

pytestmark = pytest.mark.slow

PROD_URL = "https://claims.example.com/gw"
CONNECTOR = "/registries/integration/connectors/guidewire_claims"


def entry(api: httpx.Client, path: str) -> dict[str, Any]:
    found = api.get(path)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def test_serve_env_prod_names_it_in_health_and_watches_its_layers(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    server = Server(None, "--env", "prod", "--watch", "--debounce-ms", "20", cwd=project)
    try:
        with server.client() as api:
            health = api.get("/health").json()
            assert health["environment"] == "prod" and health["status"] == "ok"
            # the environment's store, at the environment's layers: base plus prod's overlay
            assert eventually(lambda: entry(api, CONNECTOR)["base_url"] == PROD_URL)
            fraud = entry(api, "/registries/agents/fraud_agent")
            assert fraud["max_iterations"] == 5  # dev's overlay is not prod's
            assert "experimental_scoring" not in fraud["capabilities"]
            status = entry(api, "/registries/watch/status")
            # named under the project (the folder the layers and the store share)
            assert status["controller"]["source"]["paths"] == [
                "manifests/base", "manifests/overlays/prod"]
            plan = entry(api, "/registries/plan")
            assert {r["status"] for r in plan["resources"]} == {"in_sync"}, plan["resources"]
            # an edit of the overlay reaches the store; the plan follows the same layers
            overlay = project / "manifests" / "overlays" / "prod" / "connectors.yaml"
            save(overlay, PROD_CONNECTORS.replace(PROD_URL, f"{PROD_URL}/v2"))
            assert eventually(lambda: entry(api, CONNECTOR)["base_url"] == f"{PROD_URL}/v2")
            assert eventually(lambda: {r["status"] for r in entry(
                api, "/registries/plan")["resources"]} == {"in_sync"})
    finally:
        log = server.stop()
    assert "for registries-prod" in log, log
    assert history.numbers(project / "registries-prod" / ".meshctl") == [1, 2]
    assert history.numbers(project / "registries-dev" / ".meshctl") == []  # untouched


def test_health_without_an_environment_says_null(registries: Path) -> None:
    server = Server(registries)
    try:
        with server.client() as api:
            assert api.get("/health").json()["environment"] is None
            assert 'id="environment"' not in api.get("/config").text
    finally:
        server.stop()


def test_serve_env_watch_takes_its_layers_from_a_git_branch(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "meshctl.yaml", "manifests")
    git(project, "commit", "-q", "-m", "environments")
    server = Server(None, "--env", "prod", "--watch", "--git-repo", str(project), cwd=project)
    try:
        with server.client() as api:
            assert eventually(lambda: entry(api, CONNECTOR)["base_url"] == PROD_URL)
            source = entry(api, "/registries/watch/status")["controller"]["source"]
            assert [Path(p).parts[-2:] for p in source["paths"]] == [
                ("manifests", "base"), ("overlays", "prod")]
    finally:
        server.stop()
