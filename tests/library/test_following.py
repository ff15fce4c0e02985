"""RegistryManager with company: reader and writer threads at once, several processes
writing the same registries, and hot reload of what others write (another process's
manager, `meshctl apply`, an editor), including a damaged file that must not be served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import AgentMetadata, RegistryManager
from reconciler.model.kinds import Kind
from reconciler.store import history
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_MANIFESTS, REPO, copy_tree, save
from tests.conftest import eventually as polled

SCRIPT = Path(sys.executable).parent / "meshctl"


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    return polled(check, timeout)


def template(registries: Path) -> dict[str, Any]:
    agents = json.loads((registries / "agent_registry.json").read_text())["agents"]
    found: dict[str, Any] = next(a for a in agents if a["agent_id"] == "severity_agent")
    return found


@pytest.fixture
def following(registries: Path) -> Iterator[RegistryManager]:
    with RegistryManager(registries, poll_interval=0.1) as manager:
        manager.load_all()
        yield manager


def test_readers_and_writers_in_threads_see_whole_changes(registries: Path) -> None:
    base = template(registries)
    failures: list[BaseException] = []
    stop = threading.Event()
    with RegistryManager(registries, watch=False) as manager:
        manager.load_all()

        def reader() -> None:
            seen = 0
            try:
                while not stop.is_set():
                    agents = manager.list_agents()
                    assert len(agents) >= seen  # only creates happen: never fewer
                    seen = len(agents)
                    for agent in agents:
                        assert manager.get_model_profile(agent.model_profile_id) is not None
                    stats = manager.stats()
                    assert stats["counts"]["agents"] >= 7
                    time.sleep(0.001)  # a runtime does some work between lookups
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        def writer(worker: int) -> None:
            try:
                for n in range(8):
                    name = f"w{worker}_{n}"
                    manager.create_agent(AgentMetadata.model_validate(
                        {**base, "agent_id": name}))
                    agent = manager.get_agent(name)
                    assert agent is not None
                    manager.update_agent(name, agent.model_copy(update={"max_iterations": 9}))
            except BaseException as error:
                failures.append(error)

        readers = [threading.Thread(target=reader) for _ in range(6)]
        writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
        assert failures == []
        names = {f"w{w}_{n}" for w in range(3) for n in range(8)}
        on_disk = read_live_state(registries)
        assert names <= {r.name for r in on_disk.state if r.kind.value == "Agent"}
        assert all(manager.get_agent(n).max_iterations == 9 for n in names)  # type: ignore
        assert manager.stats()["fingerprint"] == on_disk.fingerprint
        assert len(history.numbers(registries / ".meshctl")) == 48


WRITER = """
import sys, json
from reconciler import RegistryManager
root, worker = sys.argv[1], sys.argv[2]
base = json.loads(sys.argv[3])
manager = RegistryManager(root, watch=False)
manager.load_all()
print("ready", flush=True)
sys.stdin.readline()
for n in range(10):
    manager.create_agent({**base, "agent_id": f"p{worker}_{n}"})
