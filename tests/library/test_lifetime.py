"""A `RegistryManager` nobody references stops following and is freed, with no `close()`
(upstream's needs none, and runtimes create managers freely); managers of one folder share
one follower, and one read per change."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import RegistryManager, StoreError
from reconciler.store.follower import Follower


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gc.collect()
        if check():
            return True
        time.sleep(0.05)
    return check()


def edit_description(registries: Path, agent_id: str, text: str) -> None:
    """A foreign edit saved as an editor saves it: a whole new file renamed over the old,
    so no reader sees half of it (half-written files have tests of their own, in
    tests/hardening/test_damaged_registries.py)."""
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    next(a for a in data["agents"] if a["agent_id"] == agent_id)["description"] = text
    saved = path.with_name(path.name + ".saving")
    saved.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(saved, path)


def following_threads() -> int:
    """Threads alive but the one a first read may leave saving its layouts (it ends)."""
    return sum(1 for thread in threading.enumerate() if thread.name != "meshctl-layouts")


def test_dropped_managers_stop_following_and_are_freed(registries: Path) -> None:
    threads_before = following_threads()
    managers = []
    for count in range(20):
        managers.append(RegistryManager(registries, poll_interval=0.1))
        managers[-1].load_all()
        if count == 0:  # (its file watch is set up on the follower's thread)
            assert eventually(lambda: Follower.watching(registries))
            one_watch = following_threads()
    assert following_threads() == one_watch  # twenty managers, one watch of the folder
    assert Follower.subscribers(registries) == 20
    refs = [weakref.ref(manager) for manager in managers]
    managers.clear()
    assert eventually(lambda: all(ref() is None for ref in refs))
    assert eventually(lambda: Follower.subscribers(registries) == 0)
    assert eventually(lambda: following_threads() <= threads_before)


def test_managers_of_one_folder_share_the_read_of_a_change(registries: Path) -> None:
    # Not following: a follower's own read of the change may come first, and then the two
    # managers rightly serve two equal snapshots; this is about load_all() sharing one.
    first = RegistryManager(registries, watch=False)
    second = RegistryManager(registries, watch=False)
    first.load_all()
    second.load_all()
    edit_description(registries, "fraud_agent", "edited by hand")
    first.load_all()  # reads the change
    second.load_all()  # finds it read already: adopts that snapshot
    assert second.get_agent("fraud_agent").description == "edited by hand"  # type: ignore
    assert second.live() is first.live()
    first.close()
    second.close()


def test_a_kept_manager_still_follows_after_others_are_dropped(registries: Path) -> None:
    kept = RegistryManager(registries, poll_interval=0.1)
    kept.load_all()
    for _ in range(3):
        RegistryManager(registries, poll_interval=0.1).load_all()
    gc.collect()
    edit_description(registries, "intake_agent", "seen while following")
    assert eventually(lambda: kept.get_agent("intake_agent").description  # type: ignore
                      == "seen while following")
    assert Follower.subscribers(registries) == 1
    kept.close()
    assert Follower.subscribers(registries) == 0


def test_nothing_is_touched_before_load_all(tmp_path: Path) -> None:
    """As upstream: a manager may be made before its registries exist; load_all() says."""
    manager = RegistryManager(tmp_path / "not-yet")
    assert manager.get_agent("anything") is None
    with pytest.raises(StoreError, match="not found"):
        manager.load_all()
    (tmp_path / "not-yet").mkdir()
    manager.load_all()
    assert manager.list_agents() == []
    manager.close()
