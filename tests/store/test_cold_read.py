"""A cold read (issue 26): registries no meshctl process has laid out are decoded whole
with orjson; where each entry is is found only when a write, a reload or the saving of the
layouts needs it, and the entries become `Resource`s when first asked for. Everything a
reader promises, writes and reloads are as they were."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import filestore, jsonspans
from reconciler.store import layouts as pending_layouts
from reconciler.store.heldfile import HeldFile
from reconciler.store.history import default_info
from reconciler.store.layouts import PendingLayout
from reconciler.store.lazylist import DecodedEntries, LazyEntries
from reconciler.store.registry_files import files_of, read_live_state, refresh_live_state
from tests.store.test_incremental_reads import age_all, edit_json, view

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
LISTS = {"agent_registry.json": ("agents", "agent_id"),
         "tool_registry.json": ("tools", "tool_id")}


@pytest.fixture(autouse=True)
def never_laid_out(registries: Path) -> None:
    """Registries no meshctl process has read: nothing of meshctl's beside them."""
    shutil.rmtree(registries / ".meshctl", ignore_errors=True)


def test_a_cold_read_leaves_the_layouts_to_be_found_when_asked_for(registries: Path) -> None:
    live = read_live_state(registries)
    layouts = files_of(live).layouts
    assert set(LISTS) <= set(layouts.pending())
    for relative, (list_key, id_field) in LISTS.items():
        data = (registries / relative).read_bytes()
        assert layouts[relative] == jsonspans.scan_list_layout(data, list_key, id_field)
        assert relative not in layouts.pending()


def test_a_cold_read_makes_each_entry_when_first_asked_for(registries: Path) -> None:
    live = read_live_state(registries)
    agents = live.state.of_kind(Kind.AGENT)
    assert isinstance(agents, DecodedEntries)
    assert agents._decoded == {}  # noqa: SLF001 (what the laziness is for)
    document = json.loads((registries / "agent_registry.json").read_text())
    assert [(name, resource.entry) for name, resource in agents.items()] == [
        (entry["agent_id"], entry) for entry in document["agents"]]
    assert agents[FRAUD.name] is agents[FRAUD.name]


def test_a_commit_after_a_cold_read_splices_with_the_layout_it_finds(
        registries: Path) -> None:
    """Every entry but the changed one keeps its exact bytes."""
    path = registries / "agent_registry.json"
    before = path.read_bytes()
    old = jsonspans.scan_list_layout(before, "agents", "agent_id")
    store = filestore.FileStore(registries)
    live = store.snapshot(lazy=True)
    assert isinstance(live.state.of_kind(Kind.AGENT), DecodedEntries)  # decoded whole
    store.commit({FRAUD: dict(live.state.get(FRAUD).entry, max_iterations=9)},  # type: ignore[union-attr]
                 expected=live.fingerprint, info=default_info("test"), known=live)
    after = path.read_bytes()
    new = jsonspans.scan_list_layout(after, "agents", "agent_id")
    at = old.ids.index(FRAUD.name)
    for index in range(len(old.ids)):
        if index != at:
            assert before[old.starts[index]:old.ends[index]] == \
                after[new.starts[index]:new.ends[index]]
    assert orjson.loads(after[new.starts[at]:new.ends[at]])["max_iterations"] == 9
    assert view(store.snapshot(lazy=True)) == view(store.snapshot())


def test_a_reload_after_a_cold_read_decodes_only_the_edited_entry(registries: Path) -> None:
    """The layout of the bytes first read is found by the reload, which then keeps every
    entry outside the edit as the very object it was."""
    path = registries / "agent_registry.json"
    live = read_live_state(registries)
    data = path.read_bytes()
    entry = live.state.get(FRAUD)
    assert entry is not None
    old_text = json.dumps(entry.entry["description"]).encode()
    path.write_bytes(data.replace(old_text, json.dumps("edited by hand").encode(), 1))
    again = refresh_live_state(live)
    assert again.state.get(FRAUD).entry["description"] == "edited by hand"  # type: ignore[union-attr]
    for name, resource in again.state.of_kind(Kind.AGENT).items():
        if name != FRAUD.name:
            assert resource.entry is live.state.of_kind(Kind.AGENT)[name].entry
    assert view(again) == view(read_live_state(registries))


