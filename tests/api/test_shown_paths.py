"""No answer of the API names a folder of the server's disk (issue 27, finding 6): a
manifest is named by its place under the manifests folder (`manifests/agents/x.yaml`), a
registry file under the registries folder (`registries/agent_registry.json`), in the plan,
the stats, /health and the watch status; what a user wrote in an entry is never changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reconciler.api import create_app
from reconciler.api.shown_paths import ShownPaths
from tests.api.inprocess import InProcess
from tests.conftest import FIXTURE_REGISTRIES, copy_tree

ROOT = Path(__file__).resolve().parents[2]


def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """The example registries and manifests under a deep folder, fraud_agent's manifest
    edited (a plan with one update), its description naming the folder (a user's text)."""
    deep = tmp_path / "srv" / "alice"
    registries = copy_tree(FIXTURE_REGISTRIES, deep / "registries")
    manifests = copy_tree(ROOT / "manifests", deep / "manifests")
    fraud = manifests / "agents" / "fraud_agent.yaml"
    fraud.write_text(fraud.read_text().replace("max_iterations: 5", "max_iterations: 6", 1)
                     .replace("  description: ", f"  description: see {deep}/notes; ", 1))
    return registries, manifests


def no_disk_path(answer: Any, root: Path, *, but: str | None = None) -> None:
    text = json.dumps(answer)
    if but is not None:
        text = text.replace(but, "")
    assert str(root) not in text, text[:2000]


def test_the_plan_names_manifests_and_registry_files_by_their_folders(tmp_path: Path) -> None:
    registries, manifests = workspace(tmp_path)
    app = create_app(str(registries), watch=False, manifests=str(manifests))
    answer = InProcess(app).get("/registries/plan").json()
    app.state.registry.close()
    plan = answer["plan"]
    fraud = next(c for c in plan["changes"] if c["name"] == "fraud_agent")
    assert fraud["action"] == "update"
    assert fraud["source"]["file"] == "manifests/agents/fraud_agent.yaml"
    assert {w["file"] for w in plan["warnings"]} <= {"manifests/workflows/claims_triage.yaml"}
    assert plan["meta"]["registries"] == "registries"
    assert plan["meta"]["manifests"] == ["manifests"]
    # The description is the user's: the folder it names stays as written.
    written = f"see {registries.parent}/notes"
    assert written in fraud["after"]["description"]
    no_disk_path(answer, tmp_path, but=written)


def test_stats_and_health_name_registry_files_by_their_folder(tmp_path: Path) -> None:
    registries, _ = workspace(tmp_path)
    agents = json.loads((registries / "agent_registry.json").read_text())
    agents["agents"].append({"agent_id": "half_agent", "name": "Half"})  # cannot load: L007
    (registries / "agent_registry.json").write_text(json.dumps(agents))
    app = create_app(str(registries), watch=False)
    api = InProcess(app)
    stats = api.get("/registries/stats").json()
    assert [u["file"] for u in stats["unloadable"]] == ["registries/agent_registry.json"]
    no_disk_path(stats, tmp_path)
    # The registries turn unreadable: the last good state is served, the error says which
    # file without the folders above it (/health needs no token: anyone may read it).
    (registries / "agent_registry.json").write_text("{not json")
    reloaded = api.post("/registries/reload").json()
    health = api.get("/health").json()
    app.state.registry.close()
    assert health["status"] == "degraded"
    assert "registries/agent_registry.json" in health["last_error"], health
    no_disk_path([reloaded, health], tmp_path)


def test_the_watch_status_names_the_manifests_by_their_folder(tmp_path: Path) -> None:
    registries, manifests = workspace(tmp_path)
    broken = manifests / "agents" / "broken.yaml"
    broken.write_text("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata:\n  name: broken\n"
                      "spec:\n  name: Broken\n  model_profile_id: no_such_profile\n")
    subprocess.run([sys.executable, "-m", "reconciler", "watch", "--once", str(manifests),
                    "--store", str(registries)], capture_output=True, check=False,
                   timeout=120)
    app = create_app(str(registries), watch=False, manifests=str(manifests))
    status = InProcess(app).get("/registries/watch/status").json()
    app.state.registry.close()
    assert status["configured"] is True
    assert status["controller"]["source"]["paths"] == ["manifests"]
    last = status["last_sync"]
    assert last["result"] == "failed", last
    assert "manifests/agents/broken.yaml" in last["message"]
    assert any(e["file"] == "manifests/agents/broken.yaml" for e in last["errors"])
    no_disk_path(status, tmp_path)


def test_a_folder_whose_name_starts_like_a_root_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests2").mkdir()
    shown = ShownPaths.of([tmp_path / "manifests", "postgresql://u@db/mesh"])
    assert shown.text(f"{tmp_path}/manifests/a.yaml") == "manifests/a.yaml"
    assert shown.text(f"{tmp_path}/manifests2/a.yaml") == f"{tmp_path}/manifests2/a.yaml"
    assert shown.text(f"at {tmp_path}/manifests: 3 files") == "at manifests: 3 files"
    assert ShownPaths.of(["postgresql://u@db/mesh"]).text("x/y") == "x/y"


def test_plans_shown_before_a_save_or_an_undo_name_no_folder(tmp_path: Path) -> None:
    """The panel's plan before Save (`/registries/changes` dry run) and a revert's preview
    name the registry file each live resource is in by the registries folder's name."""
    registries, _ = workspace(tmp_path)
    app = create_app(str(registries), watch=False)
    api = InProcess(app)
    fraud = api.get("/registries/agents/fraud_agent").json()
    fraud.pop("resource_version")
    edited = {**fraud, "max_iterations": 7}
    planned = api.post("/registries/changes", json={"dry_run": True, "changes": [
        {"kind": "Agent", "name": "fraud_agent", "entry": edited}]}).json()
    assert planned["plan"]["changes"][0]["source"]["file"] == "registries/agent_registry.json"
    no_disk_path(planned, tmp_path)
    assert api.put("/registries/agents/fraud_agent", json=edited).status_code == 200
    head = api.get("/health").json()["revision"]
    shown = api.get(f"/registries/revert/{head}/plan").json()
    app.state.registry.close()
    assert shown["committable"] is True and shown["changes"]
    no_disk_path(shown, tmp_path)
