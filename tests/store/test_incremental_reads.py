"""Reading again only what changed: `refresh_live_state` re-reads the files whose stat moved,
`with_commit` builds the state a commit leaves without reading at all, and a commit trusts
the digests of files whose stat vouches for them. Each is checked against a fresh read."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store import filestore
from reconciler.store.registry_files import (
    FileDetail,
    FileRead,
    files_of,
    read_live_state,
    refresh_live_state,
    seal,
    stat_key,
    with_commit,
)
from tests.conftest import write


def age_all(root: Path, seconds: int = 60) -> None:
    """Make every registry file look written a minute ago (settled)."""
    for path in root.rglob("*.json"):
        if ".meshctl" not in path.parts:
            old = path.stat().st_mtime_ns - seconds * 1_000_000_000
            os.utime(path, ns=(old, old))


def view(live: LiveState) -> dict[str, Any]:
    """Everything a reader promises, in order (not when each file was seen)."""
    return {
        "state": {kind.value: [(name, r.entry, r.source.file if r.source else None)
                               for name, r in live.state.of_kind(kind).items()]
                  for kind in Kind},
        "headers": {kind.value: header for kind, header in live.headers.items()},
        "unkeyed": live.unkeyed,
        "digests": files_of(live).file_digests,
        "diagnostics": sorted(str(d) for d in live.diagnostics),
        "fingerprint": live.fingerprint,
    }


def edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_an_unchanged_file_is_not_read_again(registries: Path) -> None:
    age_all(registries)
    before = read_live_state(registries)
    edit_json(registries / "tool_registry.json",
              lambda d: d["tools"][0].update(description="changed"))
    after = refresh_live_state(before)
    assert view(after) == view(read_live_state(registries))
    assert after.state.of_kind(Kind.AGENT) is before.state.of_kind(Kind.AGENT)  # reused
    assert after.state.of_kind(Kind.TOOL) is not before.state.of_kind(Kind.TOOL)
    assert (files_of(after).reads["agent_registry.json"]
            is files_of(before).reads["agent_registry.json"])


def test_a_file_written_within_the_racy_window_is_always_read_again(registries: Path) -> None:
    before = read_live_state(registries)  # every file was just copied: none is settled yet
    after = refresh_live_state(before)
    assert after.state.of_kind(Kind.AGENT) is not before.state.of_kind(Kind.AGENT)
    assert view(after) == view(before)


def test_random_edits_refresh_to_what_a_fresh_read_gives(registries: Path) -> None:
    """Edits, new and removed workflows, damaged files, duplicates and repairs, in any
    order: after each, the refreshed state is the state read from scratch."""
    rng = random.Random(3)
    age_all(registries)
    live = read_live_state(registries)
    flows = registries / "workflows"
    template = json.loads((flows / "claims_triage.json").read_text())
    originals = {name: (registries / name).read_text()
                 for name in ("model_profiles.json", "governance_policies.json")}
    for step in range(40):
        choice = rng.choice(["agent", "tool", "flow+", "flow-", "damage", "duplicate",
                             "mismatch", "nothing"])
        if choice == "agent":
            edit_json(registries / "agent_registry.json",
                      lambda d: d["agents"][rng.randrange(len(d["agents"]))].update(
                          max_iterations=rng.randint(1, 9)))
        elif choice == "tool":
            new_tool = {"tool_id": f"t{step}", "name": "T"}
            edit_json(registries / "tool_registry.json",
                      lambda d, tool=new_tool: d["tools"].append(tool))
        elif choice == "flow+":
            write(flows / f"w{step}.json", json.dumps({**template, "workflow_id": f"w{step}"}))
        elif choice == "flow-":
            existing = sorted(flows.glob("*.json"))
            if existing:
                rng.choice(existing).unlink()
        elif choice == "damage":  # half-written; or, when already damaged, repaired
            name = rng.choice(sorted(originals))
            text = (registries / name).read_text()
            damaged = text != originals[name]
            (registries / name).write_text(originals[name] if damaged else
                                           text[: len(text) // 2])
        elif choice == "duplicate":
            write(flows / f"z{step}.json", json.dumps({**template}))  # claims_triage again
        elif choice == "mismatch":
            write(flows / f"m{step}.json", json.dumps({**template, "workflow_id": f"x{step}"}))
        live = refresh_live_state(live)
        assert view(live) == view(read_live_state(registries)), (step, choice)
        if rng.random() < 0.5:
            age_all(registries, 30 + step)  # settle what was written (a new mtime each time)
            live = refresh_live_state(live)
            assert view(live) == view(read_live_state(registries)), (step, choice, "aged")


def commit(registries: Path, live: LiveState, changes: dict[ResourceKey, Any]
           ) -> filestore.Revision:
    store = filestore.FileStore(registries)
    return store.commit(changes, expected=live.fingerprint, known=live,
                        info=filestore.default_info("library"),
                        befores={k: (live.state.get(k).entry if k in live.state else None)
                                 for k in changes})  # type: ignore[union-attr]


def test_the_state_a_commit_leaves_is_built_without_reading(registries: Path) -> None:
    age_all(registries)
    live = read_live_state(registries)
    rng = random.Random(5)
    agents = list(live.state.of_kind(Kind.AGENT))
    for step in range(12):
        changes: dict[ResourceKey, Any] = {}
        name = rng.choice(agents)
        entry = dict(live.state.of_kind(Kind.AGENT)[name].entry)
        entry["max_iterations"] = step + 1
        changes[ResourceKey(Kind.AGENT, name)] = entry
        changes[ResourceKey(Kind.TOOL, f"new{step}")] = {"tool_id": f"new{step}", "name": "N"}
        if step % 3 == 2:
            changes[ResourceKey(Kind.TOOL, f"new{step - 1}")] = None
        if step % 4 == 0:
            flow = dict(live.state.of_kind(Kind.WORKFLOW)["claims_triage"].entry)
            changes[ResourceKey(Kind.WORKFLOW, f"f{step}")] = {**flow, "workflow_id": f"f{step}"}
        revision = commit(registries, live, changes)
        built = with_commit(live, changes, revision.reads, revision.record["time"])
        assert built is not None
        assert view(built) == view(read_live_state(registries)), step
        assert built.fingerprint == revision.fingerprint_after
        live = built


def test_a_commit_into_a_file_with_unkeyed_entries_is_left_to_a_read(registries: Path) -> None:
    edit_json(registries / "agent_registry.json", lambda d: d["agents"].append({"x": 1}))
    live = read_live_state(registries)
    key = ResourceKey(Kind.AGENT, "fraud_agent")
    revision = commit(registries, live, {key: None})
    assert with_commit(live, {key: None}, revision.reads, revision.record["time"]) is None


def test_a_commit_trusts_only_digests_its_stat_vouches_for(registries: Path) -> None:
    """A known state whose digest for a file is wrong but whose stat still matches would
    make the commit believe the file unchanged: so a stat vouches only once settled. A
    file that changed (new stat) is hashed whatever is known."""
    age_all(registries)
    live = read_live_state(registries)
    tools = registries / "tool_registry.json"
    files = files_of(live)
    forged = FileRead("0" * 64, stat_key(tools.stat()), files.reads["tool_registry.json"].seen_at)
    lying = seal(LiveState(live.state, live.headers, live.unkeyed, live.diagnostics,
                           private=FileDetail(files.root, {**files.file_digests,
                                                           "tool_registry.json": "0" * 64},
                                              {**files.reads, "tool_registry.json": forged})))
    key = ResourceKey(Kind.AGENT, "fraud_agent")
    entry = {**live.state.of_kind(Kind.AGENT)["fraud_agent"].entry, "max_iterations": 7}
    # vouched: the commit takes the known digest, so it agrees with the (lying) fingerprint
    store = filestore.FileStore(registries)
    store.commit({key: entry}, expected=lying.fingerprint, known=lying, befores={key: None},
                 info=filestore.default_info("library"))
    # a file whose stat moved is hashed: the known digest is not believed
    edit_json(tools, lambda d: d["tools"][0].update(name="other"))
    fresh = read_live_state(registries)
    again = {**entry, "max_iterations": 8}
    revision = store.commit({key: again}, expected=fresh.fingerprint, known=lying,
                            befores={key: None}, info=filestore.default_info("library"))
    assert revision.fingerprint_before == fresh.fingerprint
