"""Folders' listings kept beside the validation index (issue 26): a warm run lists again
only the folders whose stat moved since, and a file created, removed or renamed is seen
all the same. A listing taken in the racy window, of a folder holding a symlink, or
altered on disk is not used. Real files, real folders."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler import engine, scanning
from reconciler.manifests import loader
from tests.conftest import FIXTURE_MANIFESTS, agent, copy_tree, write


def settle(root: Path, *, files: bool = True) -> None:
    """Date every folder (and file) 10 s back, out of the racy window: the first run
    made the cache's folder in the root."""
    past = time.time_ns() - 10_000_000_000
    for folder, _, names in os.walk(root):
        for name in names if files else ():
            os.utime(os.path.join(folder, name), ns=(past, past))
        os.utime(folder, ns=(past, past))


def first_run(paths: list[str]) -> None:
    """Validate, then date the folders back (the run made the cache's folder in the
    root: dating them sets their change time, so they are listed again once more)."""
    findings(paths)
    settle(Path(paths[0]), files=False)
    findings(paths)


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders listed from the disk (not from a kept listing), in order."""
    calls: list[str] = []
    original = loader._listed

    def counted(folder: str, key: Any) -> Any:
        calls.append(Path(folder).name)
        return original(folder, key)

    monkeypatch.setattr(loader, "_listed", counted)
    return calls


@pytest.fixture
def root(tmp_path: Path) -> Path:
    found = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    settle(found)
    return found


def findings(paths: list[str]) -> tuple[list[bytes], list[tuple[str, str | None]]]:
    found = engine.validate_files(paths, jobs=1)
    return sorted(orjson.dumps(d.to_dict()) for d in found.diagnostics), found.declared


def fresh(paths: list[str]) -> tuple[list[bytes], list[tuple[str, str | None]]]:
    desired = engine.load_desired(paths, use_cache=False, jobs=1)
    return (sorted(orjson.dumps(d.to_dict()) for d in desired.diagnostics),
            [(str(r.key), r.source.file if r.source else None) for r in desired.state])


def index_of(root: Path) -> Any:
    index = scanning.index_for([str(root)], loader.DEFAULT_MAX_BYTES)
    assert index is not None
    return index


def test_a_settled_folder_is_not_listed_again(root: Path, listed: list[str]) -> None:
    paths = [str(root)]
    first_run(paths)
    assert "agents" in listed
    listed.clear()
    again = findings(paths)
    assert listed == []
    assert again == fresh(paths)


@pytest.mark.parametrize("change", ["create", "remove", "rename", "folder"])
def test_a_file_created_removed_or_renamed_is_seen(root: Path, listed: list[str],
                                                   change: str) -> None:
    paths = [str(root)]
    first_run(paths)
    agents = root / "agents"
    if change == "create":
        write(agents / "late.yaml", agent("late_agent", "max_iterations: 0"))
    elif change == "remove":
        (agents / "fraud_agent.yaml").unlink()
    elif change == "rename":
        (agents / "fraud_agent.yaml").rename(agents / "zz_fraud_agent.yaml")
    else:
        write(root / "more" / "deeper" / "late.yaml", agent("late_agent"))
    listed.clear()
    again = findings(paths)
    assert listed == (["manifests", "more", "deeper"] if change == "folder" else ["agents"])
    assert again == fresh(paths)


def test_a_folder_modified_in_the_racy_window_is_listed_every_time(
        root: Path, listed: list[str]) -> None:
    paths = [str(root)]
    first_run(paths)
    write(root / "agents" / "late.yaml", agent("late_agent"))  # (the folder: now)
    for _ in range(2):
        listed.clear()
        again = findings(paths)
        assert listed == ["agents"]
        assert again == fresh(paths)


def test_a_folder_holding_a_symlink_is_listed_every_time(root: Path,
                                                         listed: list[str]) -> None:
    paths = [str(root)]
    (root / "tools" / "alias.yaml").symlink_to(root / "tools" / "similarity.yaml")
    settle(root)
    first_run(paths)
    listed.clear()
    again = findings(paths)
    assert listed == ["tools"]
    assert again == fresh(paths)


def test_an_altered_listing_is_not_believed(root: Path, listed: list[str]) -> None:
    paths = [str(root)]
    first_run(paths)
    kept = index_of(root)._extra_path(scanning.LISTINGS_PART)
    data = kept.read_bytes()
    assert b"fraud_agent.yaml" in data
    kept.write_bytes(data.replace(b'"fraud_agent.yaml",', b""))  # hide a file
    listed.clear()
    again = findings(paths)
    assert "agents" in listed and "manifests" in listed  # every folder listed again
    assert again == fresh(paths)


def test_the_listings_kept_are_the_folders_walked(root: Path) -> None:
    paths = [str(root)]
    first_run(paths)
    kept = index_of(root).signed(scanning.LISTINGS_PART)
    assert set(kept) == {str(root), *(str(root / name) for name in os.listdir(root)
                                      if not name.startswith("."))}
    assert kept[str(root / "agents")][1] == sorted(os.listdir(root / "agents"))
