"""`meshctl plan`, in-process through `reconciler.cli.main` (which maps errors to exit codes),
in a working directory holding copies of the example `manifests/` and `registries/`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.plan import planfile
from tests.conftest import CliResult, agent, line_of, write
from tests.plan.conftest import MANIFESTS, edit, make_workspace, tool

Run = Callable[..., CliResult]
FRAUD_AGENT = MANIFESTS / "agents" / "fraud_agent.yaml"
TOOL_ACCESS = MANIFESTS / "policies" / "agent_tool_access.yaml"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def change_something() -> None:
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 7")


# --- exit codes -----------------------------------------------------------------------------


def test_no_changes_exits_0_even_with_detailed_exitcode(ws: Path, meshctl: Run) -> None:
    for args in ((), ("--detailed-exitcode",)):
        result = meshctl("plan", *args)
        assert result.code == 0, result.output
        lines = result.out.splitlines()
        assert lines[0] == "No changes. The live registries match the manifests."
        assert [line.split()[2] for line in lines[1:-1]] == ["H003:", "H003:"]  # real data's
        assert lines[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 0 refused."
        assert result.err == ""


def test_changes_exit_0_or_2_with_detailed_exitcode(ws: Path, meshctl: Run) -> None:
    change_something()
    plain = meshctl("plan")
    assert plain.code == 0, plain.output
    detailed = meshctl("plan", "--detailed-exitcode")
    assert detailed.code == 2
    assert detailed.out == plain.out
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 refused." in plain.out
    assert "      ~ max_iterations: 5 -> 7" in plain.out.splitlines()


def test_a_refusal_exits_1_naming_every_user(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    expected = (f"  ! tool/fraud_rules Cannot delete tool 'fraud_rules': used by agents "
                f"fraud_agent ({FRAUD_AGENT}:{line_of(FRAUD_AGENT, '- fraud_rules')}); "
                f"policies agent_tool_access ({TOOL_ACCESS}:"
                f"{line_of(TOOL_ACCESS, '- fraud_rules')})")
    for args in ((), ("--detailed-exitcode",)):
        result = meshctl("plan", *args)
        assert result.code == 1, result.output
        assert expected in result.out.splitlines()
        assert result.out.splitlines()[-1].startswith(
            "Plan: 0 to create, 0 to update, 1 to delete, 1 refused. Impact: 9 dependents "
            "(2 agents, 1 workflow, 6 policies).")


def test_deleting_the_orchestrator_exits_1(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "agents" / "orchestrator_agent.yaml").unlink()
    result = meshctl("plan", "-o", "json")
    assert result.code == 1
    data = json.loads(result.out)
    (refused,) = [c for c in data["changes"] if c.get("refused")]
    assert refused["name"] == "orchestrator_agent"
    assert refused["refused"] == ("Cannot delete agent 'orchestrator_agent': the orchestrator "
                                  "can be updated, never deleted")
    assert data["summary"]["refused"] == 1


def test_deleting_a_resource_with_all_its_users_exits_0(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "tools" / "similarity.yaml").unlink()
    edit(FRAUD_AGENT, "  - similarity\n", "")
    edit(TOOL_ACCESS, "    - similarity\n", "", count=-1)
    result = meshctl("plan", "--detailed-exitcode")
    assert result.code == 2, result.output
    assert "  - tool/similarity  registries/tool_registry.json" in result.out.splitlines()
    assert "!" not in result.out


def test_invalid_manifests_exit_1_with_no_plan(ws: Path, meshctl: Run) -> None:
    path = write(MANIFESTS / "bad.yaml", agent("bad_agent", "max_iterations: 0"))
    result = meshctl("plan", "--detailed-exitcode")
    assert result.code == 1
    assert result.out == ""
    assert f"{path}:{line_of(path, 'max_iterations')}: error S003" in result.err
    assert "No plan: 1 error, 2 warnings" in result.err


def test_invalid_manifests_as_json(ws: Path, meshctl: Run) -> None:
    path = write(MANIFESTS / "bad.yaml", agent("bad_agent", "allowed_tools: [nowhere]"))
    result = meshctl("plan", "-o", "json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["valid"] is False
    (error,) = [d for d in data["diagnostics"] if d["code"] != "H003"]
    assert (error["code"], error["file"], error["line"]) == (
        "R002", str(path), line_of(path, "allowed_tools"))


def test_a_reference_to_nothing_is_an_error_even_without_pruning(ws: Path, meshctl: Run) -> None:
    write(MANIFESTS / "new.yaml", agent("new_agent", model="no_such_profile"))
    for args in ((), ("--no-prune",)):
        result = meshctl("plan", *args)
        assert result.code == 1
        assert "error R001" in result.err and "no_such_profile" in result.err


def test_unreadable_registries_exit_1(ws: Path, meshctl: Run) -> None:
    Path("registries/agent_registry.json").write_text('{"agents": [', encoding="utf-8")
    result = meshctl("plan")
    assert result.code == 1
    assert "registries/agent_registry.json" in result.err and "L001" in result.err
    assert "No plan" in result.err


def test_a_missing_registries_directory_exits_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("plan", "--registries", "no/such/dir")
    assert result.code == 1
    assert result.out == ""
    assert "registries directory 'no/such/dir' not found" in result.err


@pytest.mark.parametrize("args", [("--nope",), ("-o", "yaml"), ("--jobs", "0"),
                                  ("manifests", "--out")])
def test_usage_errors_exit_1(ws: Path, meshctl: Run, args: tuple[str, ...]) -> None:
    result = meshctl("plan", *args)
    assert result.code == 1
    assert "Error" in result.err and "Traceback" not in result.err


def test_a_missing_manifests_path_exits_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("plan", "no_such_dir")
    assert result.code == 1
    assert "no_such_dir" in result.err


# --- prune ----------------------------------------------------------------------------------


def test_prune_and_no_prune(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    pruned = meshctl("plan", "--detailed-exitcode")
    assert pruned.code == 2
    assert "  - model-profile/gpt4  registries/model_profiles.json" in pruned.out.splitlines()
    kept = meshctl("plan", "--no-prune", "--detailed-exitcode")
    assert kept.code == 0
    assert "gpt4" not in kept.out and "No changes." in kept.out


def test_no_prune_lets_manifests_refer_to_live_only_resources(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    write(MANIFESTS / "new.yaml", agent("new_agent", model="gpt4"))
    kept = meshctl("plan", "--no-prune")
    assert kept.code == 0, kept.output
    assert "  + agent/new_agent  manifests/new.yaml:1" in kept.out.splitlines()
    pruned = meshctl("plan")
    assert pruned.code == 1
    assert ("Cannot delete model profile 'gpt4': used by agents new_agent (manifests/new.yaml:"
            f"{line_of(MANIFESTS / 'new.yaml', 'model_profile_id')})") in pruned.out


# --- output formats -------------------------------------------------------------------------


def test_json_output(ws: Path, meshctl: Run) -> None:
    change_something()
    result = meshctl("plan", "-o", "json", "--detailed-exitcode")
    assert result.code == 2
    data = json.loads(result.out)
    assert {"format_version", "live_fingerprint", "summary", "changes"} <= set(data)
    assert data["format_version"] == 1
    assert data["summary"]["create"] == 1 and data["summary"]["update"] == 1
    actions = {(c["kind"], c["name"]): c["action"] for c in data["changes"]}
    assert actions[("Tool", "new_tool")] == "create"
    assert actions[("Agent", "fraud_agent")] == "update"
    assert len(actions) == 30


def test_markdown_output(ws: Path, meshctl: Run) -> None:
    change_something()
    result = meshctl("plan", "-o", "markdown")
    assert result.code == 0
    assert result.out.startswith("### meshctl plan\n")
    assert "| 1 | 1 | 0 | 0 | 8 |" in result.out
    assert "<details><summary>Updates (1)</summary>" in result.out
    assert "<details><summary>Creates (1)</summary>" in result.out


def test_a_long_description_shows_what_was_appended(ws: Path, meshctl: Run,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: cut at 40 characters a side, `old -> new` never showed the " (v2)"."""
    edit(FRAUD_AGENT, "using rule-based and heuristic analysis",
         "using rule-based and heuristic analysis (v2)")
    result = meshctl("plan")
    assert result.code == 0, result.output
    assert '      ~ description: … and heuristic analysis{+ (v2)+}"' in result.out.splitlines()
    markdown = meshctl("plan", "-o", "markdown").out
    assert '  - `~ description`: `… and heuristic analysis{+ (v2)+}"`' in markdown.splitlines()
    pretend_terminal(monkeypatch)
    coloured = meshctl("plan").out
    assert "(v2)" in coloured and "\x1b[" in coloured and "{+" not in coloured  # green
    assert "{+ (v2)+}" in meshctl("plan", "--no-color").out


