"""The watch controller on real directories with a real watchdog observer: edits are applied,
invalid or refused ones are not (and the status says why, with file:line), drift is reported
and, with self-heal, reverted; a git repository made here is followed across commits."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager
from reconciler.model.kinds import Kind
from reconciler.store import history, open_store
from reconciler.store.registry_files import read_live_state
from reconciler.watch import status as status_file
from reconciler.watch.controller import Controller
from reconciler.watch.gitsource import GitSource
from tests.conftest import FIXTURE_MANIFESTS, agent, copy_tree, line_of, save, write
from tests.library.test_following import eventually

FRAUD = "agents/fraud_agent.yaml"


@contextmanager
def running(controller: Controller) -> Iterator[Controller]:
    worker = threading.Thread(target=controller.run, daemon=True)
    worker.start()
    try:
        assert controller.ready.wait(30), "the controller never finished its first sync"
        yield controller
    finally:
        controller.stop()
        worker.join(30)
        assert not worker.is_alive()


def live_entry(registries: Path, kind: Kind, name: str) -> dict[str, Any] | None:
    resource = read_live_state(registries).state.of_kind(kind).get(name)
    return resource.entry if resource is not None else None


def live_field(registries: Path, kind: Kind, name: str, field: str) -> Any:
    entry = live_entry(registries, kind, name)
    assert entry is not None, f"no live {kind.value} {name}"
    return entry[field]


def set_field(path: Path, field: str, value: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    assert any(line.startswith(f"  {field}:") for line in lines), field
    save(path, "".join(f"  {field}: {value}\n" if line.startswith(f"  {field}:") else line
                       for line in lines))


def status(registries: Path) -> dict[str, Any]:
    found = status_file.read(open_store(registries))
    assert found is not None
    return found


def revisions_by(registries: Path, source: str) -> list[dict[str, Any]]:
    meta = registries / ".meshctl"
    return [r for r in (history.load(meta, n) for n in history.numbers(meta))
            if r["source"] == source]


@pytest.fixture
def watch(manifests: Path, registries: Path) -> Callable[..., Any]:
    def start(**options: Any) -> Any:
        options.setdefault("interval", 300.0)
        options.setdefault("debounce", 0.05)
        return running(Controller([str(manifests)], registries, **options))
    return start


def test_an_edit_is_applied_as_one_watch_revision(watch: Callable[..., Any], manifests: Path,
                                                  registries: Path) -> None:
    with watch() as controller:
        assert controller.last_report.result == "in_sync"  # the copies start in sync
        set_field(manifests / FRAUD, "max_iterations", "17")
        assert eventually(lambda: (live_entry(registries, Kind.AGENT, "fraud_agent") or {})
                          .get("max_iterations") == 17)
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "synced")
    [revision] = revisions_by(registries, "watch")
    assert [(c["name"], c["action"]) for c in revision["changes"]] == [("fraud_agent", "update")]
    found = status(registries)
    assert found["last_sync"]["message"] == f"synced rev {revision['revision']}: 1 updated"
    assert found["controller"]["stopped"] is True
    assert found["drifted"] == [] and found["pending"] == []


def test_a_new_file_is_created_and_a_removed_one_pruned(watch: Callable[..., Any],
                                                        manifests: Path,
                                                        registries: Path) -> None:
    with watch():
        write(manifests / "agents" / "new_agent.yaml", agent("new_agent"))
        assert eventually(lambda: live_entry(registries, Kind.AGENT, "new_agent") is not None)
        (manifests / "agents" / "new_agent.yaml").unlink()
        assert eventually(lambda: live_entry(registries, Kind.AGENT, "new_agent") is None)
    actions = [c["action"] for r in revisions_by(registries, "watch") for c in r["changes"]]
    assert actions == ["create", "delete"]


def test_an_invalid_edit_is_not_applied_and_the_status_names_file_and_line(
        watch: Callable[..., Any], manifests: Path, registries: Path) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    with watch():
        path = manifests / FRAUD
        save(path, path.read_text().replace("- fraud_rules", "- fraud_rulez"))
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "failed")
        found = status(registries)
        [error] = found["last_sync"]["errors"]
        assert error["code"] == "R002"
        assert error["file"] == str(path)
        assert error["line"] == line_of(path, "fraud_rulez")
        assert "did you mean 'fraud_rules'" in error["message"]
        assert found["last_sync"]["message"].startswith(
            f"sync failed: {path}:{error['line']}: ")
        assert found["last_good_sync"]["revision"] == 0
        assert found["pending"] == [{"kind": "Agent", "name": "fraud_agent",
                                     "status": "update"}]
        # fixing it applies the fix (and only what the manifests now say)
        save(path, path.read_text().replace("- fraud_rulez", "- fraud_rules"))
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "in_sync")
    assert (registries / "agent_registry.json").read_bytes() == before
    assert revisions_by(registries, "watch") == []


def test_a_good_sync_after_failures_says_it_is_in_sync_again(
        watch: Callable[..., Any], manifests: Path, registries: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    with watch():
        path = manifests / FRAUD
        save(path, path.read_text().replace("- fraud_rules", "- fraud_rulez"))
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "failed")
        save(path, path.read_text().replace("- fraud_rulez", "- fraud_rules"))
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "in_sync")
        assert eventually(lambda: any(r.getMessage().startswith("in sync again")
                                      for r in caplog.records))
    said = [r for r in caplog.records if r.name == "reconciler.watch"
            and r.levelno >= logging.INFO and "stopped" not in r.getMessage()]
    failed = [r for r in said if r.levelno == logging.WARNING]
    assert failed and failed[-1].getMessage().startswith("sync failed:")
    recovered = [r for r in said if r.getMessage().startswith("in sync again")]
    assert [r.getMessage() for r in recovered] == ["in sync again at revision 0 after 1 "
                                                   "failed sync"]
    assert said.index(recovered[0]) > said.index(failed[-1])


def test_a_sync_warns_as_plan_does_when_the_fabric_would_not_start(
        watch: Callable[..., Any], manifests: Path, registries: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """C008 (a first connector while the fabric's other files stay missing) fires on a
    watch sync as on `meshctl plan`: the sync plans through the same inputs."""
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    with watch():
        write(manifests / "c1.yaml", "apiVersion: agentmesh.io/v1\nkind: Connector\n"
              "metadata:\n  name: c1\nspec:\n  name: C\n  description: d\n  type: REST\n"
              "  base_url: https://c\n")
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "synced")
        found = status(registries)["last_sync"]
        [warning] = [w for w in found["warnings"] if w["code"] == "C008"]
        assert warning["file"] == str(manifests / "c1.yaml") and warning["line"] == 1
        assert "integration/auth_profiles.json" in warning["message"]
    assert any("C008" == getattr(r, "fields", {}).get("code") for r in caplog.records)


def test_deleting_a_manifest_still_in_use_is_refused_and_reported(
        watch: Callable[..., Any], manifests: Path, registries: Path) -> None:
    with watch():
        (manifests / "tools" / "fraud_rules.yaml").unlink()
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "refused")
        message = status(registries)["last_sync"]["message"]
        assert message.startswith("sync refused: Cannot delete tool 'fraud_rules': used by ")
        assert f"fraud_agent ({manifests / FRAUD}:" in message  # the user, in its manifest
        assert live_entry(registries, Kind.TOOL, "fraud_rules") is not None
    assert revisions_by(registries, "watch") == []


def test_deleting_the_orchestrator_manifest_is_refused(watch: Callable[..., Any],
                                                       manifests: Path,
                                                       registries: Path) -> None:
    with watch():
        (manifests / "agents" / "orchestrator_agent.yaml").unlink()
        assert eventually(lambda: status(registries)["last_sync"]["result"] in (
            "refused", "failed"))
        assert "orchestrator" in status(registries)["last_sync"]["message"]
    assert live_entry(registries, Kind.AGENT, "orchestrator_agent") is not None


def _drift(registries: Path, iterations: int) -> None:
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    entry = manager.entry(Kind.AGENT, "fraud_agent")
    assert entry is not None
    manager.update_agent("fraud_agent", {**entry, "max_iterations": iterations})


def test_drift_is_reported_and_left_alone_without_self_heal(watch: Callable[..., Any],
                                                            manifests: Path,
                                                            registries: Path) -> None:
    with watch():
        _drift(registries, 3)
        assert eventually(lambda: status(registries)["drifted"] == [
            {"kind": "Agent", "name": "fraud_agent", "status": "drifted"}])
        assert status(registries)["pending"] == []
        # an edit elsewhere syncs that edit, and leaves the drifted agent as it is
        set_field(manifests / "agents" / "intake_agent.yaml", "max_iterations", "9")
        assert eventually(lambda: status(registries)["last_sync"]["result"] == "synced")
        assert live_field(registries, Kind.AGENT, "fraud_agent", "max_iterations") == 3
        assert status(registries)["drifted_count"] == 1
        # a change of the drifted resource in the manifests wins
        set_field(manifests / FRAUD, "max_iterations", "12")
        assert eventually(lambda: live_field(registries, Kind.AGENT, "fraud_agent",
                                             "max_iterations") == 12)
        assert eventually(lambda: status(registries)["drifted"] == [])


def test_self_heal_reverts_drift_recorded_as_source_watch(watch: Callable[..., Any],
                                                          manifests: Path,
                                                          registries: Path) -> None:
    wanted = live_entry(registries, Kind.AGENT, "fraud_agent")
    assert wanted is not None
    with watch(self_heal=True):
        _drift(registries, 3)
        assert eventually(lambda: live_entry(registries, Kind.AGENT, "fraud_agent") == wanted)
        assert eventually(lambda: status(registries)["last_sync"]["trigger"] == "self-heal")
        # a resource created elsewhere is not in git: self-heal prunes it
        manager = RegistryManager(registries, watch=False)
        manager.load_all()
        # no tools: governance grants fraud_agent's to fraud_agent alone (A003)
        manager.create_agent({**wanted, "agent_id": "rogue_agent", "name": "Rogue",
                              "allowed_tools": []})
        assert eventually(lambda: live_entry(registries, Kind.AGENT, "rogue_agent") is None)
    [healed, pruned] = revisions_by(registries, "watch")
    assert [(c["name"], c["action"]) for c in healed["changes"]] == [("fraud_agent", "update")]
    assert [(c["name"], c["action"]) for c in pruned["changes"]] == [("rogue_agent", "delete")]
    assert "drift reverted: agent/fraud_agent" in status(registries)["last_sync"]["message"] \
        or "drift reverted: agent/rogue_agent" in status(registries)["last_sync"]["message"]


def test_drift_survives_a_restart_without_being_reverted(watch: Callable[..., Any],
                                                         registries: Path) -> None:
    with watch():
        pass
    _drift(registries, 4)  # while no controller runs
    with watch():
        assert status(registries)["drifted"] == [
            {"kind": "Agent", "name": "fraud_agent", "status": "drifted"}]
    assert live_field(registries, Kind.AGENT, "fraud_agent", "max_iterations") == 4


def test_the_first_sync_applies_everything_like_apply(manifests: Path,
                                                      registries: Path) -> None:
    _drift(registries, 44)  # no controller ever ran here: the manifests are the truth
    with running(Controller([str(manifests)], registries, interval=300, debounce=0.05)) as c:
        assert c.last_report is not None and c.last_report.result == "synced"
    assert live_field(registries, Kind.AGENT, "fraud_agent", "max_iterations") == 5


def test_a_missed_event_is_found_by_the_resync(manifests: Path, registries: Path) -> None:
    controller = Controller([str(manifests)], registries, interval=0.5, debounce=0.05,
                            watch_files=False)  # no events
    with running(controller):
        set_field(manifests / FRAUD, "max_iterations", "21")
        assert eventually(lambda: (live_entry(registries, Kind.AGENT, "fraud_agent") or {})
                          .get("max_iterations") == 21)
    assert status(registries)["last_sync"]["trigger"] == "resync"


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                          "GIT_COMMITTER_NAME": "t",
                                          "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(folder)})
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_a_git_branch_is_followed_across_commits_and_a_bad_commit_skipped(
        tmp_path: Path, registries: Path) -> None:
    repo = tmp_path / "repo"
    copy_tree(FIXTURE_MANIFESTS, repo / "manifests")
    git(repo, "init", "-q", "-b", "main")
    first = commit_all(repo, "the mesh")
    source = GitSource(str(repo), "main", tmp_path / "work")
    controller = Controller(["manifests"], registries, git=source, interval=0.3,
                            debounce=0.05)
    with running(controller):
        assert status(registries)["controller"]["source"]["commit"] == first
        set_field(repo / "manifests" / FRAUD, "max_iterations", "31")
        good = commit_all(repo, "fraud: 31")
        assert eventually(lambda: status(registries)["last_sync"]["commit"] == good)
        assert status(registries)["controller"]["source"]["commit_subject"] == "fraud: 31"
        assert live_field(registries, Kind.AGENT, "fraud_agent", "max_iterations") == 31
        [revision] = revisions_by(registries, "watch")
        assert revision["git_commit"] == good
        # a commit that fails validation is not applied; the good one stays live
        path = repo / "manifests" / FRAUD
        save(path, path.read_text().replace("- fraud_rules", "- nope"))
        bad = commit_all(repo, "broken")
        assert eventually(lambda: status(registries)["last_sync"]["commit"] == bad)
        found = status(registries)
        assert found["last_sync"]["result"] == "failed"
        assert found["last_good_sync"]["commit"] == good
        assert found["last_sync"]["errors"][0]["file"].endswith(FRAUD)
        assert live_field(registries, Kind.AGENT, "fraud_agent", "allowed_tools")[0] == \
            "fraud_rules"
        # the next good commit is applied
        save(path, path.read_text().replace("- nope", "- fraud_rules"))
        set_field(path, "max_iterations", "32")
        fixed = commit_all(repo, "fixed")
        assert eventually(lambda: status(registries)["last_sync"]["commit"] == fixed)
        assert status(registries)["last_sync"]["result"] == "synced"
    assert live_field(registries, Kind.AGENT, "fraud_agent", "max_iterations") == 32
    assert [r["git_commit"] for r in revisions_by(registries, "watch")] == [good, fixed]
    assert status(registries)["last_good_sync"]["commit"] == fixed


def test_an_editors_change_to_a_registry_file_is_drift_and_self_heal_reverts_it(
        watch: Callable[..., Any], registries: Path) -> None:
    path = registries / "agent_registry.json"
    wanted = live_entry(registries, Kind.AGENT, "intake_agent")
    with watch(self_heal=True):
        data = json.loads(path.read_text())
        for entry in data["agents"]:
            if entry["agent_id"] == "intake_agent":
                entry["description"] = "changed by hand"
        save(path, json.dumps(data, indent=2))  # as an editor saves it: not meshctl
        assert eventually(lambda: live_entry(registries, Kind.AGENT, "intake_agent") == wanted)
    [healed] = revisions_by(registries, "watch")
    assert [(c["name"], c["action"]) for c in healed["changes"]] == [("intake_agent", "update")]
    assert healed["changes"][0]["before"]["description"] == "changed by hand"


def test_a_manifests_folder_replaced_whole_is_followed(watch: Callable[..., Any],
                                                       manifests: Path, registries: Path,
                                                       tmp_path: Path) -> None:
    """`rm -rf manifests && cp -r elsewhere manifests` (or a branch switch) removes the
    folder the watch was on: the parent's watch sees it come back and watches it anew."""
    import shutil

    with watch():
        fresh = copy_tree(manifests, tmp_path / "fresh")
        set_field(fresh / FRAUD, "max_iterations", "27")
        shutil.rmtree(manifests)
        shutil.copytree(fresh, manifests)
        assert eventually(lambda: (live_entry(registries, Kind.AGENT, "fraud_agent") or {})
                          .get("max_iterations") == 27)
        set_field(manifests / FRAUD, "max_iterations", "28")  # and edits in it are seen
        assert eventually(lambda: (live_entry(registries, Kind.AGENT, "fraud_agent") or {})
                          .get("max_iterations") == 28)
    assert status(registries)["last_sync"]["trigger"] != "resync"
