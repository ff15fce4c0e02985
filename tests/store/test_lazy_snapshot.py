"""A lazy snapshot (issue 26): a list registry whose bytes the last commit's layout
describes is not decoded; each entry is, when first asked for. A workflow file whose stat
a saved settled read vouches for is not even read until its entry is asked for.
Everything a reader promises is the same as a full read's; a file changed by anyone else
since (another digest, another stat) is read as usual; a commit from a lazy snapshot
writes what one from a full snapshot writes. A plan's snapshot (`unread`) holds the list
registries and the governance file open and reads an entry's span when asked for: a file
edited in place since can no longer give it, and says so."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.access import Governance, Verb
from reconciler.errors import StalePlan, StoreError
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store import filestore, jsonspans, registry_files
from reconciler.store.heldfile import HeldFile
from reconciler.store.history import default_info
from reconciler.store.lazylist import Deferred, LazyDocuments, LazyEntries, held
from reconciler.store.registry_files import files_of
from tests.conftest import FIXTURE_REGISTRIES, write
from tests.store.test_incremental_reads import age_all, edit_json, view

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


@pytest.mark.parametrize("unread_too", [False, True], ids=["kept", "plan"])
def test_a_foreign_edit_since_the_commit_is_read_in_full(registries: Path,
                                                         unread_too: bool) -> None:
    store = committed(registries)
    age_all(registries)
    store.snapshot(lazy=True, unread=True)  # the reads kept: the stat alone vouches
    edit_json(registries / "agent_registry.json",
              lambda d: d["agents"][0].update(description="by hand"))
    age_all(registries)
    lazy = store.snapshot(lazy=True, unread=unread_too)
    # a kept snapshot decodes the edited file; a plan's lays it out and holds it open
    assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries) is unread_too
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
        live = store.snapshot(lazy=lazily, unread=lazily)
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
    lazy: Any = LazyEntries.of(Kind.AGENT, data, jsonspans.scan_list_layout(
        data, "agents", "agent_id"), source)
    assert dict(lazy._spans) == spans  # noqa: SLF001
    plain: dict[str, Resource] = {name: Resource(ResourceKey(Kind.AGENT, name),
                                                 {"agent_id": name}, source)
                                  for name in spans}
    copies = replay(lazy, plain, operations, Kind.AGENT, "agent_id")
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
    decodes them, and their layouts are found and saved on a thread of their own after it
    returns; the next read is lazy."""
    for name in ("agent_registry.json", "tool_registry.json"):
        age(registries / name)
    store = filestore.FileStore(registries)
    assert not (registries / filestore.LAYOUTS).exists()
    first = store.snapshot(lazy=True)
    assert not isinstance(first.state.of_kind(Kind.AGENT), LazyEntries)
    store.wait_for_layouts()
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
    age_all(registries)
    for _ in range(2):
        live = store.snapshot(lazy=True)
        assert not isinstance(live.state.of_kind(Kind.AGENT), LazyEntries)
        assert not isinstance(live.state.of_kind(Kind.WORKFLOW), LazyDocuments)
        assert view(live) == view(store.snapshot())
    assert (registries / filestore.LAYOUTS).is_dir()


# -- the workflows folder: one file per entry ------------------------------------------------

FLOWS = ("alpha", "beta", "claims_triage", "gamma", "other_name")  # in file-name order


def with_workflows(registries: Path) -> filestore.FileStore:
    """Registries with five workflow files (unknown keys, a `_comment`, and `misnamed.json`
    holding `other_name`: L005), settled, and a store whose first lazy read read them
    whole (each checked, its entry left to be read again when asked for: a plan's read
    keeps no decoded workflow) and kept their reads."""
    folder = registries / "workflows"
    template = json.loads((folder / "claims_triage.json").read_text())
    rest = {key: value for key, value in template.items() if key != "workflow_id"}
    for name in ("alpha", "beta", "gamma"):
        write(folder / f"{name}.json", json.dumps(
            {"workflow_id": name, "_comment": "kept", **rest, "x_unknown": [1, 2]}, indent=2))
    write(folder / "misnamed.json", json.dumps({"workflow_id": "other_name", **rest}))
    age_all(registries)
    store = filestore.FileStore(registries)
    first = store.snapshot(lazy=True, unread=True)
    assert set(files_of(first).documents.values()) == set(FLOWS)  # read whole; reads kept
    assert unread(first) == set(FLOWS)
    store.wait_for_layouts()  # (and the list registries' layouts, found after it)
    return store


def unread(live: LiveState) -> set[str]:
    """The workflows whose entry the snapshot holds undecoded (its file unread since, or
    read but not kept: a plan's read keeps none decoded)."""
    return {name for name, item in held(live.state.of_kind(Kind.WORKFLOW)).items()
            if isinstance(item, Deferred) and item._resource is None}  # noqa: SLF001


def planned(store: filestore.FileStore) -> tuple[LiveState, set[str]]:
    """A plan's snapshot of `store`, and the workflows whose file it did not read: each
    held on an earlier read (saved beside the registries, or a commit's), not its own."""
    started = time.time_ns()
    live = store.snapshot(lazy=True, unread=True)
    files = files_of(live)
    return live, {name for name, item in held(live.state.of_kind(Kind.WORKFLOW)).items()
                  if item.source is not None and files.reads[os.path.relpath(
                      item.source.file, files.root)].seen_at < started}


