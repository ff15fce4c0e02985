"""`meshctl diff`: unified JSON diffs of the plan's changes; kubectl's exit codes (0 none,
1 differences, 2 trouble)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, agent, write
from tests.plan.conftest import MANIFESTS, edit, make_workspace, tool

Run = Callable[..., CliResult]
FRAUD_AGENT = MANIFESTS / "agents" / "fraud_agent.yaml"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def test_no_differences_exit_0_silently(ws: Path, meshctl: Run) -> None:
    result = meshctl("diff")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_an_update_is_a_unified_diff_of_sorted_json(ws: Path, meshctl: Run) -> None:
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 7")
    result = meshctl("diff")
    assert result.code == 1, result.output
    lines = result.out.splitlines()
    assert lines[:2] == ["--- live/agent/fraud_agent", "+++ desired/agent/fraud_agent"]
    assert lines[2].startswith("@@ ")
    assert '-  "max_iterations": 5,' in lines
    assert '+  "max_iterations": 7,' in lines
    changed = [line for line in lines[2:] if line[:1] in "+-"]
    assert changed == ['-  "max_iterations": 5,', '+  "max_iterations": 7,']


def test_creates_and_deletes_are_all_plus_or_all_minus(ws: Path, meshctl: Run) -> None:
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    result = meshctl("diff", "manifests")
    assert result.code == 1
    created, deleted = result.out.split("--- live/model-profile/gpt4\n")
    assert created.startswith("--- live/tool/new_tool\n+++ desired/tool/new_tool\n@@ -0,0 +1,")
    body = created.splitlines()[3:]
    assert body[0] == "+{" and body[-1] == "+}"
    assert all(line.startswith("+") for line in body)
    assert '+  "tool_id": "new_tool"' in body
    assert deleted.startswith("+++ desired/model-profile/gpt4\n@@ -1,")
    body = deleted.splitlines()[2:]
    assert all(line.startswith("-") for line in body)
    assert '-  "profile_id": "gpt4",' in body


def test_noise_is_not_a_difference(ws: Path, meshctl: Run) -> None:
    edit(MANIFESTS / "model-profiles" / "gpt4.yaml", "top_p: 1.0", "top_p: 1")
    edit(MANIFESTS / "agents" / "explainability_agent.yaml", "  allowed_tools: []\n", "")
    assert meshctl("diff").code == 0


def test_no_prune_leaves_out_live_only_resources(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    assert meshctl("diff").code == 1
    assert meshctl("diff", "--no-prune").code == 0


def test_invalid_manifests_exit_2(ws: Path, meshctl: Run) -> None:
    path = write(MANIFESTS / "bad.yaml", agent("bad_agent", "max_iterations: 0"))
    result = meshctl("diff")
    assert result.code == 2
    assert result.out == ""
    assert f"{path}:" in result.err and "S003" in result.err


def test_unreadable_registries_exit_2(ws: Path, meshctl: Run) -> None:
    Path("registries/tool_registry.json").write_text("[", encoding="utf-8")
    result = meshctl("diff")
    assert result.code == 2
    assert "L001" in result.err


def test_a_missing_registries_directory_exits_2(ws: Path, meshctl: Run) -> None:
    result = meshctl("diff", "--registries", "nowhere")
    assert result.code == 2
    assert "registries directory 'nowhere' not found" in result.err


def test_a_missing_manifests_path_exits_2(ws: Path, meshctl: Run) -> None:
    result = meshctl("diff", "nowhere")
    assert result.code == 2
    assert "nowhere" in result.err


@pytest.mark.parametrize("args", [("diff", "--nope"), ("diff", "--jobs", "zero"),
                                  ("--debug", "diff", "--nope")])
def test_usage_errors_exit_2(ws: Path, meshctl: Run, args: tuple[str, ...]) -> None:
    result = meshctl(*args)
    assert result.code == 2
    assert "Error" in result.err and "Traceback" not in result.err


def test_an_update_shows_only_what_the_plan_counts(ws: Path, meshctl: Run) -> None:
    profile = MANIFESTS / "model-profiles" / "default_gpt35.yaml"
    edit(profile, "temperature: 0.3", "temperature: 0.2")
    edit(profile, "top_p: 1.0", "top_p: 1")  # noise: the same number
    edit(profile, "  json_mode: true\n", "")  # a real change: the default is false
    result = meshctl("diff")
    assert result.code == 1, result.output
    changed = [line for line in result.out.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ['-  "json_mode": true,', '+  "json_mode": false,',
                       '-    "temperature": 0.3,', '+    "temperature": 0.2,']
