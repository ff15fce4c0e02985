"""`RegistryManager(store=...)` takes what `--store` takes: a database URL too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager
from reconciler.model.kinds import Kind
from reconciler.store import open_store


def test_a_manager_takes_a_database_url_as_its_store(pg_store: Any, pg_url: str) -> None:
    for manager in (RegistryManager(store=pg_url, watch=False),
                    RegistryManager(pg_url, watch=False),
                    RegistryManager(store=open_store(pg_url), watch=False)):
        manager.load_all()
        agent = manager.get_agent("fraud_agent")
        assert agent is not None and agent.agent_id == "fraud_agent"


def test_a_manager_takes_a_folder_given_either_way(registries: Path) -> None:
    """(A copy: a cold load saves its layouts beside the registries, which must not land
    in the repository's fixture, copied by other tests.)"""
    for given in (str(registries), registries):
        manager = RegistryManager(store=given, watch=False)
        manager.load_all()
        assert manager.get_agent("fraud_agent") is not None


@pytest.mark.parametrize("wrong", [42, None, b"registries", ["registries"]])
def test_anything_else_is_a_type_error_naming_what_is_taken(wrong: object) -> None:
    store = wrong if wrong is not None else object()
    with pytest.raises(TypeError, match="a Store, a registries folder .* postgresql:// URL"):
        RegistryManager(store=store)  # type: ignore[arg-type]


def test_a_closed_database_store_is_opened_again(pg_store: Any, pg_url: str) -> None:
    first = open_store(pg_url)
    first.close()  # type: ignore[attr-defined]
    again = open_store(pg_url)
    assert again is not first
    assert again.snapshot().state.of_kind(Kind.AGENT).get("fraud_agent") is not None


def test_a_manager_s_own_commit_wakes_its_follower_without_a_read(pg_store: Any,
                                                                    pg_url: str) -> None:
    """The follower is woken for every revision, this manager's own too; one it already
    serves (its commit, served from the record) is not read again: no round trip, and no
    wait for the lock the next write takes. A revision it does not hold yet is read."""
    from reconciler.errors import StoreError

    store = open_store(pg_url)
    manager = RegistryManager(store=store, watch=True, poll_interval=60)
    manager.load_all()
    agent = manager.get_agent("fraud_agent")
    assert agent is not None
    manager.update_agent("fraud_agent", {**agent.model_dump(exclude_unset=True),
                                         "description": "own commit"})
    revision = manager.stats()["revision"]
    store.close()  # type: ignore[attr-defined]  # from here on, any read fails
    wake = manager._cache.store_may_have_changed
    wake(revision)  # held already: nothing read
    wake(revision - 1)
    with pytest.raises(StoreError, match="closed"):
        wake(revision + 1)  # newer than what it serves: read
    with pytest.raises(StoreError, match="closed"):
        wake(None)  # a poll: read


def test_a_write_turn_gives_the_head_as_it_began(pg_store: Any, pg_url: str) -> None:
    """Read with the turn's lock, in its round trip: a write's catch-up asks nothing more."""
    store = open_store(pg_url)
    try:
        other = RegistryManager(store=pg_url, watch=False)  # (the same store object)
        other.load_all()
        agent = other.get_agent("fraud_agent")
        assert agent is not None
        with store.write_turn() as head:
            assert head == store.snapshot().fingerprint
        other.update_agent("fraud_agent", {**agent.model_dump(exclude_unset=True),
                                           "description": "moved on"})
        with store.write_turn() as moved:
            assert moved != head
            assert moved == store.snapshot().fingerprint
    finally:
        store.close()  # type: ignore[attr-defined]  # (its pool: not left to the session's end)