def test_unchanged_workflow_files_are_not_read_and_promise_what_a_full_read_does(
        registries: Path) -> None:
    store = with_workflows(registries)
    lazy, kept = planned(store)
    assert kept == unread(lazy) == set(FLOWS)
    full = store.snapshot()
    assert lazy.fingerprint == full.fingerprint
    assert files_of(lazy).file_digests == files_of(full).file_digests
    assert [str(d) for d in lazy.diagnostics] == [str(d) for d in full.diagnostics]
    assert [d.code for d in lazy.diagnostics] == ["L005"]  # misnamed.json, not read
    assert list(lazy.state.of_kind(Kind.WORKFLOW)) == list(FLOWS)
    assert lazy.kinds_kept() == full.kinds_kept()
    assert unread(lazy) == set(FLOWS)
    assert view(lazy) == view(full)


def test_only_the_workflows_asked_for_are_read(registries: Path) -> None:
    lazy = with_workflows(registries).snapshot(lazy=True, unread=True)
    flows = lazy.state.of_kind(Kind.WORKFLOW)
    assert "beta" in flows and "misnamed" not in flows and len(flows) == len(FLOWS)
    assert flows["beta"].entry["_comment"] == "kept"
    assert unread(lazy) == set(FLOWS) - {"beta"}
    copied = lazy.state.copy()
    assert copied.of_kind(Kind.WORKFLOW)["beta"] is flows["beta"]  # read once for both
    del copied.resources[Kind.WORKFLOW]["gamma"]  # changed apart, still unread
    assert "gamma" in flows and unread(lazy) == set(FLOWS) - {"beta"}


def _touch(folder: Path) -> None:
    os.utime(folder / "beta.json")


def _edit(folder: Path) -> None:
    edit_json(folder / "beta.json", lambda d: d.update(description="by hand"))


def _add(folder: Path) -> None:
    edit_json(shutil.copyfile(folder / "beta.json", folder / "delta.json"),
              lambda d: d.update(workflow_id="delta"))


def _remove(folder: Path) -> None:
    (folder / "beta.json").unlink()


def _rename(folder: Path) -> None:
    (folder / "beta.json").rename(folder / "renamed.json")  # now L005


def _swap(folder: Path) -> None:
    """Same names, sizes and times: each file's inode tells them apart."""
    (folder / "alpha.json").rename(folder / "swap")
    (folder / "gamma.json").rename(folder / "alpha.json")
    (folder / "swap").rename(folder / "gamma.json")


def _duplicate(folder: Path) -> None:
    shutil.copyfile(folder / "alpha.json", folder / "zeta.json")  # alpha twice: L004


