"""A lazy snapshot (issue 26): a list registry whose bytes the last commit's layout
describes is not decoded; each entry is, when first asked for. Everything a reader
promises is the same as a full read's; a file changed by anyone else since (another
digest) is read as usual; a commit from a lazy snapshot writes what one from a full
snapshot writes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store import filestore, registry_files
from reconciler.store.history import default_info
from reconciler.store.lazylist import LazyEntries
from reconciler.store.registry_files import files_of
from tests.store.test_incremental_reads import edit_json, view

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
RULES = ResourceKey(Kind.TOOL, "fraud_rules")


def committed(registries: Path) -> filestore.FileStore:
    """A store after a commit to both big list registries: their layouts are saved."""
    store = filestore.FileStore(registries)
    live = store.snapshot()
    fraud = dict(live.state.get(FRAUD).entry, description="committed")
    rules = dict(live.state.get(RULES).entry, description="committed")
    store.commit({FRAUD: fraud, RULES: rules}, expected=live.fingerprint,
                 info=default_info("test"))
    return store


def test_a_lazy_snapshot_promises_what_a_full_read_does(registries: Path) -> None:
    store = committed(registries)
    lazy = store.snapshot(lazy=True)
    assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
    assert isinstance(lazy.state.of_kind(Kind.TOOL), LazyEntries)
    assert view(lazy) == view(store.snapshot())
    assert lazy.kinds_kept() == store.snapshot().kinds_kept()


def test_only_the_entries_asked_for_are_decoded(registries: Path) -> None:
    lazy = committed(registries).snapshot(lazy=True)
    agents = lazy.state.of_kind(Kind.AGENT)
    assert isinstance(agents, LazyEntries)
    assert FRAUD.name in agents and len(agents) == 7
    assert agents._decoded == {}  # noqa: SLF001 (what the laziness is for)
    assert agents[FRAUD.name].entry["description"] == "committed"
    assert list(agents._decoded) == [FRAUD.name]  # noqa: SLF001


def test_a_foreign_edit_since_the_commit_is_read_in_full(registries: Path) -> None:
    store = committed(registries)
    edit_json(registries / "agent_registry.json",
              lambda d: d["agents"][0].update(description="by hand"))
    lazy = store.snapshot(lazy=True)
    assert not isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
    assert isinstance(lazy.state.of_kind(Kind.TOOL), LazyEntries)
    assert view(lazy) == view(store.snapshot())


def test_a_damaged_layout_file_means_a_full_read(registries: Path) -> None:
    store = committed(registries)
    (registries / filestore.LAYOUTS).write_text("{not json")
    lazy = store.snapshot(lazy=True)
    assert not isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
    assert view(lazy) == view(store.snapshot())


def test_a_commit_from_a_lazy_snapshot_writes_what_a_full_one_does(
        registries: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    committed(registries)
    shutil.copytree(registries, other)
    results = []
    for root, lazily in ((registries, True), (other, False)):
        store = filestore.FileStore(root)
        live = store.snapshot(lazy=lazily)
        fraud = dict(live.state.get(FRAUD).entry, max_iterations=9)
        store.commit({FRAUD: fraud, ResourceKey(Kind.TOOL, "similarity"): None},
                     expected=live.fingerprint, info=default_info("test"), known=live)
        results.append({name: (root / name).read_bytes() for name in
                        ("agent_registry.json", "tool_registry.json")})
        assert view(store.snapshot(lazy=True)) == view(store.snapshot())
    strip = [{name: json.loads(data) for name, data in found.items()} for found in results]
    for found in strip:
        for document in found.values():
            document.pop("last_updated", None)
    assert strip[0] == strip[1]
    assert files_of(filestore.FileStore(registries).snapshot()).file_digests.keys() == \
        files_of(filestore.FileStore(other).snapshot()).file_digests.keys()


OPERATIONS = st.lists(st.tuples(st.sampled_from(["set", "del", "copy"]),
                                st.sampled_from(["a", "b", "c", "d", "e"])), max_size=20)


@settings(max_examples=200, deadline=None)
@given(operations=OPERATIONS)
def test_lazy_entries_behave_as_the_dict_the_reader_builds(
        operations: list[tuple[str, str]]) -> None:
    """Updates keep their place, deletes go, additions (and re-additions) go last, copies
    change apart: as a dict does."""
    data = b'{"agents": [{"agent_id": "a"}, {"agent_id": "b"}, {"agent_id": "c"}]}'
    spans = {"a": (12, 29), "b": (31, 48), "c": (50, 67)}
    source = Source("agent_registry.json")
    lazy: Any = LazyEntries(Kind.AGENT, data, spans, source)
    plain: dict[str, Resource] = {name: Resource(ResourceKey(Kind.AGENT, name),
                                                 {"agent_id": name}, source)
                                  for name in spans}
    copies: list[tuple[Any, dict[str, Resource]]] = []
    for step, (operation, name) in enumerate(operations):
        if operation == "set":
            resource = Resource(ResourceKey(Kind.AGENT, name), {"agent_id": name, "n": step})
            lazy[name], plain[name] = resource, resource
        elif operation == "del" and name in plain:
            del lazy[name], plain[name]
        elif operation == "copy":
            copies.append((lazy, dict(plain)))
            lazy, plain = lazy.copy(), dict(plain)
        assert list(lazy) == list(plain) and len(lazy) == len(plain)
        assert {n: lazy[n].entry for n in lazy} == {n: r.entry for n, r in plain.items()}
    for kept, expected in copies:  # the copies were not changed by later steps
        assert [(n, kept[n].entry) for n in kept] == [(n, r.entry) for n, r in expected.items()]


def age(path: Path) -> None:
    old = path.stat().st_mtime_ns - 60_000_000_000
    os.utime(path, ns=(old, old))


def test_a_settled_read_spares_the_next_lazy_read_its_hashing(
        registries: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = committed(registries)
    for name in ("agent_registry.json", "tool_registry.json"):
        age(registries / name)  # the commit's bytes, settled since
    hashed: list[int] = []
    original = registry_files._sha256  # noqa: SLF001

    def counting(data: bytes) -> str:
        hashed.append(len(data))
        return original(data)

    monkeypatch.setattr(registry_files, "_sha256", counting)
    first = store.snapshot(lazy=True)  # hashes, and keeps the reads beside the layouts
    agent_bytes = (registries / "agent_registry.json").stat().st_size
    assert agent_bytes in hashed
    hashed.clear()
    second = store.snapshot(lazy=True)
    assert agent_bytes not in hashed
    assert isinstance(second.state.of_kind(Kind.AGENT), LazyEntries)
    assert view(second) == view(first) == view(store.snapshot())


def test_bytes_changed_behind_a_kept_read_are_hashed_and_read_in_full(
        registries: Path) -> None:
    """Same size, the old mtime put back: the inode change time still moves, so the kept
    read does not vouch; the new bytes do not match the layout's digest."""
    store = committed(registries)
    path = registries / "agent_registry.json"
    age(path)
    store.snapshot(lazy=True)
    before = path.stat()
    data = path.read_bytes()
    changed = data.replace(b'"committed"', b'"by hand!!"', 1)
    assert len(changed) == len(data) and changed != data
    path.write_bytes(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    lazy = store.snapshot(lazy=True)
    assert not isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
    assert lazy.state.get(FRAUD).entry["description"] == "by hand!!"
    assert view(lazy) == view(store.snapshot())


def test_a_full_read_saves_its_layouts_for_the_next_lazy_read(registries: Path) -> None:
    """Registries meshctl never wrote (or edited by hand since): the first lazy read
    decodes them and keeps their layouts; the next one is lazy."""
    for name in ("agent_registry.json", "tool_registry.json"):
        age(registries / name)
    store = filestore.FileStore(registries)
    assert not (registries / filestore.LAYOUTS).exists()
    first = store.snapshot(lazy=True)
    assert not isinstance(first.state.of_kind(Kind.AGENT), LazyEntries)
    assert (registries / filestore.LAYOUTS).exists()
    second = store.snapshot(lazy=True)
    assert isinstance(second.state.of_kind(Kind.AGENT), LazyEntries)
    assert isinstance(second.state.of_kind(Kind.TOOL), LazyEntries)
    assert view(second) == view(first) == view(store.snapshot())


def test_layouts_that_cannot_be_saved_mean_a_full_read_and_no_error(
        registries: Path) -> None:
    """Where the layouts file cannot be written (here: a folder stands in its place; a
    read-only store alike), every lazy read reads in full, and nothing fails."""
    store = filestore.FileStore(registries)
    (registries / filestore.LAYOUTS).mkdir(parents=True)
    for _ in range(2):
        live = store.snapshot(lazy=True)
        assert not isinstance(live.state.of_kind(Kind.AGENT), LazyEntries)
        assert view(live) == view(store.snapshot())
    assert (registries / filestore.LAYOUTS).is_dir()
