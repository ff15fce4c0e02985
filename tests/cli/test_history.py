"""`meshctl history`, `meshctl history show` and `meshctl rollback`, in-process, in a working
directory holding copies of the example `manifests/` and `registries/`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.store import filestore, history
from tests.cli.test_apply import audit, bump_fraud, registry_files, unused_profiles
from tests.conftest import CliResult, write
from tests.plan.conftest import MANIFESTS, REGISTRIES, edit_registry, make_workspace, tool

Run = Callable[..., CliResult]
META = REGISTRIES / ".meshctl"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def apply(meshctl: Run, *args: str) -> None:
    result = meshctl("apply", "--auto-approve", *args)
    assert result.code == 0, result.output


def contents() -> dict[str, Any]:
    """What the registries hold, file by file, as the runtime would read it: each entry by
    id (a re-created entry comes back at the end of its list), the file keys but for
    `last_updated`, which every rewrite refreshes."""
    found: dict[str, Any] = {}
    for kind in Kind:
        info = kinds.info(kind)
        if info.opt_in:  # the settings kinds: not in these registries
            continue
        if kind is Kind.WORKFLOW:
            for path in sorted((REGISTRIES / "workflows").glob("*.json")):
                found[f"workflows/{path.name}"] = json.loads(path.read_text())
            continue
        path = REGISTRIES / info.registry_file
        data = json.loads(path.read_text())
        entries = data.pop(info.collection_key)
        data.pop("last_updated", None)
        if isinstance(entries, list):
            entries = {entry[info.id_field]: entry for entry in entries}
        found[info.registry_file] = {"file": data, "entries": entries}
    return found


@pytest.fixture
def three(ws: Path, meshctl: Run) -> list[dict[str, Any]]:
    """Three revisions: 1 updates an agent; 2 creates a tool and deletes two profiles;
    3 creates a workflow and updates a policy. Returns the contents after 0, 1, 2, 3."""
    states = [contents()]
    bump_fraud(7)
    apply(meshctl)
    states.append(contents())
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    unused_profiles(2)
    apply(meshctl)
    states.append(contents())
    source = (MANIFESTS / "workflows" / "claims_triage.yaml").read_text()
    write(MANIFESTS / "workflows" / "second.yaml",
          source.replace("name: claims_triage", "name: second_flow", 1))
    limits = MANIFESTS / "policies" / "execution_constraints.yaml"
    limits.write_text(limits.read_text().replace("300", "600", 1))
    apply(meshctl)
    states.append(contents())
    assert len({json.dumps(s, sort_keys=True) for s in states}) == 4
    return states


# --- history --------------------------------------------------------------------------------


def test_no_revisions_yet(ws: Path, meshctl: Run) -> None:
    result = meshctl("history")
    assert (result.code, result.out, result.err) == (0, "No revisions yet.\n", "")
    assert json.loads(meshctl("history", "-o", "json").out) == []


def test_history_lists_every_revision(three: list[Any], meshctl: Run) -> None:
    me = filestore.default_info("cli")
    result = meshctl("history")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["REV", "TIME", "USER", "SOURCE", "CHANGES", "GIT", "NOTE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[:1] + r[2:] for r in rows] == [
        ["1", me.user, "cli", "+0", "~1", "-0", "-", "-"],
        ["2", me.user, "cli", "+1", "~0", "-2", "-", "-"],
        ["3", me.user, "cli", "+1", "~1", "-0", "-", "-"]]
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[1])


def test_history_shows_the_note_of_a_rollback_as_json_does(three: list[Any],
                                                           meshctl: Run) -> None:
    assert meshctl("rollback", "1", "--auto-approve").code == 0
    lines = meshctl("history").out.splitlines()
    assert len(lines) == 5  # a header and one line a revision, however long the note
    assert lines[-1].split()[0] == "4"
    assert lines[-1].rstrip().endswith("  restore to revision 1")
    last = json.loads(meshctl("history", "-o", "json").out)[-1]
    assert (last["note"], last["undo"]) == ("restore to revision 1",
                                            {"action": "restore", "revision": 1})


def test_history_as_json(three: list[Any], meshctl: Run) -> None:
    me = filestore.default_info("cli")
    records = json.loads(meshctl("history", "-o", "json").out)
    assert [r["revision"] for r in records] == [1, 2, 3]
    first = records[0]
    assert set(first) == {"format", "revision", "time", "user", "host", "source", "git_commit",
                          "note", "summary", "fingerprint_before", "fingerprint_after",
                          "files", "digests", "resources"}
    assert (first["user"], first["host"], first["source"], first["git_commit"]) == (
        me.user, me.host, "cli", None)
    assert first["summary"] == {"create": 0, "update": 1, "delete": 0}
    assert first["files"] == ["agent_registry.json"]
    assert first["resources"] == ["Agent/fraud_agent"]
    assert sorted(records[1]["resources"]) == [
        "ModelProfile/claude_haiku_3", "ModelProfile/claude_opus_3", "Tool/new_tool"]
    assert records[1]["fingerprint_before"] == first["fingerprint_after"]
    assert records[2]["fingerprint_after"] == filestore.FileStore(REGISTRIES).fingerprint()


def test_the_manifests_git_commit_is_recorded(ws: Path, meshctl: Run) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=ws, env=env,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    bump_fraud(7)
    git("add", "manifests")
    git("commit", "-q", "-m", "raise fraud_agent's iterations")
    head = git("rev-parse", "HEAD")
    apply(meshctl)
    (record,) = json.loads(meshctl("history", "-o", "json").out)
    assert record["git_commit"] == head
    assert meshctl("history").out.splitlines()[1].split()[-2:] == [head[:12], "-"]
    assert f"  git {head}" in meshctl("history", "show", "1").out.splitlines()[0]


# --- history show ---------------------------------------------------------------------------


def test_show_is_a_unified_diff_of_what_a_revision_changed(
        three: list[Any], meshctl: Run) -> None:
    me = filestore.default_info("cli")
    result = meshctl("history", "show", "1")
    assert result.code == 0, result.output
    lines = result.out.splitlines()
    assert re.fullmatch(rf"revision 1  \S+Z  {re.escape(me.user)}@{re.escape(me.host)}  "
                        r"source cli", lines[0])
    assert lines[1:4] == ["--- before/Agent/fraud_agent", "+++ after/Agent/fraud_agent",
                          "@@ -34,7 +34,7 @@"]
    assert [line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-  "max_iterations": 5,', '+  "max_iterations": 7,']
    created = meshctl("history", "show", "2").out
    assert "--- before/Tool/new_tool\n+++ after/Tool/new_tool\n@@ -0,0 +1,13 @@\n+{\n" in created
    assert '-  "profile_id": "claude_opus_3",' in created
    assert "+++ after/ModelProfile/claude_opus_3\n@@ -1," in created


def test_show_as_json_has_before_and_after(three: list[Any], meshctl: Run) -> None:
    record = json.loads(meshctl("history", "show", "2", "-o", "json").out)
    assert record == history.load(META, 2)
    changes = {(c["kind"], c["name"]): c for c in record["changes"]}
    assert changes[("Tool", "new_tool")]["before"] is None
    assert changes[("Tool", "new_tool")]["after"]["tool_id"] == "new_tool"
    opus = changes[("ModelProfile", "claude_opus_3")]
    assert (opus["action"], opus["after"]) == ("delete", None)
    assert opus["before"] == three[1]["model_profiles.json"]["entries"]["claude_opus_3"]


def test_an_unknown_revision_names_the_ones_there_are(three: list[Any], meshctl: Run) -> None:
    result = meshctl("history", "show", "9")
    assert (result.code, result.out) == (1, "")
    assert result.err == "Error: no revision 9; revisions: 1..3\n"


def test_an_unknown_revision_with_none_yet(ws: Path, meshctl: Run) -> None:
    result = meshctl("history", "show", "1")
    assert result.code == 1
    assert result.err == "Error: no revision 1; revisions: none yet\n"


# --- rollback -------------------------------------------------------------------------------


def test_rollback_returns_to_the_state_after_a_revision(three: list[Any], meshctl: Run) -> None:
    result = meshctl("rollback", "1", "--auto-approve")
    assert result.code == 0, result.output
    assert "+ model-profile/claude_opus_3" in result.out
    assert "- tool/new_tool" in result.out
    assert "- workflow/second_flow" in result.out
    assert result.out.endswith("Apply complete: revision 4 (2 created, 1 updated, 2 deleted).\n")
    assert contents() == three[1]
    record = history.load(META, 4)
    assert (record["note"], record["source"]) == ("restore to revision 1", "cli")
    assert not (REGISTRIES / "workflows" / "second_flow.json").exists()
    # History is never rewritten: the rollback itself can be rolled back.
    assert meshctl("rollback", "3", "--auto-approve").code == 0
    assert contents() == three[3]
    assert history.numbers(META) == [1, 2, 3, 4, 5]
    assert meshctl("rollback", "2", "--auto-approve").code == 0
    assert contents() == three[2]
    assert meshctl("plan", "manifests").out.startswith("meshctl will perform")


def test_rollback_keeps_the_order_of_entries_it_does_not_recreate(
        three: list[Any], meshctl: Run) -> None:
    before = [p["profile_id"] for p in json.loads(
        (REGISTRIES / "model_profiles.json").read_text())["profiles"]]
    assert meshctl("rollback", "1", "--auto-approve").code == 0
    after = [p["profile_id"] for p in json.loads(
        (REGISTRIES / "model_profiles.json").read_text())["profiles"]]
    assert after[:len(before)] == before
    assert sorted(after[len(before):]) == ["claude_haiku_3", "claude_opus_3"]


def test_rollback_to_the_latest_revision_has_nothing_to_do(
        three: list[Any], meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    before = registry_files()
    result = meshctl("rollback", "3")
    assert result.code == 0, result.output
    assert result.out.endswith("No changes to apply.\n")
    assert registry_files() == before
    assert history.numbers(META) == [1, 2, 3]


def test_rollback_without_a_terminal_needs_auto_approve(
        three: list[Any], meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    before = registry_files()
    result = meshctl("rollback", "1")
    assert result.code == 1
    assert "Plan: 2 to create, 1 to update, 2 to delete, 0 refused." in result.out
    assert result.err.startswith("Error: no terminal to confirm on: pass --auto-approve")
    assert registry_files() == before
    assert history.numbers(META) == [1, 2, 3]


def test_rollback_to_revision_zero_is_the_state_before_the_first(three: list[Any],
                                                                 meshctl: Run) -> None:
    result = meshctl("rollback", "0", "--auto-approve")
    assert result.code == 0, result.output
    assert contents() == three[0]
    assert history.load(META, 4)["undo"] == {"action": "restore", "revision": 0}


# --- revert ---------------------------------------------------------------------------------


def test_revert_undoes_one_revision_alone(three: list[Any], meshctl: Run) -> None:
    result = meshctl("revert", "2", "--auto-approve")
    assert result.code == 0, result.output
    assert "- tool/new_tool" in result.out and "+ model-profile/claude_opus_3" in result.out
    assert "workflow/second_flow" not in result.out  # revision 3's create stays
    assert result.out.endswith("Apply complete: revision 4 (2 created, 0 updated, 1 deleted).\n")
    now = contents()
    assert now["tool_registry.json"] == three[1]["tool_registry.json"]  # 2's tool gone
    assert now["model_profiles.json"]["entries"] == three[1]["model_profiles.json"]["entries"]
    assert now["agent_registry.json"] == three[3]["agent_registry.json"]  # 1 kept
    assert now["workflows/second_flow.json"] == three[3]["workflows/second_flow.json"]  # 3
    record = history.load(META, 4)
    assert (record["note"], record["undo"]) == ("revert of revision 2",
                                                {"action": "revert", "revision": 2})


def test_revert_is_refused_when_a_later_revision_changed_the_same_resource(
        three: list[Any], meshctl: Run) -> None:
    bump_fraud(9)
    apply(meshctl)
    before = registry_files()
    result = meshctl("revert", "1", "--auto-approve", "-o", "json")
    assert result.code == 1
    assert "revision 1 cannot be reverted alone: Agent fraud_agent was changed again in " \
        "revision 4" in result.err
    assert registry_files() == before and history.numbers(META) == [1, 2, 3, 4]


def test_revert_json_output_and_help(three: list[Any], meshctl: Run) -> None:
    result = meshctl("revert", "3", "--auto-approve", "-o", "json")
    assert result.code == 0, result.output
    assert json.loads(result.out)["revision"] == 4
    shown = meshctl("revert", "--help").out
    assert "meshctl revert 5" in shown and "-o json" in shown


def test_rollback_to_an_unknown_revision(three: list[Any], meshctl: Run) -> None:
    result = meshctl("rollback", "7", "--auto-approve")
    assert result.code == 1
    assert result.err == "Error: no revision 7; revisions: 1..3\n"


def test_a_rollback_that_would_break_a_reference_is_refused(ws: Path, meshctl: Run) -> None:
    """Revision 2 creates a tool; an agent is then edited by hand to use it. Rolling back
    to 1 would remove the tool while the agent still uses it: no plan, nothing written."""
    bump_fraud(7)
    apply(meshctl)
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    apply(meshctl)

    def use_it(data: dict[str, Any]) -> None:
        fraud = next(a for a in data["agents"] if a["agent_id"] == "fraud_agent")
        fraud["allowed_tools"].append("new_tool")

    edit_registry("agent_registry.json", use_it)
    before = registry_files()
    result = meshctl("rollback", "1", "--auto-approve")
    assert result.code == 1
    assert ("error R002 agent/fraud_agent: agent 'fraud_agent' refers to unknown tool "
            "'new_tool' in allowed_tools[2]") in result.err
    assert registry_files() == before
    assert history.numbers(META) == [1, 2]


def test_rollback_as_json_and_audited(three: list[Any], meshctl: Run) -> None:
    result = meshctl("rollback", "2", "--auto-approve", "-o", "json")
    assert result.code == 0, result.output
    data = json.loads(result.out)
    assert (data["applied"], data["revision"]) == (True, 4)
    assert data["summary"] == {"create": 0, "update": 1, "delete": 1}
    assert data["files"] == ["workflows/second_flow.json", "governance_policies.json"]
    assert [(line["result"], line.get("revision")) for line in audit()] == [
        ("ok", 1), ("ok", 2), ("ok", 3), ("ok", 4)]


@pytest.mark.parametrize("command", ["revert", "rollback"])
def test_an_undo_that_breaks_callers_is_refused_with_deny_breaking(
        ws: Path, meshctl: Run, command: str) -> None:
    """Revision 1 stops requiring fraud_rules' claim_data; undoing it requires it again,
    which breaks fraud_agent's calls (B001): refused with --deny-breaking as an apply of
    the same change is, nothing written."""
    schema = MANIFESTS / "tools" / "fraud_rules.yaml"
    schema.write_text(schema.read_text().replace("    required:\n    - claim_data\n",
                                                 "    required: []\n", 1))
    apply(meshctl)
    before = registry_files()
    target = "1" if command == "revert" else "0"
    result = meshctl(command, target, "--auto-approve", "--deny-breaking")
    assert result.code == 1, result.output
    assert "B001" in result.output and "fraud_agent" in result.output
    assert registry_files() == before and history.numbers(META) == [1]
    allowed = meshctl(command, target, "--auto-approve")
    assert allowed.code == 0, allowed.output
    assert history.numbers(META) == [1, 2]