def _damage(folder: Path) -> None:
    text = (folder / "beta.json").read_text()
    (folder / "beta.json").write_text(text[: len(text) // 2])  # L001


@pytest.mark.parametrize(("change", "read"), [
    (_touch, {"beta"}), (_edit, {"beta"}), (_add, set()), (_remove, {"beta"}),
    (_rename, {"beta"}), (_swap, {"alpha", "gamma"}), (_duplicate, set()),
    (_damage, {"beta"})], ids=lambda change: getattr(change, "__name__", ""))
def test_a_changed_workflow_folder_is_seen(registries: Path, change: Any,
                                           read: set[str]) -> None:
    """The files a change touched are read (`read`: of those that were there), and the
    new ones; the others are not."""
    store = with_workflows(registries)
    change(registries / "workflows")
    lazy, kept = planned(store)
    assert kept == set(FLOWS) - read
    assert unread(lazy) == set(lazy.state.of_kind(Kind.WORKFLOW))  # those read: not kept
    assert view(lazy) == view(store.snapshot())
    age_all(registries)  # settled since: kept again, and the next lazy read reads nothing
    assert view(store.snapshot(lazy=True, unread=True)) == view(store.snapshot())
    lazy, kept = planned(store)
    assert kept == set(lazy.state.of_kind(Kind.WORKFLOW))  # (zeta.json: L004, read)
    assert view(lazy) == view(store.snapshot())


def test_workflow_bytes_changed_behind_a_kept_read_are_caught(registries: Path) -> None:
    """Same size, the old mtime put back: the inode change time still moves, so the kept
    read does not vouch; the file is read and hashed."""
    store = with_workflows(registries)
    path = registries / "workflows" / "beta.json"
    before = path.stat()
    data = path.read_bytes()
    changed = data.replace(b'"kept"', b'"KEPT"', 1)
    assert len(changed) == len(data) and changed != data
    path.write_bytes(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    lazy, kept = planned(store)
    assert kept == set(FLOWS) - {"beta"}
    assert lazy.state.of_kind(Kind.WORKFLOW)["beta"].entry["_comment"] == "KEPT"
    assert view(lazy) == view(store.snapshot())


def test_a_workflow_file_not_settled_when_read_is_read_again(registries: Path) -> None:
    """A read can vouch for a file only once its mtime is older than the read by more
    than the clock's tick (an edit in the same tick keeps the mtime): a file whose mtime is
    still ahead is read by every lazy snapshot."""
    store = with_workflows(registries)
    path = registries / "workflows" / "beta.json"
    _edit(registries / "workflows")
    ahead = path.stat().st_mtime_ns + 3_600_000_000_000
    os.utime(path, ns=(ahead, ahead))
    for _ in range(2):
        lazy, kept = planned(store)
        assert kept == set(FLOWS) - {"beta"}
        assert view(lazy) == view(store.snapshot())
    assert "workflows/beta.json" not in json.loads(
        (registries / filestore.LAYOUTS).read_text())["documents"]


def test_a_workflow_changed_after_the_snapshot_is_never_served_as_its_entry(
        registries: Path) -> None:
    """The snapshot promised the bytes it saw: a file changed (or gone) since cannot
    keep that promise, and says so rather than hand out other content."""
    store = with_workflows(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    folder = registries / "workflows"
    edit_json(folder / "beta.json", lambda d: d.update(description="later"))
    (folder / "gamma.json").unlink()
    flows = lazy.state.of_kind(Kind.WORKFLOW)
    for name in ("beta", "gamma"):
        with pytest.raises(StoreError, match="changed since this snapshot"):
            flows[name]  # noqa: B018 (asking is the test)
    assert flows["alpha"].entry["workflow_id"] == "alpha"
    assert view(store.snapshot(lazy=True, unread=True)) == view(store.snapshot())


def test_a_refresh_keeps_unchanged_workflows_unread(registries: Path) -> None:
    store = with_workflows(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    folder = registries / "workflows"
    _edit(folder)
    (folder / "gamma.json").unlink()  # its entry is never read: the file is gone
    caught = store.catch_up(lazy, store.head())
    assert sorted(key.name for key in caught.changed or ()) == ["beta", "gamma"]
    assert unread(caught.live) == {"alpha", "claims_triage", "other_name"}
    assert store.is_current(caught.live)
    assert view(caught.live) == view(store.snapshot())


def test_a_commit_from_a_lazy_snapshot_writes_workflows_as_a_full_one_does(
        registries: Path, tmp_path: Path) -> None:
    """And the state after it is derived without reading the files it left unread (with
    no L005 in the folder: with it, the files would be read again)."""
    other = tmp_path / "other"
    with_workflows(registries)
    (registries / "workflows" / "misnamed.json").unlink()
    shutil.copytree(registries, other)
    written = []
    for root, lazily in ((registries, True), (other, False)):
        store = filestore.FileStore(root)
        live = store.snapshot(lazy=lazily, unread=lazily)
        assert unread(live) == ({"alpha", "beta", "claims_triage", "gamma"} if lazily
                                else set())
        flows = live.state.of_kind(Kind.WORKFLOW)
        changes: dict[ResourceKey, Any] = {
            ResourceKey(Kind.WORKFLOW, "beta"): dict(flows["beta"].entry, mode="auto"),
            ResourceKey(Kind.WORKFLOW, "gamma"): None,
            ResourceKey(Kind.WORKFLOW, "delta"): dict(flows["beta"].entry, workflow_id="delta"),
            FRAUD: dict(live.state.get(FRAUD).entry, max_iterations=9)}
        full = store.snapshot()  # the entries before, without reading gamma.json in `live`
        befores = {key: (full.state.get(key).entry if key in full.state else None)
                   for key in changes}
        revision = store.commit(changes, expected=live.fingerprint, befores=befores,
                                info=default_info("test"), known=live)
        assert "gamma" in unread(live) or not lazily
        written.append({path.name: path.read_bytes()
                        for path in sorted((root / "workflows").iterdir())})
        after = store.after_commit(live, changes, revision)  # gamma.json unread, and gone
        assert after.changed is not None  # derived, not read again
        assert unread(after.live) == ({"alpha", "claims_triage"} if lazily else set())
        assert view(after.live) == view(store.snapshot())
        if lazily:  # the commit kept the reads of the files it left as they were
            again, kept = planned(store)
            assert kept == {"alpha", "claims_triage"}
            assert view(again) == view(store.snapshot())
    assert written[0] == written[1]
    assert written[0]["beta.json"].count(b'"_comment": "kept"') == 1
    assert b'"x_unknown"' in written[0]["beta.json"]


def test_damaged_saved_workflow_reads_mean_a_full_read(registries: Path) -> None:
    store = with_workflows(registries)
    layouts = registries / filestore.LAYOUTS
    body = json.loads(layouts.read_text())
    assert set(body["documents"]) == {f"workflows/{name}.json" for name in
                                      ("alpha", "beta", "claims_triage", "gamma", "misnamed")}
    for damage in ({"workflows/beta.json": {"id": 3}}, [], {"workflows/beta.json": {
            **body["documents"]["workflows/beta.json"], "read": [[1, 2], 3]}}):
        layouts.write_text(json.dumps({**body, "documents": damage}))
        lazy, kept = planned(store)
        assert kept == set()
        assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)  # the rest holds
        assert view(lazy) == view(store.snapshot())
    again, kept = planned(store)
    assert kept == set(FLOWS)  # the full read saved them again


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_changes_to_the_workflows_folder_read_as_a_full_read(
        registries: Path, seed: int) -> None:
    """Edits, touches, same-size edits with the old mtime put back, new, removed, renamed,
    swapped, duplicated, misnamed and damaged files, commits, in any order: after each,
    a lazy snapshot (and a refresh of the previous one) is the full read."""
    rng = random.Random(seed)
    store = with_workflows(registries)
    folder = registries / "workflows"
    previous = store.snapshot(lazy=True, unread=True)
    left_unread = 0
    for step in range(30):
        names = sorted(path.name for path in folder.glob("*.json"))
        choice = rng.choice(["edit", "same-size", "touch", "add", "remove", "rename", "swap",
                             "duplicate", "damage", "commit", "nothing"])
        if choice == "same-size" and names:
            path = folder / rng.choice(names)
            before, data = path.stat(), path.read_bytes()
            path.write_bytes(data.replace(b"e", b"E", 1))
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        elif choice == "commit":
            live = store.snapshot(lazy=rng.random() < 0.5)
            problems = {d.file for d in live.diagnostics}
            flows = [name for name, flow in live.state.of_kind(Kind.WORKFLOW).items()
                     if flow.source and flow.source.file == str(folder / f"{name}.json")
                     and flow.source.file not in problems]
            if flows:
                key = ResourceKey(Kind.WORKFLOW, rng.choice(flows))
                before = live.state.get(key).entry  # type: ignore[union-attr]
                store.commit({key: dict(before, description=f"commit {step}")},
                             expected=live.fingerprint, known=live, befores={key: before},
                             info=default_info("test"))
        elif names and choice in _STEPS:
            _STEPS[choice](folder, rng, names, step)
        lazy, kept = planned(store)
        left_unread += len(kept)
        full = store.snapshot()
        assert view(lazy) == view(full), (step, choice)
        assert view(store.refresh(previous)) == view(full), (step, choice, "refresh")
        previous = lazy
        if rng.random() < 0.5:
            age_all(registries, 30 + step)  # settled: read and kept by the next lazy read
    assert left_unread > 30  # the lazy reads did leave files unread


def _random_edit(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    path = folder / rng.choice(names)  # the first string value: often the id (then L005)
    path.write_text(path.read_text().replace('": "', f'": "e{step}', 1))


def _random_add(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    write(folder / f"n{step}.json", json.dumps({"workflow_id": f"n{step}", "steps": []}))


def _random_rename(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    (folder / rng.choice(names)).rename(folder / f"r{step}.json")


def _random_swap(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    first, second = rng.sample(names, 2) if len(names) > 1 else (names[0], names[0])
    if first == second:
        return
    (folder / first).rename(folder / "swap")
    (folder / second).rename(folder / first)
    (folder / "swap").rename(folder / second)


def _random_duplicate(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    shutil.copyfile(folder / rng.choice(names), folder / f"d{step}.json")


def _random_damage(folder: Path, rng: random.Random, names: list[str], step: int) -> None:
    path = folder / rng.choice(names)
    path.write_text(path.read_text()[:-3] + ("NaN" if step % 2 else ""))


_STEPS = {"edit": _random_edit, "add": _random_add, "rename": _random_rename,
          "swap": _random_swap, "duplicate": _random_duplicate, "damage": _random_damage,
          "touch": lambda folder, rng, names, step: os.utime(folder / rng.choice(names)),
          "remove": lambda folder, rng, names, step: (folder / rng.choice(names)).unlink()}


@settings(max_examples=200, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_lazy_documents_behave_as_the_dict_the_reader_builds(
        tmp_path: Path, operations: list[tuple[str, str]]) -> None:
    """The same steps as for `LazyEntries`, over entries whose files are not read yet."""
    plain: dict[str, Resource] = {}
    lazy: Any = LazyDocuments()
    for name in ("a", "b", "c"):
        path = write(tmp_path / f"{name}.json", json.dumps({"workflow_id": name}))
        key = ResourceKey(Kind.WORKFLOW, name)
        lazy.defer(Deferred(key, Source(str(path)), registry_files._sha256(  # noqa: SLF001
            path.read_bytes())))
        plain[name] = Resource(key, {"workflow_id": name}, Source(str(path)))
    copies = replay(lazy, plain, operations, Kind.WORKFLOW, "workflow_id")
    for kept, expected in copies:
        assert [(n, kept[n].entry) for n in kept] == [(n, r.entry) for n, r in expected.items()]


def test_a_snapshot_kept_by_a_long_lived_reader_reads_every_workflow(registries: Path) -> None:
    """Without `unread` (the library keeps its snapshot for hours), workflow files are read
    at once: an entry cannot fail later because its file changed meanwhile."""
    store = with_workflows(registries)
    expected = view(store.snapshot())
    kept = store.snapshot(lazy=True)
    for path in (registries / "workflows").glob("*.json"):
        path.write_text("{}")
    assert view(kept) == expected


# -- a plan's snapshot: the files held open, the governance file laid out -------------------

LAID_OUT = {"agent_registry.json", "tool_registry.json", "model_profiles.json",
            "governance_policies.json"}
LIMITS = ResourceKey(Kind.GOVERNANCE_POLICY, "iteration_limits")


def held_store(registries: Path) -> filestore.FileStore:
    """A committed store, settled since, whose first plan's read kept every layout (the
    governance file's too) and read: a plan's snapshot of it holds each of those open."""
    store = committed(registries)
    age_all(registries)
    store.snapshot(lazy=True, unread=True)
    store.wait_for_layouts()  # the governance file's, found after that read
    return store


def holding(live: LiveState) -> set[str]:
    """The files a snapshot holds open rather than in memory."""
    return {relative for relative, data in files_of(live).data.items()
            if isinstance(data, HeldFile)}


def test_a_plans_snapshot_holds_the_files_open_and_promises_a_full_read(
        registries: Path) -> None:
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    assert holding(lazy) == LAID_OUT
    policies = lazy.state.of_kind(Kind.GOVERNANCE_POLICY)
    assert isinstance(policies, LazyEntries) and policies._decoded == {}  # noqa: SLF001
    full = store.snapshot()
    assert lazy.headers == full.headers and lazy.kinds_kept() == full.kinds_kept()
    assert policies[LIMITS.name].entry == full.state.get(LIMITS).entry  # type: ignore[union-attr]
    assert list(policies._decoded) == [LIMITS.name]  # noqa: SLF001
    assert view(lazy) == view(full)
    agents = [name for name in full.state.of_kind(Kind.AGENT)]
    tools = [name for name in full.state.of_kind(Kind.TOOL)]
    assert [Governance.of_live(lazy).decide(agent, Verb.USE, tool).allowed
            for agent in agents for tool in tools] == [
        Governance.of_live(full).decide(agent, Verb.USE, tool).allowed
        for agent in agents for tool in tools]


def test_a_snapshot_kept_long_holds_bytes_and_decodes_the_governance_file_whole(
        registries: Path) -> None:
    """Without `unread` (the library keeps its snapshot for hours): as before."""
    store = held_store(registries)
    kept = store.snapshot(lazy=True)
    assert holding(kept) == set()
    assert isinstance(kept.state.of_kind(Kind.AGENT), LazyEntries)
    assert type(kept.state.of_kind(Kind.GOVERNANCE_POLICY)) is dict
    assert view(kept) == view(store.snapshot())


def test_a_held_snapshot_still_serves_its_bytes_after_a_commit_replaced_the_files(
        registries: Path) -> None:
    """A commit renames new files over the old: the held inodes keep the snapshot's bytes
    (their change time moves as they are unlinked, their bytes do not)."""
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    expected = view(store.snapshot())
    full = store.snapshot()
    limits = full.state.get(LIMITS).entry  # type: ignore[union-attr]
    store.commit({FRAUD: dict(full.state.get(FRAUD).entry, description="later"),  # type: ignore[union-attr]
                  LIMITS: dict(limits, description="later")},
                 expected=full.fingerprint, info=default_info("test"))
    assert view(lazy) == expected


def _same_size_edit(path: Path) -> None:
    """Another entry's bytes changed in place, same size, the old mtime put back."""
    before = path.stat()
    data = path.read_bytes()
    at = data.rindex(b'"description": "') + len(b'"description": "')
    with open(path, "r+b") as handle:
        handle.seek(at)
        handle.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _cut_short(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _appended(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"\n")


@pytest.mark.parametrize("change", [_same_size_edit, _cut_short, _appended],
                         ids=lambda change: change.__name__)
@pytest.mark.parametrize("key", [FRAUD, LIMITS], ids=str)
def test_a_held_file_changed_in_place_is_never_served(registries: Path, change: Any,
                                                      key: ResourceKey) -> None:
    """The snapshot promised the bytes it saw: an edit of the same inode (an editor that
    writes in place) cannot keep that promise, and asking says so (a file cut short: no
    SIGBUS, as a mapping would give)."""
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    change(registries / ("agent_registry.json" if key.kind is Kind.AGENT
                         else "governance_policies.json"))
    with pytest.raises(StoreError, match="changed in place since this snapshot"):
        lazy.state.of_kind(key.kind)[key.name]  # noqa: B018 (asking is the test)
    assert view(store.snapshot(lazy=True, unread=True)) == view(store.snapshot())


def test_a_commit_from_a_held_snapshot_after_an_in_place_edit_is_stale(
        registries: Path) -> None:
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    fraud = dict(lazy.state.get(FRAUD).entry, description="planned")  # type: ignore[union-attr]
    _same_size_edit(registries / "agent_registry.json")
    before = {path: path.read_bytes() for path in registries.glob("*.json")}
    with pytest.raises(StalePlan):
        store.commit({FRAUD: fraud}, expected=lazy.fingerprint, known=lazy,
                     info=default_info("test"))
    assert {path: path.read_bytes() for path in registries.glob("*.json")} == before


def test_a_file_not_settled_when_a_plan_reads_it_is_read_into_memory(
        registries: Path) -> None:
    """A held file can tell a later write only by its mtime once settled: until then the
    snapshot reads its bytes, as a long-lived one does."""
    store = held_store(registries)
    path = registries / "agent_registry.json"
    ahead = path.stat().st_mtime_ns + 3_600_000_000_000
    os.utime(path, ns=(ahead, ahead))
    lazy = store.snapshot(lazy=True, unread=True)
    assert holding(lazy) == LAID_OUT - {"agent_registry.json"}
    assert isinstance(files_of(lazy).data["agent_registry.json"], bytes)
    assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
    assert view(lazy) == view(store.snapshot())


def _replace(path: Path) -> None:
    """An editor that writes a new file and renames it over the old."""
    edited = path.read_bytes().replace(b'"committed"', b'"replaced"')
    write(path.with_suffix(".new"), edited).replace(path)


def _in_place(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"committed"', b'"in place"'))


@pytest.mark.parametrize("change", [_replace, _in_place, _same_size_edit],
                         ids=lambda change: change.__name__)
@pytest.mark.parametrize("decoded", [False, True], ids=["undecoded", "decoded"])
def test_a_held_snapshot_refreshes_to_a_full_read(registries: Path, change: Any,
                                                  decoded: bool) -> None:
    """Bringing it up to date decodes what changed from the held bytes when they are still
    the snapshot's (a rename), in full when not (an edit in place: then which entries
    changed is known only if the snapshot had decoded them)."""
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    if decoded:
        view(lazy)
    change(registries / "agent_registry.json")
    caught = store.catch_up(lazy, store.head())
    if change is _replace:
        assert caught.changed == [FRAUD]
    else:
        assert (caught.changed is not None) is decoded
    assert view(caught.live) == view(store.snapshot())


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files by /proc")
def test_a_dropped_snapshot_closes_the_files_it_held(registries: Path) -> None:
    store = held_store(registries)
    before = len(os.listdir("/proc/self/fd"))
    lazy = store.snapshot(lazy=True, unread=True)
    copied = lazy.state.copy()
    assert len(os.listdir("/proc/self/fd")) == before + len(LAID_OUT)
    del lazy
    assert len(os.listdir("/proc/self/fd")) == before + len(LAID_OUT)  # the copy holds them
    del copied
    assert len(os.listdir("/proc/self/fd")) == before


def _no_copy_file_range(*args: Any) -> int:
    import errno
    raise OSError(errno.EXDEV, "not here")


@pytest.mark.parametrize("in_kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_a_commit_from_a_held_snapshot_writes_what_a_full_one_does_byte_for_byte(
        registries: Path, tmp_path: Path, in_kernel: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The governance file and the list registries, spliced from the held files' bytes:
    unknown keys, key order and `_comment`s as a full snapshot's commit keeps them. The
    untouched spans of a held list registry are copied from the old file to the new one
    (by `copy_file_range`, or by reads and writes where the file system has none)."""
    if not in_kernel:
        monkeypatch.setattr(os, "copy_file_range", _no_copy_file_range)
    other = tmp_path / "other"
    held_store(registries)
    shutil.copytree(registries, other)
    written = []
    for root, lazily in ((registries, True), (other, False)):
        store = filestore.FileStore(root)
        live = store.snapshot(lazy=lazily, unread=lazily)
        assert holding(live) == (LAID_OUT if lazily else set())
        limits = live.state.get(LIMITS).entry  # type: ignore[union-attr]
        changes: dict[ResourceKey, Any] = {
            FRAUD: dict(live.state.get(FRAUD).entry, max_iterations=9),  # type: ignore[union-attr]
            ResourceKey(Kind.TOOL, "similarity"): None,
            LIMITS: dict(limits, description="tighter", x_unknown=[1]),
            ResourceKey(Kind.GOVERNANCE_POLICY, "new_policy"): {"description": "new"}}
        store.commit(changes, expected=live.fingerprint, info=default_info("test"),
                     known=live)
        written.append({name: re.sub(rb'"last_updated": "[^"]*"', b"", (root / name).read_bytes())
                        for name in sorted(LAID_OUT)})
        assert view(store.snapshot(lazy=True, unread=True)) == view(store.snapshot())
    assert written[0] == written[1]
    assert b'"_comment"' in written[0]["governance_policies.json"]


def test_a_held_registry_edited_in_place_while_a_commit_copies_it_fails_the_commit(
        registries: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit copies the untouched entries from the file the plan read. An editor
    writing into that very file meanwhile (after the commit's stat check) would make the
    copy a mix of two versions: the commit sees the file moved, writes nothing and says so;
    the edit stays, and no debris is left."""
    store = held_store(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    fraud = dict(lazy.state.get(FRAUD).entry, description="planned")  # type: ignore[union-attr]
    path = registries / "agent_registry.json"
    copy = os.copy_file_range
    edited: list[bytes] = []

    def edit_then_copy(*args: Any) -> int:
        if not edited:
            _in_place(path)
            edited.append(path.read_bytes())
        return copy(*args)

    monkeypatch.setattr(os, "copy_file_range", edit_then_copy)
    with pytest.raises(StoreError, match="changed in place since this snapshot"):
        store.commit({FRAUD: fraud}, expected=lazy.fingerprint, known=lazy,
                     info=default_info("test"))
    assert edited and path.read_bytes() == edited[0]
    assert not list((registries / ".meshctl" / "txn").glob("*"))
    assert not (registries / ".meshctl" / "journal.json").exists()
    assert b'"planned"' not in path.read_bytes()


@pytest.mark.parametrize("known", [True, False], ids=["planned", "unplanned"])
def test_a_commit_keeps_the_settled_reads_of_the_files_it_does_not_write(
        registries: Path, known: bool) -> None:
    """A tools-only commit: the next plan's read need not hash the agent registry (nor
    the governance file) again; the tool registry, just written, it hashes."""
    store = held_store(registries)
    saved = json.loads((registries / filestore.LAYOUTS).read_text())["files"]
    assert all("read" in saved[name] for name in LAID_OUT)
    live = store.snapshot(lazy=True, unread=True)
    rules = dict(live.state.get(RULES).entry, description="tools only")  # type: ignore[union-attr]
    store.commit({RULES: rules}, expected=live.fingerprint, info=default_info("test"),
                 known=live if known else None)
    after = json.loads((registries / filestore.LAYOUTS).read_text())["files"]
    for name in LAID_OUT - {"tool_registry.json"}:
        assert after[name]["read"] == saved[name]["read"], name
    assert "read" not in after["tool_registry.json"]
    again = store.snapshot(lazy=True, unread=True)  # (the tool registry: held once settled)
    assert holding(again) >= LAID_OUT - {"tool_registry.json"}
    assert view(again) == view(store.snapshot())


def test_a_commit_keeps_proofs_of_the_files_it_wrote(registries: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The files a commit writes are vouched for by a stat taken once they are in place:
    the next plan's read holds the agent registry a commit rewrote instead of hashing it.
    An in-place edit after that (same size) is seen all the same."""
    monkeypatch.setattr(registry_files, "FINE_NS", 0)  # as a large file's sync gives
    store = held_store(registries)
    live = store.snapshot(lazy=True, unread=True)
    fraud = dict(live.state.get(FRAUD).entry, description="rewritten")  # type: ignore[union-attr]
    store.commit({FRAUD: fraud}, expected=live.fingerprint, info=default_info("test"),
                 known=live)
    proofs = json.loads((registries / filestore.PROOFS).read_text())["reads"]
    assert set(proofs) == {"agent_registry.json"}
    hashed: list[str] = []
    digest = HeldFile.digest

    def spy(self: HeldFile) -> str:
        hashed.append(Path(self.path).name)
        return digest(self)

    monkeypatch.setattr(HeldFile, "digest", spy)
    again = store.snapshot(lazy=True, unread=True)
    assert "agent_registry.json" in holding(again)
    assert hashed == []
    assert view(again) == view(store.snapshot())
    agents = registries / "agent_registry.json"
    agents.write_bytes(agents.read_bytes().replace(b'"rewritten"', b'"REWRITTEN"'))
    edited = store.snapshot(lazy=True, unread=True)
    assert edited.state.get(FRAUD).entry["description"] == "REWRITTEN"  # type: ignore[union-attr]
    assert view(edited) == view(store.snapshot())


def _compact(document: dict[str, Any]) -> str:
    return json.dumps(document)


def _not_an_object(document: dict[str, Any]) -> str:
    document["policies"]["broken"] = [1, 2]
    return json.dumps(document, indent=2)


def _twice(document: dict[str, Any]) -> str:
    text = json.dumps(document, indent=2)
    return text.replace('"model_usage": {', '"iteration_limits": {\n      "twice": true\n'
                        '    },\n    "model_usage": {', 1)


def _trailing(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n}"


def _lone_surrogate(document: dict[str, Any]) -> str:
    document["policies"]["\ud800"] = {"description": "not UTF-8"}  # L001: Python's JSON
    return json.dumps(document, indent=2)


def _non_ascii(document: dict[str, Any]) -> str:
    document["_comment"] = "Zürich, 東京"
    document["policies"]["iteration_limits"]["description"] = "für alle"
    return json.dumps(document, indent=4, ensure_ascii=False)


@pytest.mark.parametrize(("layout", "lazily"), [
    (_compact, False), (_not_an_object, False), (_twice, False), (_trailing, False),
    (_lone_surrogate, False), (_non_ascii, True)],
    ids=lambda value: getattr(value, "__name__", str(value)))
def test_a_governance_file_is_laid_out_only_as_a_full_read_would_read_it(
        registries: Path, layout: Any, lazily: bool) -> None:
    """Whatever its shape (one line, a policy that is no object: L003, a name twice, text
    after the document: L001, any indent and UTF-8), every plan's read of it is the full
    read; it is laid out (and its policies decoded lazily from the next read on) only when
    one block holds each policy, each name once."""
    store = held_store(registries)
    path = registries / "governance_policies.json"
    path.write_text(layout(json.loads(path.read_text())), encoding="utf-8")
    age_all(registries)
    for _ in range(2):
        lazy = store.snapshot(lazy=True, unread=True)
        assert view(lazy) == view(store.snapshot())
        store.wait_for_layouts()  # (found after the read)
    policies = lazy.state.of_kind(Kind.GOVERNANCE_POLICY)
    assert isinstance(policies, LazyEntries) is lazily


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(policies=st.dictionaries(st.text(max_size=4), st.dictionaries(
           st.text(max_size=3), JSON_VALUES, max_size=3) | JSON_VALUES, max_size=4),
       header=st.dictionaries(st.sampled_from(["version", "_comment", "policies"]),
                              JSON_VALUES, max_size=2),
       indent=st.sampled_from([None, 0, 1, 2, 4, "\t"]), ascii_only=st.booleans())
def test_a_policy_maps_layout_is_a_whole_decode_plus_where_each_policy_is(
        policies: dict[str, Any], header: dict[str, Any], indent: Any,
        ascii_only: bool) -> None:
    """`decode_policy_map` gives what orjson gives (order included) or None, and each
    name's span holds its policy."""
    data = json.dumps({**header, "policies": policies}, indent=indent,
                      ensure_ascii=ascii_only).encode()
    found = jsonspans.decode_policy_map(data, "policies")
    if found is None:
        return
    document, layout = found
    whole = orjson.loads(data)
    assert list(document.items()) == list(whole.items())
    assert list(document["policies"]) == list(layout.ids)
    for name, start, end in zip(layout.ids, layout.starts, layout.ends, strict=True):
        assert orjson.loads(data[start:end]) == whole["policies"][name]
    for member in layout.members:
        assert orjson.loads(data[member.value.start:member.value.end]) == whole[member.key]


def test_a_policy_map_laid_out_one_block_per_policy_is_decoded_with_its_layout() -> None:
    """(That the property above is not only ever None.)"""
    data = (FIXTURE_REGISTRIES / "governance_policies.json").read_bytes()
    found = jsonspans.decode_policy_map(data, "policies")
    assert found is not None and found[0] == orjson.loads(data)
    assert "agent_tool_access" in found[1].ids


def test_a_registry_nested_deeper_than_the_writers_go_is_never_read_lazily(
        registries: Path) -> None:
    """orjson reads 1,024 levels and writes 255: a full read reports such a file (L001) and
    reads nothing from it, so no layout of it may be kept for a lazy read to trust."""
    path = registries / "agent_registry.json"
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"deeper": deep}
    edit_json(path, lambda d: d["agents"][1].update(x_deep=deep))
    age_all(registries)
    store = filestore.FileStore(registries)
    full = store.snapshot()
    assert "L001" in {d.code for d in full.diagnostics}
    for unread_too in (False, True, False):
        assert view(store.snapshot(lazy=True, unread=unread_too)) == view(full)


@pytest.mark.parametrize("unread_too", [False, True], ids=["kept", "plan"])
def test_an_id_twice_in_a_list_registry_is_never_read_lazily(registries: Path,
                                                            unread_too: bool) -> None:
    """The full read keys the first and reports the second (L004): a lazy read of its
    layout could not, so it reads in full each time."""
    edit_json(registries / "agent_registry.json",
              lambda d: d["agents"].append(dict(d["agents"][3], description="second")))
    age_all(registries)
    store = filestore.FileStore(registries)
    full = store.snapshot()
    assert "L004" in {d.code for d in full.diagnostics}
    for _ in range(2):
        lazy = store.snapshot(lazy=True, unread=unread_too)
        assert not isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)
        assert view(lazy) == view(full)


def _misplaced(registries: Path, relative: str) -> str:
    """The saved layout of `relative` edited to put its first entry at the `version`
    member (its digest still the file's); that entry's name."""
    path = registries / filestore.LAYOUTS
    body = json.loads(path.read_text())
    saved = body["files"][relative]["layout"]
    version = next(m for m in saved["members"] if m[0] == "version")
    saved["starts"][0], saved["ends"][0] = version[2], version[3]
    path.write_text(json.dumps(body))
    return str(saved["ids"][0])


@pytest.mark.parametrize("relative", ["governance_policies.json", "agent_registry.json"])
def test_a_layout_whose_spans_hold_no_entry_is_never_served(registries: Path,
                                                            relative: str) -> None:
    """A saved layout that passes for the file's (its digest) but points elsewhere (edited
    by hand): asking for such an entry says so rather than hand out another value, and
    bringing the snapshot up to date after an edit reads the file in full."""
    store = held_store(registries)
    name = _misplaced(registries, relative)
    kind = Kind.GOVERNANCE_POLICY if relative.startswith("governance") else Kind.AGENT
    snapshots = [store.snapshot(lazy=True, unread=True)]
    if kind is Kind.AGENT:  # (a kept snapshot decodes the governance file whole)
        snapshots.append(store.snapshot(lazy=True))
    for lazy in snapshots:
        with pytest.raises(StoreError, match="cannot be decoded where its layout says"):
            lazy.state.of_kind(kind)[name]  # noqa: B018 (asking is the test)
    _same_size_edit(registries / relative)
    assert view(store.refresh(lazy)) == view(store.snapshot())


def replay(lazy: Any, plain: dict[str, Resource], operations: list[tuple[str, str]],
           kind: Kind, id_field: str) -> list[tuple[Any, dict[str, Resource]]]:
    """Apply `operations` (set, del, copy) to a lazy mapping and to the dict it stands
    for, holding them equal after each; the copies taken, each with what it must hold."""
    copies: list[tuple[Any, dict[str, Resource]]] = []
    for step, (operation, name) in enumerate(operations):
        if operation == "set":
            resource = Resource(ResourceKey(kind, name), {id_field: name, "n": step})
            lazy[name], plain[name] = resource, resource
        elif operation == "del" and name in plain:
            del lazy[name], plain[name]
        elif operation == "copy":
            copies.append((lazy, dict(plain)))
            lazy, plain = lazy.copy(), dict(plain)
        assert list(lazy) == list(plain) and len(lazy) == len(plain)
        assert {n: lazy[n].entry for n in lazy} == {n: r.entry for n, r in plain.items()}
    return copies


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize("case", ["as-is", "unkeyed", "twice", "too-deep", "unsettled"])
def test_a_plans_snapshot_of_registries_never_laid_out_holds_them_open(
        registries: Path, case: str) -> None:
    """Registries no meshctl has read (or edited by another program): a plan's snapshot
    lays the agent registry out now (each entry decoded to prove it, none kept) and holds
    it open, so a plan at 100,000 agents does not hold 830 MB of entries; it saves the
    layout for the next. What such a read cannot serve lazily (an entry without an id, an
    id twice, data too deep to write, a file written too recently for its stat to vouch)
    is read in full as before, with its findings."""
    path = registries / "agent_registry.json"
    if case == "unkeyed":
        edit_json(path, lambda d: d["agents"].append({"name": "no id"}))
    elif case == "twice":
        edit_json(path, lambda d: d["agents"].append(dict(d["agents"][1])))
    elif case == "too-deep":
        edit_json(path, lambda d: d["agents"][1].update(x_deep=_nested(300)))
    if case != "unsettled":
        age_all(registries)
    store = filestore.FileStore(registries)
    assert not (registries / filestore.LAYOUTS).exists()
    lazy = store.snapshot(lazy=True, unread=True)
    held_open = case == "as-is"
    assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries) is held_open
    assert ("agent_registry.json" in holding(lazy)) is held_open
    assert view(lazy) == view(store.snapshot())
    if held_open:
        saved = json.loads((registries / filestore.LAYOUTS).read_text())["files"]
        assert "agent_registry.json" in saved
        again = store.snapshot(lazy=True, unread=True)
        assert "agent_registry.json" in holding(again)
        assert view(again) == view(store.snapshot())