def test_the_layouts_found_after_a_cold_read_are_saved_for_the_next(
        registries: Path) -> None:
    age_all(registries)
    store = filestore.FileStore(registries)
    store.snapshot(lazy=True)
    store.wait_for_layouts()
    saved = json.loads((registries / filestore.LAYOUTS).read_text())["files"]
    for relative, (list_key, id_field) in LISTS.items():
        data = (registries / relative).read_bytes()
        assert saved[relative]["layout"] == jsonspans.scan_list_layout(
            data, list_key, id_field).to_json()
    second = store.snapshot(lazy=True)
    assert isinstance(second.state.of_kind(Kind.AGENT), LazyEntries)
    assert view(second) == view(store.snapshot())


def test_no_layout_is_saved_for_a_file_changed_since_the_read(registries: Path) -> None:
    """The layout found after the read is of the bytes read: a file edited meanwhile
    keeps no layout (it would be of other bytes)."""
    age_all(registries)
    store = filestore.FileStore(registries)
    saved = store._saved()  # noqa: SLF001 (the saver's own steps, in order)
    live = read_live_state(registries, saved.layouts)
    edit_json(registries / "agent_registry.json",
              lambda d: d["agents"][0].update(description="meanwhile"))
    store._lay_out_and_keep(files_of(live), saved)  # noqa: SLF001
    kept = json.loads((registries / filestore.LAYOUTS).read_text())["files"]
    digests = files_of(live).file_digests
    assert kept.get("agent_registry.json", {}).get("digest") != digests["agent_registry.json"]
    assert kept["tool_registry.json"]["digest"] == digests["tool_registry.json"]


def _nested(depth: int) -> Any:
    deep: Any = "bottom"
    for _ in range(depth):
        deep = {"deeper": deep}
    return deep


@pytest.mark.parametrize("depth", range(248, 256))
@pytest.mark.parametrize("where", ["agent", "header", "policy"])
def test_the_depth_check_agrees_with_writing_the_whole_file(registries: Path, depth: int,
                                                            where: str) -> None:
    """A registry is checked in chunks; the verdict (L001, nothing read) is what writing
    the whole document with orjson says, to the level."""
    relative = "governance_policies.json" if where == "policy" else "agent_registry.json"
    path = registries / relative
    edit_json(path, {
        "agent": lambda d: d["agents"][1].update(x_deep=_nested(depth)),
        "header": lambda d: d.update(x_deep=_nested(depth)),
        "policy": lambda d: next(iter(d["policies"].values())).update(x_deep=_nested(depth)),
    }[where])
    try:
        orjson.dumps(orjson.loads(path.read_bytes()))
        writable = True
    except TypeError:
        writable = False
    age_all(registries)  # (settled: a plan's read lays the files out now and holds them)
    for layouts, hold in ((None, False), ({}, False), ({}, True)):
        # ({}: a lazy read, which lays out the governance file; `hold`: a plan's)
        live = read_live_state(registries, layouts, hold=hold)
        too_deep = any(d.code == "L001" and d.file == str(path) for d in live.diagnostics)
        assert too_deep is not writable


@pytest.mark.parametrize("indent", [2, 4, None], ids=["indent2", "indent4", "one_line"])
def test_laying_out_alone_finds_what_decoding_with_the_layout_does(registries: Path,
                                                                   indent: int | None) -> None:
    """(Non-ASCII text too: the offsets are bytes.)"""
    for relative, (list_key, id_field) in LISTS.items():
        path = registries / relative
        document = json.loads(path.read_text())
        document[list_key][0]["description"] = "naïve — ünïcode"
        data = json.dumps(document, indent=indent, ensure_ascii=False).encode()
        found = jsonspans.decode_list_registry(data, list_key, id_field)
        assert jsonspans.lay_out_list_registry(data, list_key, id_field) == (
            None if found is None else found[1])
        assert (found is None) is (indent is None)
    data = (registries / "governance_policies.json").read_bytes()
    decoded = jsonspans.decode_policy_map(data, "policies")
    assert decoded is not None
    assert jsonspans.lay_out_policy_map(data, "policies") == decoded[1]
    assert jsonspans.lay_out_policy_map(b'{"policies": {"a": 1}}', "policies") is None


