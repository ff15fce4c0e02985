"""The real `meshctl` executable, run as a user would, on copies of the example mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import agent, line_of, write

SCRIPT = Path(sys.executable).parent / "meshctl"
COMMANDS = [[str(SCRIPT)]] if SCRIPT.exists() else []
COMMANDS.append([sys.executable, "-m", "reconciler"])


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MESHCTL_")}
    environment["NO_COLOR"] = "1"
    environment.update(env or {})
    return subprocess.run([*(command or COMMANDS[0]), *map(str, args)], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), f"{SCRIPT} missing: install the package (pip install -e .)"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: Path(c[-1]).name)
def test_validate_the_example_mesh(command: list[str], manifests: Path, tmp_path: Path) -> None:
    result = run("validate", manifests, cwd=tmp_path, command=command)
    assert result.returncode == 0, result.stderr
    assert "valid: 29 resources in 29 files, 0 errors, 2 warnings" in result.stdout
    assert "\x1b[" not in result.stdout


def test_invalid_manifests_exit_1_with_locations(manifests: Path, tmp_path: Path) -> None:
    path = write(manifests / "extra.yaml", agent("bad", "max_iterations: 0"))
    result = run("validate", "-o", "json", manifests, cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    (diagnostic,) = [d for d in report["diagnostics"] if d["code"] != "H003"]
    assert (diagnostic["code"], diagnostic["file"], diagnostic["line"]) == (
        "S003", str(path), line_of(path, "max_iterations"))
    assert "Traceback" not in result.stdout + result.stderr


def test_usage_errors_exit_1(tmp_path: Path) -> None:
    for args in (("validate", "--nope"), ("get",), ("frobnicate",),
                 ("validate", str(tmp_path / "missing"))):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert "Error" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_export_then_validate_round_trip(registries: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    exported = run("export", "--registries", registries, "--out", out, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "Exported 29 resources" in exported.stdout
    validated = run("validate", out, cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout
    assert "0 errors, 2 warnings" in validated.stdout


def test_environment_variables_set_the_default_paths(registries: Path, manifests: Path,
                                                     tmp_path: Path) -> None:
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {"MESHCTL_REGISTRIES": str(registries), "MESHCTL_MANIFESTS": str(manifests)}
    validated = run("validate", cwd=cwd, env=env)
    assert validated.returncode == 0
    assert "29 resources" in validated.stdout
    got = run("get", "agent", "orchestrator_agent", "-o", "json", cwd=cwd, env=env)
    assert got.returncode == 0
    assert json.loads(got.stdout)["agent_id"] == "orchestrator_agent"
    missing = run("validate", cwd=cwd)  # no env: ./manifests does not exist here
    assert missing.returncode == 1
    assert "manifests: no such file or directory" in missing.stderr


def test_working_directory_defaults(registries: Path, manifests: Path) -> None:
    cwd = manifests.parent
    assert run("validate", cwd=cwd).returncode == 0
    got = run("get", "wf", "-o", "json", cwd=cwd)
    assert got.returncode == 0
    assert [w["workflow_id"] for w in json.loads(got.stdout)] == ["claims_triage"]


@pytest.mark.parametrize("args", [(), ("validate",), ("export",), ("get",)])
def test_every_help_has_examples(args: tuple[str, ...], tmp_path: Path) -> None:
    result = run(*args, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Examples" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("meshctl, version ")