def test_out_saves_a_plan_that_loads_as_the_computed_one(ws: Path, meshctl: Run) -> None:
    change_something()
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    result = meshctl("plan", "--out", "saved.json")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "Saved the plan to saved.json."
    saved = planfile.load(Path("saved.json"))
    computed = engine.make_plan(["manifests"], "registries", use_cache=False).plan
    assert saved == computed
    assert planfile.dumps(saved) + b"\n" == Path("saved.json").read_bytes()
    as_json = meshctl("plan", "-o", "json", "--out", "again.json")
    assert as_json.out.encode() == Path("again.json").read_bytes()


def test_out_is_written_for_a_refused_plan_too(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    assert meshctl("plan", "--out", "saved.json").code == 1
    assert planfile.load(Path("saved.json")).summary.refused == 1


def test_an_unwritable_out_file_is_an_error_not_a_crash(ws: Path, meshctl: Run) -> None:
    result = meshctl("plan", "--out", "no_such_dir/plan.json")
    assert result.code == 1
    assert result.err == ("Error: cannot write the plan to no_such_dir/plan.json: "
                          "No such file or directory\n")


def test_export_then_plan_shows_no_changes(ws: Path, meshctl: Run) -> None:
    exported = meshctl("export", "--registries", "registries", "--out", "exported")
    assert exported.code == 0, exported.output
    result = meshctl("plan", "exported", "--detailed-exitcode")
    assert result.code == 0, result.output
    assert result.out.startswith("No changes.")


def test_environment_sets_the_default_paths(ws: Path, meshctl: Run,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    Path("manifests").rename("desired")
    Path("registries").rename("live")
    monkeypatch.setenv("MESHCTL_MANIFESTS", "desired")
    monkeypatch.setenv("MESHCTL_REGISTRIES", "live")
    result = meshctl("plan", "--detailed-exitcode")
    assert result.code == 0, result.output


# --- colour ---------------------------------------------------------------------------------


def pretend_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output claims to be a colour terminal (the capture still records it). Called
    in the test itself: the capture replaces sys.stdout between setup and call."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)


def test_colour_only_on_a_terminal(ws: Path, meshctl: Run,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    change_something()
    pretend_terminal(monkeypatch)
    coloured = meshctl("plan")
    assert "\x1b[" in coloured.out  # the control: a terminal does get colour
    assert "\x1b[" not in meshctl("plan", "--no-color").out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in meshctl("plan").out


def test_no_colour_when_not_a_terminal(ws: Path, meshctl: Run,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    change_something()
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    result = meshctl("plan")
    assert "\x1b[" not in result.out + result.err
    assert "  ! tool/fraud_rules" in result.out
