"""A lazy snapshot (issue 26): a list registry whose bytes the last commit's layout
describes is not decoded; each entry is, when first asked for. A workflow file whose stat
a saved settled read vouches for is not even read until its entry is asked for.
Everything a reader promises is the same as a full read's; a file changed by anyone else
since (another digest, another stat) is read as usual; a commit from a lazy snapshot
writes what one from a full snapshot writes."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store import filestore, registry_files
from reconciler.store.history import default_info
from reconciler.store.lazylist import Deferred, LazyDocuments, LazyEntries, held
from reconciler.store.registry_files import files_of
from tests.conftest import write
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
    whole and kept their reads."""
    folder = registries / "workflows"
    template = json.loads((folder / "claims_triage.json").read_text())
    rest = {key: value for key, value in template.items() if key != "workflow_id"}
    for name in ("alpha", "beta", "gamma"):
        write(folder / f"{name}.json", json.dumps(
            {"workflow_id": name, "_comment": "kept", **rest, "x_unknown": [1, 2]}, indent=2))
    write(folder / "misnamed.json", json.dumps({"workflow_id": "other_name", **rest}))
    age_all(registries)
    store = filestore.FileStore(registries)
    assert unread(store.snapshot(lazy=True, unread=True)) == set()  # read whole; their reads kept
    return store


def unread(live: LiveState) -> set[str]:
    """The workflows whose file the snapshot has not read."""
    return {name for name, item in held(live.state.of_kind(Kind.WORKFLOW)).items()
            if isinstance(item, Deferred) and item._resource is None}  # noqa: SLF001


def test_unchanged_workflow_files_are_not_read_and_promise_what_a_full_read_does(
        registries: Path) -> None:
    store = with_workflows(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    assert unread(lazy) == set(FLOWS)
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
    lazy = store.snapshot(lazy=True, unread=True)
    assert unread(lazy) == set(FLOWS) - read
    assert view(lazy) == view(store.snapshot())
    age_all(registries)  # settled since: kept again, and the next lazy read reads nothing
    assert view(store.snapshot(lazy=True, unread=True)) == view(store.snapshot())
    lazy = store.snapshot(lazy=True, unread=True)
    assert unread(lazy) == set(lazy.state.of_kind(Kind.WORKFLOW))  # (zeta.json: L004, read)
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
    lazy = store.snapshot(lazy=True, unread=True)
    assert unread(lazy) == set(FLOWS) - {"beta"}
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
        lazy = store.snapshot(lazy=True, unread=True)
        assert unread(lazy) == set(FLOWS) - {"beta"}
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
            again = store.snapshot(lazy=True, unread=True)
            assert unread(again) == {"alpha", "claims_triage"}
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
        lazy = store.snapshot(lazy=True, unread=True)
        assert unread(lazy) == set()
        assert isinstance(lazy.state.of_kind(Kind.AGENT), LazyEntries)  # the rest holds
        assert view(lazy) == view(store.snapshot())
    again = store.snapshot(lazy=True, unread=True)
    assert unread(again) == set(FLOWS)  # the full read saved them again


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
        lazy = store.snapshot(lazy=True, unread=True)
        left_unread += len(unread(lazy))
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
    copies: list[tuple[Any, dict[str, Resource]]] = []
    for step, (operation, name) in enumerate(operations):
        if operation == "set":
            resource = Resource(ResourceKey(Kind.WORKFLOW, name), {"workflow_id": name, "n": step})
            lazy[name], plain[name] = resource, resource
        elif operation == "del" and name in plain:
            del lazy[name], plain[name]
        elif operation == "copy":
            copies.append((lazy, dict(plain)))
            lazy, plain = lazy.copy(), dict(plain)
        assert list(lazy) == list(plain) and len(lazy) == len(plain)
        assert {n: lazy[n].entry for n in lazy} == {n: r.entry for n, r in plain.items()}
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
