"""`meshctl watch --env dev` and `meshctl watch --env prod` as two real processes at once,
in one project (tests/environments.py), each on its environment's own store:

- each first syncs its environment: dev's store gets dev's overlay (fraud_agent's
  max_iterations 3 and one more capability), prod's the real connector base URL, and
  neither gets the other's;
- an edit of a base manifest reaches both stores, each with its overlay still applied;
- an edit of the dev overlay changes the dev store only;
- once the overlay's document is gone (replaced by another, or its file removed), the dev
  store goes back to the base's value;
- the overlay's folder gone is an error naming it (`meshctl status`), until it is back.

What one store must not have got is checked in its history once a later change has
reached it (so no waiting for something not to happen). And with --git-repo, the layers are
the checkout's folders, still layered."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from reconciler.model.kinds import Kind
from reconciler.store import history, open_store
from reconciler.watch import status as status_file
from tests.conftest import eventually, save
from tests.environments import DEV_AGENTS, make_project
from tests.watch.test_controller import git, live_entry, set_field

SCRIPT = Path(sys.executable).parent / "meshctl"
PROD_URL = "https://claims.example.com/gw"
PLACEHOLDER = "${GW_BASE_URL}"
INTAKE_PATCH = """\
apiVersion: agentmesh.io/v1
kind: Agent
metadata:
  name: intake_agent
spec:
  max_iterations: 7
"""
BASE_CAPABILITIES = ["fraud_detection", "risk_scoring", "pattern_analysis",
                     "anomaly_detection"]


@contextmanager
def watching(project: Path, environment: str) -> Iterator[IO[str]]:
    """`meshctl watch --env ENV` in `project` until the block ends (SIGTERM: exit 0); its
    log, in a file (a full pipe would stop it)."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([str(SCRIPT), "watch", "--env", environment,
                                    "--debounce-ms", "20"], cwd=project, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            yield log
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
            log.seek(0)
            assert code == 0, log.read()


def synced(store: Path) -> bool:
    found = status_file.read(open_store(store))
    return found is not None and (found.get("last_sync") or {}).get("result") in (
        "synced", "in_sync")


def failed_on(store: Path) -> list[tuple[str, str]]:
    """The code and file of each error of the last sync (none when it did not fail)."""
    found = status_file.read(open_store(store))
    last = (found or {}).get("last_sync") or {}
    return [(e.get("code"), e.get("file")) for e in last.get("errors") or []]


def fraud(store: Path) -> dict[str, Any]:
    found = live_entry(store, Kind.AGENT, "fraud_agent")
    assert found is not None
    return found


def intake(store: Path) -> dict[str, Any]:
    found = live_entry(store, Kind.AGENT, "intake_agent")
    assert found is not None
    return found


def base_url(store: Path) -> Any:
    found = live_entry(store, Kind.CONNECTOR, "guidewire_claims")
    assert found is not None
    return found["base_url"]


def changed(store: Path) -> list[tuple[int, str, str]]:
    """Every resource each revision of the store changed: (revision, kind, name)."""
    meta = store / ".meshctl"
    return [(number, change["kind"], change["name"]) for number in history.numbers(meta)
            for change in history.load(meta, number)["changes"]]


