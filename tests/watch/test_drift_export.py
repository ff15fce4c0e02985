"""`meshctl export --drifted`: live changes written back where their manifests live, so that
afterwards the plan from the manifests has nothing left to do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from reconciler import RegistryManager, engine
from reconciler.model.kinds import Kind
from tests.conftest import BASE_MESH, write
from tests.servers import SCRIPT


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def drift(registries: Path) -> None:
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    fraud = manager.entry(Kind.AGENT, "fraud_agent")
    assert fraud is not None
    manager.update_agent("fraud_agent", {**fraud, "max_iterations": 3})
    # no tools: governance grants fraud_agent's to fraud_agent alone (A003)
    manager.create_agent({**fraud, "agent_id": "panel_agent", "name": "Made in the panel",
                          "allowed_tools": []})
    manager.delete_model_profile("claude_opus_3")


def no_changes_left(manifests: Path, registries: Path) -> bool:
    result = engine.make_plan([str(manifests)], registries, use_cache=False)
    assert result.plan is not None, result.errors
    return not result.plan.summary.has_changes


def test_drift_becomes_manifests_in_place(manifests: Path, registries: Path) -> None:
    assert run("export", "--drifted", manifests, "--registries", registries).stdout.startswith(
        "No drift")
    drift(registries)
    assert not no_changes_left(manifests, registries)
    done = run("export", "--drifted", manifests, "--registries", registries, "-o", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {(r["name"], r["status"]) for r in found["resources"]} == {
        ("fraud_agent", "drifted"), ("panel_agent", "not_in_git"),
        ("claude_opus_3", "missing_live")}
    assert sorted(found["written"]) == sorted([str(manifests / "agents" / "fraud_agent.yaml"),
                                               str(manifests / "agents" / "panel_agent.yaml")])
    assert found["removed"] == [str(manifests / "model-profiles" / "claude_opus_3.yaml")]
    assert "max_iterations: 3" in (manifests / "agents" / "fraud_agent.yaml").read_text()
    assert no_changes_left(manifests, registries)


def test_only_the_drifted_document_of_a_file_changes(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    text = BASE_MESH.replace("kind: Agent\nmetadata:\n  name: intake_agent",
                             "kind: Agent\nmetadata:\n  name: intake_agent\n"
                             "  labels: {team: claims}")
    write(manifests / "mesh.yaml", "# the whole mesh, by hand\n" + text)
    registries = tmp_path / "registries"
    registries.mkdir()
    plan = engine.make_plan([str(manifests)], registries, use_cache=False)
    assert plan.plan is not None
    engine.apply_plan(plan.plan, registries)
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    intake = manager.entry(Kind.AGENT, "intake_agent")
    assert intake is not None
    manager.update_agent("intake_agent", {**intake, "description": "Normalises claims\n"
                                                                    "and more"})
    done = run("export", "--drifted", manifests, "--registries", registries)
    assert done.returncode == 0, done.stderr
    after = (manifests / "mesh.yaml").read_text()
    assert after.startswith("# the whole mesh, by hand\n")  # the other documents as they were
    assert after.count("\n---\n") == text.count("\n---\n")
    assert "description: |-\n    Normalises claims\n    and more" in after
    assert "team: claims" in after  # labels live in manifests only: kept
    head = text.partition("name: intake_agent")[0].rsplit("---", 1)[0]
    assert after.startswith("# the whole mesh, by hand\n" + head)
    assert no_changes_left(manifests, registries)


def test_out_writes_beside_and_lists_what_it_cannot(manifests: Path, registries: Path,
                                                    tmp_path: Path) -> None:
    drift(registries)
    before = {p: p.read_bytes() for p in manifests.rglob("*.yaml")}
    out = tmp_path / "drift"
    done = run("export", "--drifted", manifests, "--registries", registries, "--out", out)
    assert done.returncode == 0, done.stderr
    assert {p: p.read_bytes() for p in manifests.rglob("*.yaml")} == before
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml")) == [
        "agents/fraud_agent.yaml", "agents/panel_agent.yaml"]
    assert "model-profile/claude_opus_3 was deleted live: remove its manifest by hand" in \
        done.stdout


def test_path_without_drifted_is_a_usage_error(manifests: Path, registries: Path) -> None:
    done = run("export", manifests, "--registries", registries)
    assert done.returncode == 1 and "PATH is for --drifted" in done.stderr