print("done", flush=True)
"""


def test_processes_writing_at_once_lose_nothing(registries: Path) -> None:
    """Four processes, each with its own manager loaded before the others wrote, create
    ten agents each at once: every one of the forty is there (upstream kept 20)."""
    base = json.dumps(template(registries))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(registries), str(w), base],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for w in range(4)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:  # all start writing at the same moment
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        assert out.strip() == "done"
    agents = {r.name for r in read_live_state(registries).state if r.kind.value == "Agent"}
    assert {f"p{w}_{n}" for w in range(4) for n in range(10)} <= agents
    assert len(history.numbers(registries / ".meshctl")) == 40


def test_another_process_s_write_is_picked_up(registries: Path,
                                              following: RegistryManager) -> None:
    base = json.dumps(template(registries))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = subprocess.run(
        [sys.executable, "-c", "import sys, json\nfrom reconciler import RegistryManager\n"
         "m = RegistryManager(sys.argv[1], watch=False)\nm.load_all()\n"
         "m.create_agent({**json.loads(sys.argv[2]), 'agent_id': 'from_elsewhere'})",
         str(registries), base], env=env, capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert eventually(lambda: following.get_agent("from_elsewhere") is not None)
    assert following.stats()["revision"] == 1
    assert following.stats()["fingerprint"] == read_live_state(registries).fingerprint


def test_meshctl_apply_is_picked_up(registries: Path, tmp_path: Path,
                                    following: RegistryManager) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    path = manifests / "agents" / "fraud_agent.yaml"
    save(path, path.read_text().replace("max_iterations: 5", "max_iterations: 7"))
    done = subprocess.run([str(SCRIPT), "apply", "--auto-approve", "--registries",
                           str(registries), str(manifests)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert eventually(lambda: following.get_agent("fraud_agent").max_iterations == 7)  # type: ignore[union-attr]


def test_an_editor_s_save_is_picked_up_and_load_all_serves_the_files(
        registries: Path, following: RegistryManager) -> None:
    path = registries / "tool_registry.json"
    data = json.loads(path.read_text())
    data["tools"][0]["name"] = "Renamed by hand"
    save(path, json.dumps(data, indent=2))
    assert eventually(lambda: following.get_tool(data["tools"][0]["tool_id"]).name  # type: ignore[union-attr]
                      == "Renamed by hand")
    with RegistryManager(registries, watch=False) as still:
        still.load_all()
        data["tools"][1]["name"] = "Second edit"
        save(path, json.dumps(data, indent=2))
        still.load_all()  # no watching: load_all alone brings it up to date
        assert still.get_tool(data["tools"][1]["tool_id"]).name == "Second edit"  # type: ignore[union-attr]


def test_a_damaged_file_keeps_the_last_good_snapshot(registries: Path,
                                                     following: RegistryManager) -> None:
    path = registries / "tool_registry.json"
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # as a foreign writer caught half-way
    assert eventually(lambda: following.stats()["last_error"] is not None)
    assert "tool_registry.json" in following.stats()["last_error"]
    assert following.get_tool("fraud_rules") is not None  # still served
    assert len(following.list_tools()) == 6
    with pytest.raises(Exception, match="could not be read"):
        following.load_all()  # asked to match the files: it says why it cannot
    path.write_text(good.replace("Fraud Rules Engine", "Fraud Rules Engine 2"))
    assert eventually(lambda: following.stats()["last_error"] is None)
    assert following.get_tool("fraud_rules").name == "Fraud Rules Engine 2"  # type: ignore[union-attr]


def test_another_writers_revision_is_applied_not_reread(registries: Path) -> None:
    """After another meshctl writer's commit, the manager applies the revision from its
    history record (checked against the files' digests): the entries that did not change
    are the very objects it had, not a new reading of 26 MB."""
    base = template(registries)
    with RegistryManager(registries, watch=False) as manager, \
            RegistryManager(registries, watch=False) as other:
        manager.load_all()
        other.load_all()
        untouched = manager.live().state.of_kind(Kind.AGENT)["fraud_agent"]
        other.create_agent({**base, "agent_id": "via_revision"})
        manager.load_all()
        assert manager.get_agent("via_revision") is not None
        assert manager.live().state.of_kind(Kind.AGENT)["fraud_agent"] is untouched
        assert manager.stats()["revision"] == 1
        # an edit by hand is not a revision: the file is read again
        path = registries / "agent_registry.json"
        path.write_text(path.read_text().replace('"max_iterations": 5', '"max_iterations": 6',
                                                 1))
        manager.load_all()
        assert manager.live().state.of_kind(Kind.AGENT)["fraud_agent"] is not untouched
        assert manager.stats()["fingerprint"] == read_live_state(registries).fingerprint


def test_writes_into_a_registry_holding_unkeyed_entries(registries: Path) -> None:
    """Entries meshctl cannot key stay in the file across writes, and what is served
    after each write is what reading the file gives."""
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"].append({"no_id": True})
    data["agents"].append({**data["agents"][3]})  # a duplicate id, set aside by the reader
    save(path, json.dumps(data, indent=2))
    with RegistryManager(registries, watch=False) as manager:
        manager.load_all()
        manager.create_agent({**template(registries), "agent_id": "beside_unkeyed"})
        manager.delete_agent("beside_unkeyed")
        on_disk = json.loads(path.read_text())["agents"]
        assert {"no_id": True} in on_disk
        assert sum(1 for a in on_disk if a.get("agent_id") == data["agents"][3]["agent_id"]) == 2
        fresh = read_live_state(registries)
        assert manager.stats()["fingerprint"] == fresh.fingerprint
        assert [r.entry for r in manager.live().state.of_kind(Kind.AGENT).values()] == [
            r.entry for r in fresh.state.of_kind(Kind.AGENT).values()]


def test_a_write_before_load_all_starts_following_as_load_all_does(registries: Path) -> None:
    """As upstream, a write loads the registries first: following starts there too."""
    with RegistryManager(registries, poll_interval=0.05) as writer:
        writer.create_agent({**template(registries), "agent_id": "written_first"})
        with RegistryManager(registries, watch=False) as other:
            other.create_agent({**template(registries), "agent_id": "seen_by_following"})
        assert eventually(lambda: writer.get_agent("seen_by_following") is not None)
