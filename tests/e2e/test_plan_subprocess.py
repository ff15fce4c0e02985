"""The real `meshctl` executable planning and diffing copies of the example mesh: exit codes
as a CI job sees them, the saved plan, and colour on a real terminal (a pseudo-terminal)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.plan import planfile
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, copy_tree, line_of, write
from tests.plan.conftest import edit, tool

SCRIPT = Path(sys.executable).parent / "meshctl"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "reconciler"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MESHCTL_") and k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


def meshctl(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], cwd=cwd, env=environment(**env),
                          capture_output=True, text=True, timeout=60, check=False)


def on_a_terminal(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """Run with standard output on a pseudo-terminal; the exit code and what it showed."""
    main, child = pty.openpty()
    process = subprocess.Popen([*COMMAND, *args], cwd=cwd, env=environment(**env),
                               stdout=child, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(child)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=60), b"".join(chunks).decode()


def change_something(root: Path) -> None:
    write(root / "manifests" / "new.yaml", tool("new_tool"))
    edit(root / "manifests" / "agents" / "fraud_agent.yaml", "max_iterations: 5",
         "max_iterations: 7")


def test_plan_exit_codes(work: Path) -> None:
    unchanged = meshctl("plan", "--detailed-exitcode", cwd=work)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "No changes." in unchanged.stdout
    change_something(work)
    assert meshctl("plan", cwd=work).returncode == 0
    changed = meshctl("plan", "--detailed-exitcode", cwd=work)
    assert changed.returncode == 2
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 refused." in changed.stdout
    (work / "manifests" / "tools" / "fraud_rules.yaml").unlink()
    refused = meshctl("plan", "--detailed-exitcode", cwd=work)
    assert refused.returncode == 1
    agents = "manifests/agents/fraud_agent.yaml"
    policies = "manifests/policies/agent_tool_access.yaml"
    assert ("  ! tool/fraud_rules Cannot delete tool 'fraud_rules': used by agents fraud_agent "
            f"({agents}:{line_of(work / agents, '- fraud_rules')}); policies agent_tool_access "
            f"({policies}:{line_of(work / policies, '- fraud_rules')})"
            ) in refused.stdout.splitlines()


def test_plan_errors_exit_1_without_a_traceback(work: Path) -> None:
    (work / "registries" / "agent_registry.json").write_text("{", encoding="utf-8")
    for args in (("plan",), ("plan", "--nope"), ("plan", "missing_dir")):
        result = meshctl(*args, cwd=work)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stdout + result.stderr
    assert "L001" in meshctl("plan", cwd=work).stderr


def test_saved_plan_and_json_output(work: Path) -> None:
    change_something(work)
    result = meshctl("plan", "-o", "json", "--out", "plan.json", cwd=work)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert {"format_version", "live_fingerprint", "summary", "changes"} <= set(printed)
    saved = planfile.load(work / "plan.json")
    assert planfile.to_dict(saved) == printed
    assert planfile.dumps(saved) + b"\n" == (work / "plan.json").read_bytes()
    assert saved.summary.create == 1 and saved.summary.update == 1


def test_export_then_plan_shows_no_changes(work: Path) -> None:
    exported = meshctl("export", "--out", "exported", cwd=work)
    assert exported.returncode == 0, exported.stderr
    result = meshctl("plan", "exported", "--detailed-exitcode", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("No changes.")


def test_diff_exit_codes(work: Path) -> None:
    assert meshctl("diff", cwd=work).returncode == 0
    change_something(work)
    different = meshctl("diff", cwd=work)
    assert different.returncode == 1
    assert "--- live/agent/fraud_agent\n+++ desired/agent/fraud_agent\n" in different.stdout
    assert meshctl("diff", "--nope", cwd=work).returncode == 2
    write(work / "manifests" / "bad.yaml", "kind: [\n")
    broken = meshctl("diff", cwd=work)
    assert broken.returncode == 2
    assert "M001" in broken.stderr and "Traceback" not in broken.stderr


def test_markdown_output(work: Path) -> None:
    change_something(work)
    result = meshctl("plan", "-o", "markdown", cwd=work)
    assert result.returncode == 0
    assert result.stdout.startswith("### meshctl plan\n")
    assert "<details><summary>Updates (1)</summary>" in result.stdout


def test_colour_on_a_terminal_unless_turned_off(work: Path) -> None:
    change_something(work)
    code, shown = on_a_terminal("plan", cwd=work, TERM="xterm-256color")
    assert code == 0
    assert "\x1b[" in shown and "max_iterations" in shown
    for args, env in ((("plan", "--no-color"), {}), (("plan",), {"NO_COLOR": "1"})):
        code, shown = on_a_terminal(*args, cwd=work, TERM="xterm-256color", **env)
        assert code == 0
        assert "\x1b[" not in shown and "max_iterations" in shown
    piped = meshctl("plan", cwd=work, TERM="xterm-256color")
    assert "\x1b[" not in piped.stdout


def test_describe_and_graph(work: Path) -> None:
    described = meshctl("describe", "tool", "fraud_rules", "-o", "json", cwd=work)
    assert described.returncode == 0
    assert json.loads(described.stdout)["declared_in"] == "manifests/tools/fraud_rules.yaml:1"
    drawn = meshctl("graph", "--focus", "gpt4", cwd=work)
    assert drawn.returncode == 0 and drawn.stdout.startswith("digraph mesh {")
    assert meshctl("graph", "--focus", "nothing_like_it", cwd=work).returncode == 1


def test_get_with_aliases_and_formats(work: Path) -> None:
    table = meshctl("get", "mp", cwd=work)
    assert table.returncode == 0 and "gpt4" in table.stdout
    entry = meshctl("get", "ag", "fraud_agent", "-o", "json", cwd=work)
    assert json.loads(entry.stdout)["agent_id"] == "fraud_agent"
    as_yaml = meshctl("get", "tool", "fraud_rules", "-o", "yaml", cwd=work)
    assert as_yaml.stdout.startswith("apiVersion: agentmesh.io/v1\nkind: Tool\n")
    unknown = meshctl("get", "tool", "fraud_rule", cwd=work)
    assert unknown.returncode == 1
    assert "did you mean 'fraud_rules'?" in unknown.stderr