def test_a_plans_first_read_lays_out_and_holds_the_governance_file_too(
        registries: Path) -> None:
    """Registries no meshctl has laid out: a plan's read lays out the list registries and
    the governance file now, on their bytes (no policy kept decoded), and holds them open;
    it promises what a full read gives."""
    age_all(registries)
    store = filestore.FileStore(registries)
    lazy = store.snapshot(lazy=True, unread=True)
    assert {relative for relative, data in files_of(lazy).data.items()
            if isinstance(data, HeldFile)} == {*LISTS, "model_profiles.json",
                                                "governance_policies.json"}
    policies = lazy.state.of_kind(Kind.GOVERNANCE_POLICY)
    assert isinstance(policies, LazyEntries)
    assert policies._decoded == {}  # noqa: SLF001 (what the laying out is for)
    assert view(lazy) == view(store.snapshot())
    data = (registries / "governance_policies.json").read_bytes()
    assert files_of(lazy).layouts["governance_policies.json"] == jsonspans.lay_out_policy_map(
        data, "policies")


class _Finding:
    """The agent registry's layout being found on a thread of its own, held up (in the
    process that started it) until `go_on` is set; `found` counts the findings there."""

    def __init__(self, registries: Path) -> None:
        self.data = (registries / "agent_registry.json").read_bytes()
        self.found: list[int] = []
        self.parent = os.getpid()
        self.started, self.go_on = threading.Event(), threading.Event()
        self.pending = PendingLayout(self._find)
        self.finder = threading.Thread(target=self.pending.resolve)
        self.finder.start()
        self.started.wait(10)

    def _find(self) -> jsonspans.ListLayout | None:
        if os.getpid() == self.parent:
            self.found.append(1)
            self.started.set()
            self.go_on.wait(10)
        return jsonspans.lay_out_list_registry(self.data, "agents", "agent_id")

    def expected(self) -> jsonspans.ListLayout:
        return jsonspans.scan_list_layout(self.data, "agents", "agent_id")


def test_a_layout_asked_for_while_another_thread_finds_it_is_found_once(
        registries: Path) -> None:
    """(A write right after a cold load waits for the saver thread's finding.)"""
    finding = _Finding(registries)
    pending, finder, go_on, found = (finding.pending, finding.finder, finding.go_on,
                                     finding.found)
    asking = threading.Thread(target=pending.resolve)
    asking.start()
    go_on.set()
    finder.join()
    asking.join()
    assert found == [1]
    assert pending.resolve() == finding.expected()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_while_a_layout_is_found_finds_it_itself(registries: Path) -> None:
    """The finding thread does not exist in the child, which must not wait for it."""
    finding = _Finding(registries)
    pending, finder, go_on = finding.pending, finding.finder, finding.go_on
    expected = finding.expected()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports by its exit status)
        began = time.monotonic()
        fine = pending.resolve() == expected and time.monotonic() - began < 5
        os._exit(0 if fine else 1)
    go_on.set()
    finder.join()
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    assert pending.resolve() == expected


@pytest.mark.parametrize("depth", range(251, 257))
def test_a_small_file_is_checked_by_its_brackets_as_writing_it_would(registries: Path,
                                                                    depth: int) -> None:
    """A file with fewer opening brackets than orjson writes levels is not written to be
    checked: the verdict is still writing's, at the boundary."""
    path = registries / "workflows" / "deep.json"
    path.write_text(json.dumps({"workflow_id": "deep", "x_deep": _nested(depth)}))
    try:
        orjson.dumps(orjson.loads(path.read_bytes()))
        writable = True
    except TypeError:
        writable = False
    live = read_live_state(registries)
    too_deep = any(d.code == "L001" and d.file == str(path) for d in live.diagnostics)
    assert too_deep is not writable


def test_layouts_saved_for_the_same_bytes_are_not_found_again(
        registries: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold load of registries whose layouts were saved for these very bytes (the
    governance file, which a long-lived reader decodes whole, included) takes the saved
    layouts: the thread saving them has nothing to find again."""
    age_all(registries)
    first = filestore.FileStore(registries)
    first.snapshot(lazy=True)
    first.wait_for_layouts()
    assert (registries / filestore.LAYOUTS).exists()
    found: list[str] = []
    for name in ("lay_out_list_registry", "lay_out_policy_map"):
        original = getattr(pending_layouts, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            found.append(_name)
            return _original(*args)

        monkeypatch.setattr(pending_layouts, name, counted)
    again = filestore.FileStore(registries)
    live = again.snapshot(lazy=True)
    again.wait_for_layouts()
    assert found == []
    assert view(live) == view(again.snapshot())
