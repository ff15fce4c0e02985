"""The engine: load -> validate over real files, and the parse cache in .meshctl-cache/."""

from __future__ import annotations

import contextlib
import json
import pickle
import sqlite3
from pathlib import Path

import pytest

from reconciler import engine, loading
from reconciler.errors import ManifestError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.parsecache import CACHE_DIR, ParseCache
from tests.conftest import FIXTURE_REGISTRIES, agent, beyond_fixture, codes, load, manifest, write


def cached(*paths: Path) -> engine.DesiredState:
    return load(*paths, use_cache=True)


def database(root: Path) -> Path:
    [found] = (root / CACHE_DIR / "v1").glob("parse-*.sqlite")
    return found


def entries(root: Path) -> dict[str, tuple[str, bytes]]:
    """The parse cache's rows, read with SQLite itself: key -> (digest, result JSON)."""
    with contextlib.closing(sqlite3.connect(database(root))) as connection:
        return {key: (digest, result) for key, digest, result in connection.execute(
            "SELECT key, digest, result FROM entries")}


def rewrite(root: Path, sql: str, *parameters: object) -> None:
    with contextlib.closing(sqlite3.connect(database(root))) as connection, connection:
        connection.execute(sql, parameters)


@pytest.fixture
def broken(manifests: Path) -> Path:
    """The example manifests plus files with errors and warnings, so diagnostics matter."""
    write(manifests / "broken" / "agents.yaml",
          agent("bad_agent", "allowed_tools: [fraud_rule]\nmax_iterations: 99\nallowed_tool: []"))
    write(manifests / "broken" / "syntax.yaml", "a: [1\n")
    return manifests


def test_load_desired_reads_validates_and_times(manifests: Path) -> None:
    desired = load(manifests)
    assert beyond_fixture(desired.diagnostics) == [] and desired.errors == []
    assert len(desired.files) == 29
    assert len(desired.state) == 29
    assert set(desired.timings) >= {"read", "parse", "build", "validate"}
    assert desired.cache_hits == 0


def test_diagnostics_are_sorted_by_file_then_line(broken: Path) -> None:
    desired = load(broken)
    keys = [(d.file or "", d.line or 0) for d in desired.diagnostics]
    assert keys == sorted(keys)
    assert codes(desired.errors) == {"R002", "S003", "M001"}
    assert codes(desired.warnings) == {"S006", "H003"}  # H003: the real data's two


def test_a_missing_path_raises_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        load(tmp_path / "missing")


def test_no_cache_is_written_without_use_cache(manifests: Path) -> None:
    load(manifests)
    assert not (manifests / CACHE_DIR).exists()


def test_a_warm_run_gives_identical_results_from_the_cache(broken: Path) -> None:
    cold = cached(broken)
    assert cold.cache_hits == 0
    assert entries(broken)
    assert (broken / CACHE_DIR / ".gitignore").read_text() == "*\n"
    warm = cached(broken)
    assert warm.cache_hits == len(warm.files) == len(cold.files)
    assert warm.diagnostics == cold.diagnostics
    assert [r.to_dict() for r in warm.state] == [r.to_dict() for r in cold.state]
    uncached = load(broken)
    assert uncached.diagnostics == cold.diagnostics


def test_an_edited_file_is_parsed_again(broken: Path) -> None:
    cached(broken)
    path = broken / "broken" / "agents.yaml"
    path.write_text(path.read_text().replace("fraud_rule]", "fraud_rules]"))
    warm = cached(broken)
    assert warm.cache_hits == len(warm.files) - 1
    assert "R002" not in codes(warm.diagnostics)
    assert warm.diagnostics == load(broken).diagnostics


def test_a_new_file_and_a_removed_file_are_noticed(broken: Path) -> None:
    cached(broken)
    write(broken / "more.yaml", manifest("Tool", "extra_tool", "name: x"))
    (broken / "broken" / "syntax.yaml").unlink()
    warm = cached(broken)
    assert warm.cache_hits == len(warm.files) - 1
    assert "M001" not in codes(warm.diagnostics)
    assert ResourceKey(Kind.TOOL, "extra_tool") in warm.state
    keys = set(entries(broken))
    assert str(broken / "broken" / "syntax.yaml") not in keys
    assert str(broken / "more.yaml") in keys


