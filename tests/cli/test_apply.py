"""`meshctl apply`, in-process through `reconciler.cli.main` (and, for the confirmation, the
real executable on a pseudo-terminal), in a working directory holding copies of the example
`manifests/` and `registries/`.

Whatever is refused or fails must leave every registry file as it was: `registry_files`
records bytes, mtime, inode and mode of each, and tests compare it before and after.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.store import filestore, history, lock
from tests.conftest import CliResult, FileState, agent, files_state, line_of, write
from tests.plan.conftest import MANIFESTS, REGISTRIES, edit, edit_registry, make_workspace, tool
from tests.store.test_writer import raw_entries

Run = Callable[..., CliResult]
FRAUD_AGENT = MANIFESTS / "agents" / "fraud_agent.yaml"
META = REGISTRIES / ".meshctl"
MESHCTL = [sys.executable, "-m", "reconciler"]  # the console script, without needing it installed


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def registry_files(root: Path = REGISTRIES) -> FileState:
    return files_state(root)


def audit() -> list[dict[str, Any]]:
    path = META / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def revisions() -> list[int]:
    return history.numbers(META)


def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def bump_fraud(value: int = 7) -> None:
    text = FRAUD_AGENT.read_text()
    current = re.search(r"max_iterations: (\d+)", text)
    assert current is not None
    edit(FRAUD_AGENT, current.group(0), f"max_iterations: {value}")


def unused_profiles(count: int = 2) -> list[str]:
    """Remove the manifests of model profiles nothing uses: their live entries get deleted."""
    names = ["claude_opus_3", "claude_haiku_3", "gpt4_turbo"][:count]
    for name in names:
        (MANIFESTS / "model-profiles" / f"{name}.yaml").unlink()
    return names


def on_terminal(*args: str, answer: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `meshctl` with a pseudo-terminal as stdin, typing `answer` + Enter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHCTL_")}
    env.update(NO_COLOR="1", MESHCTL_CACHE_KEY_FILE=os.environ["MESHCTL_CACHE_KEY_FILE"])
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen([*MESHCTL, *args], cwd=cwd, env=env, stdin=slave,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        os.write(master, answer.encode() + b"\n")
        out, err = process.communicate(timeout=120)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# --- without --plan: show, confirm, apply ---------------------------------------------------


def test_without_a_terminal_it_shows_the_plan_and_writes_nothing(
        ws: Path, meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    bump_fraud()
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    before = registry_files()
    no_terminal(monkeypatch)
    result = meshctl("apply")
    assert result.code == 1
    assert "  ~ agent/fraud_agent  manifests/agents/fraud_agent.yaml:1" in result.out
    assert "      ~ max_iterations: 5 -> 7" in result.out
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 refused." in result.out
    assert result.err == ("Error: no terminal to confirm on: pass --auto-approve to apply "
                          "without asking (or save the plan and apply it with --plan)\n")
    assert registry_files() == before
    assert revisions() == []


def test_auto_approve_applies_and_then_there_is_nothing_to_do(
        ws: Path, meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    bump_fraud()
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    no_terminal(monkeypatch)
    result = meshctl("apply", "--auto-approve")
    assert result.code == 0, result.output
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 refused." in result.out
    assert result.out.endswith("Apply complete: revision 1 (1 created, 1 updated, 0 deleted).\n")
    assert result.err == ""
    assert revisions() == [1]
    plan = meshctl("plan", "--detailed-exitcode")
    assert plan.code == 0
    assert plan.out.startswith("No changes. The live registries match the manifests.\n")
    before = registry_files()
    for args in (("apply",), ("apply", "--auto-approve")):  # nothing to confirm: no terminal needed
        again = meshctl(*args)
        assert again.code == 0, again.output
        lines = again.out.splitlines()
        assert lines[0] == "No changes. The live registries match the manifests."
        assert [line.split()[2] for line in lines[1:-2]] == ["H003:", "H003:"]  # real data's
        assert lines[-2:] == ["Plan: 0 to create, 0 to update, 0 to delete, 0 refused.",
                              "No changes to apply."]
    assert registry_files() == before
    assert revisions() == [1]


def test_json_output(ws: Path, meshctl: Run) -> None:
    bump_fraud()
    unused_profiles(1)
    result = meshctl("apply", "--auto-approve", "-o", "json")
    assert result.code == 0, result.output
    data = json.loads(result.out)  # the plan is not printed: stdout is one JSON document
    assert data == {
        "applied": True, "revision": 1, "summary": {"create": 0, "update": 1, "delete": 1},
        "files": ["model_profiles.json", "agent_registry.json"],
        "fingerprint": filestore.FileStore(REGISTRIES).fingerprint()}
    again = json.loads(meshctl("apply", "--auto-approve", "-o", "json").out)
    assert again == {"applied": False, "revision": None,
                     "summary": {"create": 0, "update": 0, "delete": 0}, "files": [],
                     "fingerprint": data["fingerprint"]}


@pytest.mark.slow  # a real terminal (pty) and a subprocess
def test_on_a_terminal_only_yes_applies(ws: Path) -> None:
    bump_fraud()
    before = registry_files()
    for answer in ("no", "y", "", "YES please"):
        done = on_terminal("apply", answer=answer, cwd=ws)
        assert done.returncode == 1, done.stderr
        assert "Plan: 0 to create, 1 to update" in done.stdout
        assert done.stderr == ("Apply these changes? Only 'yes' will be accepted: "
                               "Apply cancelled; nothing was written.\n")
        assert registry_files() == before
    done = on_terminal("apply", answer="yes", cwd=ws)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "Apply these changes? Only 'yes' will be accepted: "
    assert done.stdout.endswith("Apply complete: revision 1 (0 created, 1 updated, "
                                "0 deleted).\n")
    assert revisions() == [1]
    assert "max_iterations: 7" in FRAUD_AGENT.read_text()
    assert '"max_iterations": 7' in by_agent(json.loads(
        (REGISTRIES / "agent_registry.json").read_text()), "fraud_agent")


def by_agent(data: dict[str, Any], name: str) -> str:
    return json.dumps(next(a for a in data["agents"] if a["agent_id"] == name))


@pytest.mark.slow  # a real terminal (pty) and a subprocess
def test_a_plan_over_max_deletes_is_refused_without_asking(ws: Path) -> None:
    unused_profiles(2)
    before = registry_files()
    done = on_terminal("apply", "--max-deletes", "1", answer="yes", cwd=ws)
    assert done.returncode == 1
    assert "Apply these changes?" not in done.stderr
    assert "the plan deletes 2 resources, more than --max-deletes 1 allows" in done.stderr
    assert registry_files() == before


def test_a_refused_plan_is_shown_not_asked_and_writes_nothing(
        ws: Path, meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    bump_fraud()
    before = registry_files()
    no_terminal(monkeypatch)
    result = meshctl("apply")
    assert result.code == 1
    assert "  ! tool/fraud_rules Cannot delete tool 'fraud_rules': used by agents" in result.out
    assert result.err.startswith("Error: the plan holds 1 refusal; nothing was written: "
                                 "Cannot delete tool 'fraud_rules': used by agents fraud_agent")
    assert "no terminal" not in result.err
    assert registry_files() == before
    assert revisions() == []


def test_invalid_manifests_write_nothing(ws: Path, meshctl: Run) -> None:
    bump_fraud()
    path = write(MANIFESTS / "bad.yaml", agent("bad_agent", "max_iterations: 0"))
    before = registry_files()
    result = meshctl("apply", "--auto-approve")
    assert result.code == 1
    assert result.out == ""
    assert f"{path}:{line_of(path, 'max_iterations')}: error S003" in result.err
    assert registry_files() == before
    assert revisions() == []


def test_unreadable_registries_write_nothing(ws: Path, meshctl: Run) -> None:
    bump_fraud()
    edit_registry("tool_registry.json", lambda d: d["tools"].append({"name": "no id"}))
    before = registry_files()
    result = meshctl("apply", "--auto-approve")
    assert result.code == 1
    assert "registries/tool_registry.json: error L003" in result.err
    assert registry_files() == before


# --- --plan FILE --------------------------------------------------------------------------


def save_plan(meshctl: Run, name: str = "plan.json", *args: str) -> Path:
    result = meshctl("plan", "--out", name, *args)
    assert Path(name).exists(), result.output
    return Path(name)


def test_a_saved_plan_is_applied_exactly_without_asking(
        ws: Path, meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    bump_fraud()
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    plan_file = save_plan(meshctl)
    planned = {(c["kind"], c["name"]): c for c in json.loads(plan_file.read_text())["changes"]}
    # Manifests edited after planning do not matter: the plan is what gets applied.
    bump_fraud(8)
    (MANIFESTS / "new.yaml").unlink()
    no_terminal(monkeypatch)
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 0, result.output
    assert result.out == "Apply complete: revision 1 (1 created, 1 updated, 0 deleted).\n"
    record = history.load(META, 1)
    assert {(c["kind"], c["name"]): c["after"] for c in record["changes"]} == {
        key: change["after"] for key, change in planned.items() if change["action"] != "noop"}
    assert json.loads(by_agent(json.loads((REGISTRIES / "agent_registry.json").read_text()),
                               "fraud_agent"))["max_iterations"] == 7
    tools = json.loads((REGISTRIES / "tool_registry.json").read_text())["tools"]
    assert tools[-1]["tool_id"] == "new_tool"


def test_a_saved_plan_takes_no_paths(ws: Path, meshctl: Run) -> None:
    plan_file = save_plan(meshctl)
    for extra in (("manifests",), ("--no-prune",)):
        result = meshctl("apply", "--plan", plan_file, *extra)
        assert result.code == 1
        assert "--plan applies a saved plan: PATH and --no-prune do not apply" in result.err


def test_a_saved_plan_with_refusals_writes_nothing(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    bump_fraud()
    plan_file = save_plan(meshctl)
    before = registry_files()
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 1
    assert result.err.startswith("Error: the plan holds 1 refusal; nothing was written: "
                                 "Cannot delete tool 'fraud_rules'")
    assert registry_files() == before
    assert revisions() == []
    (line,) = audit()
    assert line["result"] == "refused"
    assert line["reason"].startswith("Cannot delete tool 'fraud_rules': used by agents")


def test_a_stale_plan_names_the_revision_that_changed_its_resources(
        ws: Path, meshctl: Run) -> None:
    bump_fraud(7)
    plan_file = save_plan(meshctl)
    bump_fraud(8)
    assert meshctl("apply", "--auto-approve").code == 0
    before = registry_files()
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 1
    assert result.err == ("Error: stale plan: agent fraud_agent changed in revision 1 by cli; "
                          "re-run plan\n")
    assert registry_files() == before
    assert revisions() == [1]


def test_a_stale_plan_names_unrelated_revisions_too(ws: Path, meshctl: Run) -> None:
    bump_fraud(7)
    plan_file = save_plan(meshctl)
    bump_fraud(5)
    unused_profiles(1)
    assert meshctl("apply", "--auto-approve").code == 0
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    assert meshctl("apply", "--auto-approve").code == 0
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 1
    assert result.err == ("Error: stale plan: 1 other resource changed in revision 1 by cli; "
                          "1 other resource changed in revision 2 by cli; re-run plan\n")


def test_a_stale_plan_names_a_change_made_outside_meshctl(ws: Path, meshctl: Run) -> None:
    bump_fraud(7)
    plan_file = save_plan(meshctl)

    def by_hand(data: dict[str, Any]) -> None:
        next(a for a in data["agents"] if a["agent_id"] == "fraud_agent")["max_iterations"] = 4

    edit_registry("agent_registry.json", by_hand)
    before = registry_files()
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 1
    assert result.err == ("Error: stale plan: agent fraud_agent changed outside meshctl; "
                          "re-run plan\n")
    assert registry_files() == before
    edit_registry("tool_registry.json", lambda d: d.update(version="1.0.1"))
    edit_registry("agent_registry.json", by_hand)
    assert meshctl("apply", "--plan", plan_file).err == (
        "Error: stale plan: agent fraud_agent changed outside meshctl; re-run plan\n")


def test_a_stale_plan_after_an_unrelated_outside_change(ws: Path, meshctl: Run) -> None:
    bump_fraud(7)
    plan_file = save_plan(meshctl)
    edit_registry("tool_registry.json", lambda d: d.update(version="1.0.1"))
    result = meshctl("apply", "--plan", plan_file)
    assert result.code == 1
    assert result.err == ("Error: stale plan: the registry files changed outside meshctl; "
                          "re-run plan\n")


def test_a_held_lock_times_out_after_lock_timeout(ws: Path, meshctl: Run) -> None:
    bump_fraud()
    plan_file = save_plan(meshctl)
    before = registry_files()
    with lock.exclusive(META, timeout=1, purpose="another apply"):
        result = meshctl("apply", "--plan", plan_file, "--lock-timeout", "0.2")
    assert result.code == 1
    assert re.fullmatch(r"Error: the registries are locked by pid \d+ on \S+ \(another apply\), "
                        r"since \S+; gave up after 0\.2 s \(raise --lock-timeout, or wait\)\n",
                        result.err), result.err
    assert registry_files() == before
    assert meshctl("apply", "--plan", plan_file).code == 0


# --- --max-deletes -------------------------------------------------------------------------


def test_max_deletes_refuses_naming_the_count(ws: Path, meshctl: Run) -> None:
    unused_profiles(2)
    before = registry_files()
    result = meshctl("apply", "--auto-approve", "--max-deletes", "1")
    assert result.code == 1
    assert result.err == (
        "Error: the plan deletes 2 resources, more than --max-deletes 1 allows; nothing was "
        "written. If that is intended, pass --max-deletes 2 (or -1); if not, check that PATH "
        "holds all the manifests\n")
    assert registry_files() == before
    assert audit()[-1]["reason"] == "max-deletes"
    plan_file = save_plan(meshctl)
    assert meshctl("apply", "--plan", plan_file, "--max-deletes", "0").code == 1
    assert registry_files() == before
    result = meshctl("apply", "--auto-approve", "--max-deletes", "2")
    assert result.code == 0, result.output
    assert "(0 created, 0 updated, 2 deleted)" in result.out


def test_max_deletes_defaults_to_50_and_minus_1_lifts_it(ws: Path, meshctl: Run) -> None:
    write(MANIFESTS / "many.yaml", "---\n".join(tool(f"extra_{n:02}") for n in range(51)))
    assert meshctl("apply", "--auto-approve").code == 0
    (MANIFESTS / "many.yaml").unlink()
    before = registry_files()
    result = meshctl("apply", "--auto-approve")
    assert result.code == 1
    assert "the plan deletes 51 resources, more than --max-deletes 50 allows" in result.err
    assert registry_files() == before
    result = meshctl("apply", "--auto-approve", "--max-deletes", "-1")
    assert result.code == 0, result.output
    assert "(0 created, 0 updated, 51 deleted)" in result.out
    assert registry_files()["tool_registry.json"][0] == before_creation_tools(ws)


def before_creation_tools(ws: Path) -> bytes:
    """tool_registry.json as the fixture has it, but for its refreshed `last_updated`."""
    text = (ws / "registries" / "tool_registry.json").read_text()
    stamp = json.loads(text)["last_updated"]
    fixture = (Path(__file__).resolve().parents[2] / "registries" / "tool_registry.json")
    return fixture.read_text().replace('"2025-12-22T10:00:00Z"', json.dumps(stamp)).encode()


# --- what a commit writes -------------------------------------------------------------------


def test_only_changed_files_and_entries_are_rewritten(ws: Path, meshctl: Run) -> None:
    old = registry_files()
    old_text = (REGISTRIES / "agent_registry.json").read_text()
    bump_fraud()
    assert meshctl("apply", "--auto-approve").code == 0
    new = registry_files()
    assert {name for name in old if new[name] != old[name]} == {"agent_registry.json"}
    new_text = (REGISTRIES / "agent_registry.json").read_text()
    before, after = raw_entries(old_text, "agents"), raw_entries(new_text, "agents")
    assert [json.loads(e)["agent_id"] for e in after] == [json.loads(e)["agent_id"]
                                                          for e in before]
    for old_entry, new_entry in zip(before, after, strict=True):
        if json.loads(old_entry)["agent_id"] != "fraud_agent":
            assert new_entry == old_entry
    # Outside the entries, only last_updated moved.
    stamp = json.loads(new_text)["last_updated"]
    fraud_old = next(e for e in before if '"fraud_agent"' in e.split("\n")[1])
    fraud_new = next(e for e in after if '"fraud_agent"' in e.split("\n")[1])
    assert new_text == old_text.replace(fraud_old, fraud_new).replace(
        '"last_updated": "2025-12-22T10:00:00Z"', f'"last_updated": "{stamp}"')


def test_file_modes_and_comments_survive_an_apply(ws: Path, meshctl: Run) -> None:
    os.chmod(REGISTRIES / "agent_registry.json", 0o640)
    os.chmod(REGISTRIES / "workflows" / "claims_triage.json", 0o600)
    bump_fraud()
    edit(MANIFESTS / "workflows" / "claims_triage.yaml", "mode: advisory", "mode: strict")
    result = meshctl("apply", "--auto-approve", "-o", "json")
    assert json.loads(result.out)["files"] == ["agent_registry.json",
                                               "workflows/claims_triage.json"]
    assert stat.S_IMODE((REGISTRIES / "agent_registry.json").stat().st_mode) == 0o640
    flow = REGISTRIES / "workflows" / "claims_triage.json"
    assert stat.S_IMODE(flow.stat().st_mode) == 0o600
    agents = json.loads((REGISTRIES / "agent_registry.json").read_text())
    assert agents["_comment"].startswith("Agent limits (max_iterations")
    assert json.loads(flow.read_text())["mode"] == "strict"
    assert "_comment" in json.loads(flow.read_text())["constraints"]


def test_workflow_files_are_created_and_removed(ws: Path, meshctl: Run) -> None:
    source = (MANIFESTS / "workflows" / "claims_triage.yaml").read_text()
    write(MANIFESTS / "workflows" / "second.yaml",
          source.replace("name: claims_triage", "name: second_flow", 1))
    result = meshctl("apply", "--auto-approve", "-o", "json")
    assert result.code == 0, result.output
    assert json.loads(result.out)["files"] == ["workflows/second_flow.json"]
    created = REGISTRIES / "workflows" / "second_flow.json"
    assert json.loads(created.read_text())["workflow_id"] == "second_flow"
    assert stat.S_IMODE(created.stat().st_mode) == 0o644
    (MANIFESTS / "workflows" / "second.yaml").unlink()
    result = meshctl("apply", "--auto-approve", "-o", "json")
    assert json.loads(result.out)["files"] == ["workflows/second_flow.json"]
    assert not created.exists()
    assert sorted(p.name for p in (REGISTRIES / "workflows").iterdir()) == ["claims_triage.json"]


def test_meshctl_files_stay_out_of_the_runtimes_globs(ws: Path, meshctl: Run) -> None:
    roots = sorted(p.name for p in REGISTRIES.glob("*.json"))
    bump_fraud()
    assert meshctl("apply", "--auto-approve").code == 0
    unused_profiles(1)
    meshctl("apply", "--auto-approve", "--max-deletes", "0")  # refused: an audit line
    assert sorted(p.name for p in REGISTRIES.glob("*.json")) == roots
    assert [p.name for p in (REGISTRIES / "workflows").glob("*.json")] == ["claims_triage.json"]
    assert {p.name for p in META.iterdir()} == {"lock", "lock.info", "history", "txn",
                                                "audit.jsonl", "layout.json", "proofs.json"}


# --- the audit log --------------------------------------------------------------------------


def test_every_attempt_is_audited(ws: Path, meshctl: Run) -> None:
    bump_fraud(7)
    stale = save_plan(meshctl, "stale.json")
    assert meshctl("apply", "--auto-approve").code == 0                      # ok
    unused_profiles(2)
    assert meshctl("apply", "--auto-approve", "--max-deletes", "1").code == 1  # refused
    shutil.copy(MANIFESTS / "tools" / "fraud_rules.yaml", "fraud_rules.yaml")
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    assert meshctl("apply", "--auto-approve").code == 1                      # refused
    shutil.move("fraud_rules.yaml", MANIFESTS / "tools" / "fraud_rules.yaml")
    assert meshctl("apply", "--plan", stale).code == 1                       # stale: failed
    lines = audit()
    assert [(line["result"], line.get("revision")) for line in lines] == [
        ("ok", 1), ("refused", None), ("refused", None), ("failed", None)]
    assert "reason" not in lines[0]
    assert lines[1]["reason"] == "max-deletes"
    assert lines[2]["reason"].startswith("Cannot delete tool 'fraud_rules': used by agents")
    assert lines[3]["reason"] == ("stale plan: agent fraud_agent changed in revision 1 by "
                                  "cli; re-run plan")
    me = filestore.default_info("cli")
    for line in lines:
        assert (line["source"], line["user"], line["host"]) == ("cli", me.user, me.host)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["time"])
    assert lines[0]["summary"] == {"create": 0, "update": 1, "delete": 0}
    assert lines[1]["summary"] == {"create": 0, "update": 0, "delete": 2}


def test_invalid_manifests_say_no_plan_in_text_and_json(ws: Path, meshctl: Run) -> None:
    edit(MANIFESTS / "agents" / "fraud_agent.yaml", "max_iterations: 5", "max_iterations: 500")
    before = registry_files()
    text_run = meshctl("apply", "--auto-approve")
    assert text_run.code == 1
    assert "S003" in text_run.err and "No plan: 1 error, 2 warnings" in text_run.err
    json_run = meshctl("apply", "--auto-approve", "-o", "json")
    assert json_run.code == 1
    body = json.loads(json_run.out)
    assert body["valid"] is False
    assert [d["code"] for d in body["diagnostics"]] == ["S003", "H003", "H003"]
    assert registry_files() == before
