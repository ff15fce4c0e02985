"""`store export` is deterministic (issue 23): each registry it rewrites is stamped with
the time of the last revision that changed it, as the file store holds it after the same
commits, never with the time of the export. Two exports of one revision are the same
bytes, whether the store was imported from files or filled by commits alone."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import open_store
from reconciler.store.base import ChangeSet, Store
from reconciler.store.filestore import default_info
from reconciler.store.registry_files import registry_file_names
from tests.conftest import FIXTURE_REGISTRIES, copy_tree
from tests.store.pgcli import agent_template, imported, meshctl

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
PROFILE = ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3")


def commit(store: Store, change: Mapping[ResourceKey, str | None]) -> str:
    """Commit `change` (an agent's new description, or None to delete); its time."""
    live = store.snapshot()
    changes: ChangeSet = {}
    for key, description in change.items():
        found = live.state.get(key)
        entry = found.entry if found is not None else {**agent_template(),
                                                       "agent_id": key.name}
        changes = {**changes, key: None if description is None else
                   {**entry, "description": description}}
    revision = store.commit(changes, expected=live.fingerprint, info=default_info("test"))
    stamp = revision.record["time"]
    assert isinstance(stamp, str)
    return stamp


def exported_twice(url: str, tmp_path: Path) -> dict[str, bytes]:
    """Two exports of the same revision a second and more apart: the same bytes."""
    outs = []
    for number in (1, 2):
        time.sleep(1.1)  # a stamp of "now" would differ between the two
        out = tmp_path / f"export{number}"
        done = meshctl("store", "export", "--store", url, "--to", str(out))
        assert done.returncode == 0, done.stderr
        outs.append({name: (out / name).read_bytes() for name in registry_file_names(out)})
    assert outs[0] == outs[1]
    return outs[0]


def restamped(files: Path, stamps: dict[str, str]) -> dict[str, bytes]:
    """The file store's files with each commit's time replaced by the database commit's
    that made the same change (the two commits ran at different instants)."""
    pattern = re.compile("|".join(re.escape(f'"{stamp}"') for stamp in stamps))
    return {name: pattern.sub(lambda found: f'"{stamps[found.group(0)[1:-1]]}"',
                              (files / name).read_text()).encode()
            for name in registry_file_names(files)}


def test_two_exports_of_an_imported_store_are_the_file_store_s_bytes(
        pg_url: str, tmp_path: Path) -> None:
    url = imported(pg_url)
    files = copy_tree(FIXTURE_REGISTRIES, tmp_path / "files")
    database, folder = open_store(url), open_store(str(files))
    stamps: dict[str, str] = {}
    for change in ({FRAUD: "changed ü \"q\"", ResourceKey(Kind.AGENT, "added"): "new"},
                   {PROFILE: None}):  # two revisions, two registries, a second apart
        stamps[commit(folder, change)] = commit(database, change)
        time.sleep(1.1)
    assert len(set(stamps)) == len(set(stamps.values())) == 2
    exported = exported_twice(url, tmp_path)
    assert exported == restamped(files, stamps)
    agents = exported["agent_registry.json"].decode()
    assert f'"last_updated": "{stamps[min(stamps)]}"' in agents  # its last change's time


def test_two_exports_of_a_store_filled_by_commits_alone_are_the_file_store_s_bytes(
        pg_url: str, tmp_path: Path) -> None:
    """No imported files to splice into: every registry is written new, stamped with the
    time of the newest revision that changed its kind."""
    files = tmp_path / "files"
    files.mkdir()
    database, folder = open_store(pg_url), open_store(str(files))
    stamps: dict[str, str] = {}
    for change in ({ResourceKey(Kind.AGENT, "first"): "one"},
                   {ResourceKey(Kind.AGENT, "second"): "two"}):
        stamps[commit(folder, change)] = commit(database, change)
        time.sleep(1.1)
    exported = exported_twice(pg_url, tmp_path)
    assert list(exported) == ["agent_registry.json"]
    assert exported == restamped(files, stamps)
    assert f'"last_updated": "{stamps[max(stamps)]}"' in exported["agent_registry.json"].decode()