def test_the_cache_holds_json_text(broken: Path) -> None:
    cold = cached(broken)
    found = entries(broken)
    assert set(found) == set(cold.files)
    for key, (digest, result) in found.items():
        assert Path(key).suffix == ".yaml" and len(digest) == 64
        assert set(json.loads(result)) == {"resources", "diagnostics"}  # never pickle


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty"])
def test_a_damaged_cache_file_is_ignored_and_made_again(broken: Path, damage: str) -> None:
    cold = cached(broken)
    path = database(broken)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    body = path.read_bytes()
    path.write_bytes({"garbage": b"\x00{not a database at all" * 100,
                      "truncate": body[:len(body) // 3], "empty": b""}[damage])
    again = cached(broken)
    assert again.diagnostics == cold.diagnostics
    assert [r.to_dict() for r in again.state] == [r.to_dict() for r in cold.state]
    assert cached(broken).cache_hits == len(cold.files)  # rewritten by the second run


def test_entries_of_another_salt_are_dropped(broken: Path) -> None:
    cold = cached(broken)
    rewrite(broken, "UPDATE meta SET value = 'someone-else' WHERE name = 'salt'")
    again = cached(broken)
    assert again.cache_hits == 0
    assert again.diagnostics == cold.diagnostics
    assert cached(broken).cache_hits == len(cold.files)


class _Trap:
    """Unpickling this would create `marker`: the cache must never unpickle anything."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickled_result_is_never_unpickled(broken: Path, tmp_path: Path) -> None:
    cold = cached(broken)
    marker = tmp_path / "unpickled"
    rewrite(broken, "UPDATE entries SET result = ?", pickle.dumps(_Trap(marker)))
    again = cached(broken)
    assert not marker.exists()
    assert again.diagnostics == cold.diagnostics


def test_a_well_formed_row_with_a_wrong_result_is_ignored(broken: Path) -> None:
    cold = cached(broken)
    rewrite(broken, "UPDATE entries SET result = ?", b'"junk"')
    assert cached(broken).diagnostics == cold.diagnostics
    rewrite(broken, "UPDATE entries SET result = ?",  # the right outline, the wrong inside
            b'{"resources": [1], "diagnostics": []}')
    assert cached(broken).diagnostics == cold.diagnostics


def test_the_json_shards_of_earlier_versions_are_removed(broken: Path) -> None:
    old = broken / CACHE_DIR / "v1" / "0e.json"
    old.parent.mkdir(parents=True)
    old.write_text('{"format": 1, "salt": "x", "entries": {}}')
    cached(broken)
    assert not old.exists() and entries(broken)


def test_a_file_named_explicitly_uses_no_cache(manifests: Path) -> None:
    path = manifests / "agents" / "fraud_agent.yaml"
    cached(path)
    assert not (manifests / CACHE_DIR).exists()
    assert not (manifests / "agents" / CACHE_DIR).exists()


def test_the_cache_folder_is_not_read_as_manifests(broken: Path) -> None:
    cached(broken)
    write(broken / CACHE_DIR / "trap.yaml", "this: [is not read\n")
    assert "M001" in codes(cached(broken).diagnostics)  # only broken/syntax.yaml's
    assert all(CACHE_DIR not in (d.file or "") for d in cached(broken).diagnostics)


def test_parallel_parsing_gives_the_same_result(tmp_path: Path) -> None:
    # Above loading.PARALLEL_MIN_BYTES the files are parsed in worker processes.
    description = "x" * 2000
    for number in range(12):
        write(tmp_path / f"f{number:02d}.yaml", "---\n".join(
            manifest("Tool", f"t{number}_{n}", f"name: t\ndescription: {description}\n"
                     "endpoint: /e\ninput_schema: {type: object}\nbogus: 1")
            for n in range(100)))
    total = sum(p.stat().st_size for p in tmp_path.glob("*.yaml"))
    assert total > loading.PARALLEL_MIN_BYTES
    serial = load(tmp_path, jobs=1)
    parallel = load(tmp_path, jobs=2)
    assert parallel.diagnostics == serial.diagnostics
    assert [r.to_dict() for r in parallel.state] == [r.to_dict() for r in serial.state]


def test_load_live_and_validate_live() -> None:
    live = engine.load_live(FIXTURE_REGISTRIES)
    assert len(live.state) == 29
    assert beyond_fixture(engine.validate_live(live)) == []


def test_a_result_asked_for_again_is_read_again_after_the_cache_is_saved(tmp_path: Path) -> None:
    """Rows let go of their bytes once decoded, and `save` closes the database: a second
    lookup (the plan's lazy state after validation) must still be a hit."""
    salt = "s" * 32
    writer = ParseCache(tmp_path, salt=salt)
    writer.put("a.yaml", "d1", b'{"resources": [], "diagnostics": ["x"]}')
    writer.save()
    reader = ParseCache(tmp_path, salt=salt)
    first = reader.get("a.yaml", "d1")
    reader.put("b.yaml", "d2", b'{"resources": [], "diagnostics": []}')
    reader.save()  # closes the database
    assert reader.get("a.yaml", "d1") == first == {"resources": [], "diagnostics": ["x"]}
    assert reader.get("a.yaml", "other") is None
    assert ParseCache(tmp_path, salt="t" * 32).get("a.yaml", "d1") is None  # another salt


def test_a_cached_resource_decodes_its_field_lines_only_when_asked(broken: Path) -> None:
    """Field lines are most of a large policy's cached result and serve only findings:
    kept as text until a line is asked for, then the same lines as a fresh parse."""
    from reconciler.model.resource import LazyLines

    cold = cached(broken)
    warm = cached(broken)
    resource = next(r for r in warm.state if r.name == "fraud_agent")  # (no finding)
    assert resource.source is not None and isinstance(resource.source.field_lines, LazyLines)
    assert resource.source.field_lines._lines is None  # not decoded by loading
    fresh = next(r for r in cold.state if r.name == "fraud_agent")
    assert fresh.source is not None
    assert dict(resource.source.field_lines) == dict(fresh.source.field_lines)
    assert resource.where("allowed_tools[0]") == fresh.where("allowed_tools[0]")
