"""Every command with `--env` (issue 25): the environment of meshctl.yaml gives the
manifest layers, the store and the options it fixes; an option on the command line wins;
`MESHCTL_ENV` works too. And `--all-envs` for validate and plan, with their exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, line_of, write
from tests.environments import make_project

Run = Callable[..., CliResult]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.delenv("MESHCTL_ENV", raising=False)
    monkeypatch.delenv("MESHCTL_STORE", raising=False)
    monkeypatch.delenv("MESHCTL_MANIFESTS", raising=False)
    return root


def agent_entry(store: Path, name: str) -> dict[str, Any]:
    data = json.loads((store / "agent_registry.json").read_text(encoding="utf-8"))
    return next(a for a in data["agents"] if a["agent_id"] == name)


def planned(result: CliResult) -> dict[str, str]:
    """key -> action of a plan printed with -o json."""
    return {f"{c['kind']}/{c['name']}": c["action"] for c in json.loads(result.out)["changes"]
            if c["action"] != "noop"}


def test_validate_plan_and_diff_read_the_environment(project: Path, meshctl: Run) -> None:
    assert meshctl("validate", "--env", "dev").code == 0
    dev = meshctl("plan", "--env", "dev", "-o", "json")
    assert dev.code == 0, dev.output
    assert planned(dev) == {"Agent/fraud_agent": "update"}
    prod = meshctl("plan", "--env", "prod", "-o", "json")
    assert planned(prod) == {"Connector/guidewire_claims": "update"}
    diff = meshctl("diff", "--env", "dev")
    assert '"max_iterations": 3' in diff.out and "experimental_scoring" in diff.out


def test_apply_get_describe_history_and_rollback_use_its_store(project: Path,
                                                               meshctl: Run) -> None:
    assert meshctl("apply", "--env", "dev", "--auto-approve").code == 0
    assert agent_entry(project / "registries-dev", "fraud_agent")["max_iterations"] == 3
    assert agent_entry(project / "registries-prod", "fraud_agent")["max_iterations"] == 5
    got = meshctl("get", "agent", "fraud_agent", "--env", "dev", "-o", "json")
    assert json.loads(got.out)["max_iterations"] == 3
    got = meshctl("get", "agent", "fraud_agent", "--env", "prod", "-o", "json")
    assert json.loads(got.out)["max_iterations"] == 5
    described = meshctl("describe", "agent", "fraud_agent", "--env", "dev")
    assert described.code == 0 and "manifests/base/agents/fraud_agent.yaml" in described.out
    history = meshctl("history", "--env", "dev", "-o", "json")
    assert len(json.loads(history.out)) == 1
    assert json.loads(meshctl("history", "--env", "prod", "-o", "json").out) == []
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    overlay.write_text(overlay.read_text().replace("max_iterations: 3", "max_iterations: 4"))
    assert meshctl("apply", "--env", "dev", "--auto-approve").code == 0
    assert agent_entry(project / "registries-dev", "fraud_agent")["max_iterations"] == 4
    assert meshctl("rollback", "1", "--env", "dev", "--auto-approve").code == 0
    assert agent_entry(project / "registries-dev", "fraud_agent")["max_iterations"] == 3
    status = meshctl("status", "--env", "dev")  # no watch has run on the dev store
    assert status.code == 1 and "'registries-dev'" in status.output


def test_export_graph_fmt_and_access_take_the_environment(project: Path, tmp_path: Path,
                                                         meshctl: Run) -> None:
    assert meshctl("apply", "--env", "dev", "--auto-approve").code == 0
    out = tmp_path / "exported"
    assert meshctl("export", "--env", "dev", "--out", out).code == 0
    assert "max_iterations: 3" in (out / "agents" / "fraud_agent.yaml").read_text()
    graph = meshctl("graph", "--env", "dev", "-o", "json")
    assert graph.code == 0 and "fraud_agent" in graph.out
    assert meshctl("fmt", "--check", "--env", "prod").code == 0
    allowed = meshctl("access", "check", "fraud_agent", "use", "fraud_rules", "--env", "dev")
    assert allowed.code == 0, allowed.output


def test_meshctl_env_and_the_command_line_winning(project: Path, meshctl: Run,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHCTL_ENV", "prod")
    assert planned(meshctl("plan", "-o", "json")) == {"Connector/guidewire_claims": "update"}
    monkeypatch.setenv("MESHCTL_STORE", "registries-dev")  # the environment's store wins
    result = meshctl("plan", "-o", "json")
    assert json.loads(result.out)["meta"]["registries"].endswith("registries-prod")
    monkeypatch.delenv("MESHCTL_ENV")
    monkeypatch.delenv("MESHCTL_STORE")
    # --store on the command line wins over the environment's store
    assert meshctl("apply", "--env", "prod", "--store", "registries-dev",
                   "--auto-approve").code == 0
    connectors = (project / "registries-dev" / "integration" / "connectors.json").read_text()
    assert "https://claims.example.com/gw" in connectors
    assert "https://claims.example.com/gw" not in (
        project / "registries-prod" / "integration" / "connectors.json").read_text()


def _breaking_change(project: Path) -> None:
    tool = project / "manifests" / "base" / "tools" / "fraud_rules.yaml"
    text = tool.read_text()
    assert "    required:\n    - claim_data\n" in text
    tool.write_text(text.replace("    required:\n    - claim_data\n",
                                 "    required:\n    - claim_data\n    - rule_version\n"))


def test_the_options_an_environment_fixes(project: Path, meshctl: Run) -> None:
    _breaking_change(project)
    assert meshctl("plan", "--env", "dev").code == 0  # a warning in dev
    refused = meshctl("plan", "--env", "prod")  # prod says deny_breaking: true
    assert refused.code == 1 and "B001" in refused.output
    assert meshctl("plan", "--env", "prod", "--allow-breaking").code == 0  # the line wins


def test_all_envs_validate_and_plan_exit_codes(project: Path, meshctl: Run) -> None:
    valid = meshctl("validate", "--all-envs")
    assert valid.code == 0 and "2 environments: dev valid, prod valid" in valid.out
    report = json.loads(meshctl("validate", "--all-envs", "-o", "json").out)
    assert [e["environment"] for e in report["environments"]] == ["dev", "prod"]
    changes = meshctl("plan", "--all-envs", "--detailed-exitcode", "-o", "markdown")
    assert changes.code == 2
    assert "### meshctl plan: dev" in changes.out and "### meshctl plan: prod" in changes.out
    for env in ("dev", "prod"):
        assert meshctl("apply", "--env", env, "--auto-approve").code == 0
    assert meshctl("plan", "--all-envs", "--detailed-exitcode").code == 0
    _breaking_change(project)
    plans = json.loads(meshctl("plan", "--all-envs", "-o", "json").out)["environments"]
    assert [p["plan"]["summary"]["refused"] for p in plans] == [0, 1]
    assert meshctl("plan", "--all-envs", "--detailed-exitcode").code == 1
    overlay = write(project / "manifests" / "overlays" / "dev" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        spec: {max_iterations: 0}
        """)
    invalid = meshctl("validate", "--all-envs")
    assert invalid.code == 1 and "dev invalid, prod valid" in invalid.out
    assert f"{Path('manifests/overlays/dev/agents.yaml')}:{line_of(overlay, 'max_iter')}" \
        in invalid.out
    github = meshctl("validate", "--all-envs", "-o", "github")
    assert "[dev] " in github.out  # only dev has it


def test_environment_errors(project: Path, meshctl: Run, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = meshctl("plan", "--env", "prd")
    assert unknown.code == 1 and "did you mean 'prod'?" in unknown.output
    assert meshctl("plan", "--all-envs", "--env", "dev").code == 1
    assert "--project needs --env" in meshctl("plan", "--project", "meshctl.yaml").output
    assert meshctl("validate", "--all-envs", "--project", "meshctl.yaml").code == 0
    (project / "manifests" / "overlays" / "dev" / "agents.yaml").unlink()
    (project / "manifests" / "overlays" / "dev").rmdir()
    missing = meshctl("validate", "--env", "dev")
    line = line_of(project / "meshctl.yaml", "overlays/dev")
    assert missing.code == 1 and f"meshctl.yaml:{line}: environment 'dev'" in missing.output
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    assert "no meshctl.yaml" in meshctl("validate", "--env", "dev").output