def test_two_environments_watched_at_once(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    dev, prod = project / "registries-dev", project / "registries-prod"
    base = project / "manifests" / "base" / "agents" / "fraud_agent.yaml"
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    with ExitStack() as both:
        both.enter_context(watching(project, "dev"))
        both.enter_context(watching(project, "prod"))

        # (a) each store at its own environment
        assert eventually(lambda: synced(dev) and synced(prod), 60)
        assert fraud(dev)["max_iterations"] == 3
        assert fraud(dev)["capabilities"] == [*BASE_CAPABILITIES, "experimental_scoring"]
        assert base_url(dev) == PLACEHOLDER  # kept byte for byte: the runtime fills it
        assert fraud(prod)["max_iterations"] == 5
        assert fraud(prod)["capabilities"] == BASE_CAPABILITIES
        assert base_url(prod) == PROD_URL
        intake_base = intake(prod)["max_iterations"]
        assert intake(dev)["max_iterations"] == intake_base != 7
        assert changed(dev) == [(1, "Agent", "fraud_agent")]
        assert changed(prod) == [(1, "Connector", "guidewire_claims")]
        for store, layer in ((dev, "dev"), (prod, "prod")):
            found = status_file.read(open_store(store))
            assert found is not None
            assert found["controller"]["source"]["paths"] == [
                str(project / "manifests" / "base"),
                str(project / "manifests" / "overlays" / layer)]

        # (b) a base edit reaches both, under each one's overlay
        save(base, base.read_text().replace("max_iterations: 5", "max_iterations: 6")
             .replace("iteration_timeout_seconds: 45", "iteration_timeout_seconds: 50"))
        assert eventually(lambda: fraud(dev)["iteration_timeout_seconds"] == 50
                          and fraud(prod)["iteration_timeout_seconds"] == 50)
        assert fraud(dev)["max_iterations"] == 3  # dev's overlay still wins
        assert fraud(dev)["capabilities"][-1] == "experimental_scoring"
        assert fraud(prod)["max_iterations"] == 6
        assert base_url(prod) == PROD_URL

        # (c) a dev overlay edit: the dev store only
        save(overlay, DEV_AGENTS.replace("max_iterations: 3", "max_iterations: 4"))
        assert eventually(lambda: fraud(dev)["max_iterations"] == 4)

        # (d) the overlay's document removed (one for another agent takes its place in the
        # file): dev goes back to the base's values, and gets the new patch
        save(overlay, INTAKE_PATCH)
        assert eventually(lambda: fraud(dev)["max_iterations"] == 6)
        assert intake(dev)["max_iterations"] == 7
        assert fraud(dev)["capabilities"] == BASE_CAPABILITIES
        assert fraud(dev)["iteration_timeout_seconds"] == 50

        # (e) the overlay's last file removed: the dev store is the base's (found at once,
        # not at the next resync a minute later)
        overlay.unlink()
        assert eventually(lambda: intake(dev)["max_iterations"] == intake_base)

        # (f) the overlay's folder gone: an error naming it, until it is back
        folder = overlay.parent
        folder.rename(tmp_path / "away")
        assert eventually(lambda: failed_on(dev) == [("M013", "manifests/overlays/dev")])
        shown = subprocess.run([str(SCRIPT), "status", "--registries", str(dev)],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 1
        assert "  manifests/overlays/dev: this layer of the environment is not a folder" \
            in shown.stdout, shown.stdout
        (tmp_path / "away").rename(folder)
        assert eventually(lambda: synced(dev))

        # prod, which did see the base edit, never saw any of dev's
        set_field(base, "iteration_timeout_seconds", "55")
        assert eventually(lambda: fraud(prod)["iteration_timeout_seconds"] == 55
                          and fraud(dev)["iteration_timeout_seconds"] == 55)
        assert changed(prod) == [(1, "Connector", "guidewire_claims"),
                                 (2, "Agent", "fraud_agent"), (3, "Agent", "fraud_agent")]
        assert fraud(prod)["max_iterations"] == 6
        assert intake(prod)["max_iterations"] == intake_base
        assert base_url(dev) == PLACEHOLDER


def test_watch_env_takes_its_layers_from_a_git_branch(tmp_path: Path) -> None:
    """With --git-repo the environment's layers are folders of the checkout, and stay
    layers (not one tree, where the overlay would be a second, partial declaration)."""
    project = make_project(tmp_path / "project")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "meshctl.yaml", "manifests")
    git(project, "commit", "-q", "-m", "environments")
    done = subprocess.run([str(SCRIPT), "watch", "--env", "prod", "--git-repo", str(project),
                           "--once"], cwd=project, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "synced rev 1: 1 updated" in done.stderr
    prod = project / "registries-prod"
    assert base_url(prod) == PROD_URL and fraud(prod)["max_iterations"] == 5
    found = status_file.read(open_store(prod))
    assert found is not None
    source = found["controller"]["source"]
    assert source["type"] == "git"
    assert [Path(p).parts[-2:] for p in source["paths"]] == [
        ("manifests", "base"), ("overlays", "prod")]
