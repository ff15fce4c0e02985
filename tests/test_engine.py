"""The engine: load -> validate over real files, and the parse cache in .meshctl-cache/."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from reconciler import engine, loading
from reconciler.errors import ManifestError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.parsecache import CACHE_DIR
from tests.conftest import FIXTURE_REGISTRIES, agent, beyond_fixture, codes, load, manifest, write


def cached(*paths: Path) -> engine.DesiredState:
    return load(*paths, use_cache=True)


def shards(root: Path) -> list[Path]:
    return sorted((root / CACHE_DIR).rglob("*.json"))


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
    assert shards(broken)
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
    keys = {key for shard in shards(broken) for key in json.loads(shard.read_text())["entries"]}
    assert str(broken / "broken" / "syntax.yaml") not in keys
    assert str(broken / "more.yaml") in keys


def test_the_cache_is_plain_json(broken: Path) -> None:
    cached(broken)
    found = shards(broken)
    assert found
    for shard in found:
        body = json.loads(shard.read_bytes())  # never pickle
        assert set(body) == {"format", "salt", "entries"}
        for key, entry in body["entries"].items():
            assert Path(key).suffix == ".yaml"
            assert set(entry) == {"digest", "result"}
            assert set(entry["result"]) == {"resources", "diagnostics"}


def test_corrupted_shards_are_ignored_and_rewritten(broken: Path) -> None:
    cold = cached(broken)
    for shard in shards(broken):
        shard.write_bytes(b"\x00{not json at all")
    again = cached(broken)
    assert again.cache_hits == 0
    assert again.diagnostics == cold.diagnostics
    assert cached(broken).cache_hits == len(cold.files)  # rewritten by the second run


def test_shards_of_another_format_or_salt_are_ignored(broken: Path) -> None:
    cold = cached(broken)
    for shard in shards(broken):
        body = json.loads(shard.read_text())
        body["salt"] = "someone-else"
        shard.write_text(json.dumps(body))
    again = cached(broken)
    assert again.cache_hits == 0
    assert again.diagnostics == cold.diagnostics


class _Trap:
    """Unpickling this would create `marker`: the cache must never unpickle anything."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickled_shard_is_never_unpickled(broken: Path, tmp_path: Path) -> None:
    cold = cached(broken)
    marker = tmp_path / "unpickled"
    for shard in shards(broken):
        shard.write_bytes(pickle.dumps(_Trap(marker)))
    again = cached(broken)
    assert not marker.exists()
    assert again.diagnostics == cold.diagnostics


def test_a_well_formed_shard_with_wrong_entries_is_ignored(broken: Path) -> None:
    cold = cached(broken)
    for shard in shards(broken):
        body = json.loads(shard.read_text())
        body["entries"] = {key: "junk" for key in body["entries"]}
        shard.write_text(json.dumps(body))
    again = cached(broken)
    assert again.diagnostics == cold.diagnostics
    for shard in shards(broken):  # entries of the right outline but the wrong inside
        body = json.loads(shard.read_text())
        body["entries"] = {key: {"digest": entry["digest"], "result": {"resources": [1]}}
                           for key, entry in body["entries"].items()}
        shard.write_text(json.dumps(body))
    assert cached(broken).diagnostics == cold.diagnostics


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
