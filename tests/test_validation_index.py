"""The validation index (issue 26): a warm `validate` with nothing changed answers from what
the last full validation found, and only then. Any change, and any damage to the index,
makes it load and check the manifests again, with the same findings as from scratch."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from reconciler import engine
from reconciler.manifests.layers import Layers
from tests.conftest import agent, copy_tree, write
from tests.environments import make_project

FIXTURE = Path(__file__).resolve().parent.parent / "manifests"


def settle(root: Path) -> None:
    """Date every file 10 s back, as files not touched within the racy window are."""
    past = time.time_ns() - 10_000_000_000
    for folder, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), ns=(past, past))


def validated(paths: list[str] | Layers) -> engine.Validated:
    return engine.validate_files(paths, jobs=1)


def fresh(paths: list[str] | Layers) -> list[bytes]:
    return sorted(orjson.dumps(d.to_dict()) for d in engine.load_desired(
        paths, use_cache=False, jobs=1).diagnostics)


def same_as_fresh(found: engine.Validated, paths: list[str] | Layers) -> None:
    assert sorted(orjson.dumps(d.to_dict()) for d in found.diagnostics) == fresh(paths)
    desired = engine.load_desired(paths, use_cache=False, jobs=1)
    assert found.declared == [(str(r.key), r.source.file if r.source else None)
                              for r in desired.state]
    assert (found.file_count, found.resource_count) == (len(desired.files), len(desired.state))


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    root = copy_tree(FIXTURE, tmp_path / "manifests")
    write(root / "agents" / "broken.yaml", agent("broken_agent", "max_iterations: 0"))
    settle(root)
    return root


def test_nothing_changed_is_answered_by_the_index(manifests: Path) -> None:
    paths = [str(manifests)]
    first = validated(paths)
    assert not first.from_index and first.errors  # broken_agent's S003
    again = validated(paths)
    assert again.from_index
    same_as_fresh(again, paths)


@pytest.mark.parametrize("change", ["edit", "add", "remove", "touch"])
def test_any_change_to_the_files_is_seen(manifests: Path, change: str) -> None:
    paths = [str(manifests)]
    validated(paths)
    target = manifests / "agents" / "broken.yaml"
    if change == "edit":  # fixed, same size
        target.write_text(target.read_text().replace("max_iterations: 0",
                                                     "max_iterations: 1"))
    elif change == "add":
        write(manifests / "agents" / "second.yaml", agent("second_agent", "max_iterations: 0"))
    elif change == "remove":
        target.unlink()
    else:
        os.utime(target)
    found = validated(paths)
    assert not found.from_index
    same_as_fresh(found, paths)


def test_a_file_changed_within_the_racy_window_is_never_vouched_for(manifests: Path) -> None:
    paths = [str(manifests)]
    target = manifests / "agents" / "broken.yaml"
    target.write_text(target.read_text())  # modified just now
    validated(paths)
    assert not validated(paths).from_index  # its stat cannot stand for its content yet


def test_other_options_or_paths_are_another_index(manifests: Path) -> None:
    paths = [str(manifests)]
    validated(paths)
    assert not engine.validate_files(paths, jobs=1, max_bytes=50_000).from_index
    assert not validated([str(manifests), str(manifests / "agents")]).from_index


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "foreign",
                                    "extra"])
def test_a_damaged_index_is_never_believed(manifests: Path, damage: str) -> None:
    paths = [str(manifests)]
    validated(paths)
    [index] = (manifests / ".meshctl-cache" / "v1").glob("validated-*.json")
    body = index.read_bytes()
    if damage == "flip":  # an edit that keeps it valid JSON: "errors" said to be none
        index.write_bytes(body.replace(b'"S003"', b'"S004"'))
    elif damage == "truncate":
        index.write_bytes(body[: len(body) // 2])
    elif damage == "garbage":
        index.write_bytes(os.urandom(200))
    elif damage == "empty":
        index.write_bytes(b"")
    elif damage == "foreign":  # a well-formed index whose MAC is some other machine's
        mac, _, rest = body.partition(b"\n")
        index.write_bytes(b"0" * len(mac) + b"\n" + rest)
    else:  # the record beside it, which lists the resources declared, damaged
        record = index.with_suffix(".sqlite")
        for suffix in ("-wal", "-shm"):
            Path(f"{record}{suffix}").unlink(missing_ok=True)
        record.write_bytes(b"not a database" * 100)
    found = validated(paths)
    if damage == "extra":  # the index holds; its list of resources is found again
        assert found.from_index
    else:
        assert not found.from_index
    same_as_fresh(found, paths)
    if damage == "extra":  # (found when the list was asked for: the index was dropped)
        assert not validated(paths).from_index
    assert validated(paths).from_index  # and it was rewritten


def test_an_environment_is_indexed_with_its_layers(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    settle(project)
    stack = Layers([str(project / "manifests" / "base"),
                    str(project / "manifests" / "overlays" / "dev")])
    validated(stack)
    assert validated(stack).from_index
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    overlay.write_text(overlay.read_text().replace("max_iterations: 3", "max_iterations: 0"))
    found = validated(stack)
    assert not found.from_index and found.errors
    same_as_fresh(found, stack)
