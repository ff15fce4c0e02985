"""Live resources -> manifests, and back: the export must re-read as exactly the live data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ManifestError
from reconciler.manifests.export import (
    export_resources,
    manifest_document,
    manifest_path,
    render_manifest,
    spec_order,
)
from reconciler.manifests.loader import parse_manifest
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, beyond_fixture, load


def key_order(value: Any) -> Any:
    """The value with every mapping turned into its list of (key, value) pairs, so `==`
    also compares key order at every depth."""
    if isinstance(value, dict):
        return [(k, key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [key_order(v) for v in value]
    return value


def reread(resource: Resource) -> Resource:
    result = parse_manifest(render_manifest(resource).encode(), file="x.yaml")
    assert result.diagnostics == []
    (back,) = result.resources
    return back


def test_manifest_document_has_the_envelope_and_the_spec_without_the_id() -> None:
    resource = Resource(ResourceKey(Kind.AGENT, "a"),
                        {"agent_id": "a", "name": "A", "_comment": "c"},
                        labels={"team": "x"})
    document = manifest_document(resource)
    assert list(document) == ["apiVersion", "kind", "metadata", "spec"]
    assert document["apiVersion"] == "agentmesh.io/v1"
    assert document["kind"] == "Agent"
    assert document["metadata"] == {"name": "a", "labels": {"team": "x"}}
    assert document["spec"] == {"name": "A", "_comment": "c"}


def test_multi_line_strings_are_literal_blocks_in_block_style() -> None:
    resource = Resource(ResourceKey(Kind.TOOL, "t"),
                        {"tool_id": "t", "description": "line one\nline two\n",
                         "lineage_tags": ["a", "b"], "input_schema": {"type": "object"}})
    text = render_manifest(resource)
    assert "description: |\n    line one\n    line two\n" in text
    assert "{" not in text and "[" not in text  # no flow style anywhere
    assert reread(resource).entry == resource.entry


def test_every_fixture_resource_reads_back_identically() -> None:
    live = read_live_state(FIXTURE_REGISTRIES)
    for resource in live.state:
        back = reread(resource)
        assert back.key == resource.key
        assert key_order(back.entry) == key_order(resource.entry), resource.key


def test_export_then_load_gives_the_live_entries_exactly(registries: Path,
                                                         tmp_path: Path) -> None:
    live = read_live_state(registries)
    out = tmp_path / "exported"
    written = export_resources(live.state, out)
    assert len(written) == len(live.state) == 29
    desired = load(out)
    assert beyond_fixture(desired.diagnostics) == []
    assert [r.key for r in desired.state] != []
    assert {r.key for r in desired.state} == {r.key for r in live.state}
    for resource in live.state:
        mine = desired.state.get(resource.key)
        assert mine is not None
        assert mine.entry == resource.entry
        assert key_order(mine.entry) == key_order(resource.entry)


def test_comments_survive_at_entry_and_rule_level(registries: Path, tmp_path: Path) -> None:
    live = read_live_state(registries)
    export_resources(live.state, tmp_path / "out")
    desired = load(tmp_path / "out")
    limits = desired.state.get(ResourceKey(Kind.GOVERNANCE_POLICY, "iteration_limits"))
    assert limits is not None
    assert limits.entry["agent_overrides"][0]["_comment"].startswith("Orchestrator needs")
    governance = desired.state.get(ResourceKey(Kind.GOVERNANCE_POLICY, "context_governance"))
    assert governance is not None
    assert list(governance.entry)[-1] == "_description"
    raw = json.loads((registries / "governance_policies.json").read_text())
    assert governance.entry == raw["policies"]["context_governance"]


def test_files_land_in_one_folder_per_kind(tmp_path: Path) -> None:
    live = read_live_state(FIXTURE_REGISTRIES)
    written = export_resources(live.state, tmp_path)
    folders = {p.parent.name for p in written}
    assert folders == {"agents", "tools", "model-profiles", "workflows", "policies"}
    assert tmp_path / "workflows" / "claims_triage.yaml" in written
    resource = next(iter(live.state))
    assert manifest_path(tmp_path, resource) == tmp_path / "model-profiles" / (
        resource.name + ".yaml")
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_export_replaces_an_existing_file_and_reports_progress(tmp_path: Path) -> None:
    resource = Resource(ResourceKey(Kind.TOOL, "t"), {"tool_id": "t", "name": "new"})
    target = manifest_path(tmp_path, resource)
    target.parent.mkdir(parents=True)
    target.write_text("old content\n")
    seen: list[str] = []
    export_resources([resource], tmp_path, lambda r: seen.append(r.name))
    assert seen == ["t"]
    assert yaml.safe_load(target.read_text())["spec"] == {"name": "new"}
    assert oct(target.stat().st_mode & 0o777) == "0o644"


json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63) + 1,
                                                          max_value=2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text())
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k != "tool_id"),
                       json_values, max_size=5))
def test_any_json_entry_round_trips_through_a_manifest(spec: dict[str, Any]) -> None:
    spec = {"lineage_tags": [], **spec}  # the one field a tool needs that has a default
    entry = {"tool_id": "t", **spec}
    back = reread(Resource(ResourceKey(Kind.TOOL, "t"), entry))
    canonical = {"tool_id": "t", **{k: spec[k] for k in spec_order(Kind.TOOL, spec)}}
    assert key_order(back.entry) == key_order(canonical)  # the registry's field order first


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 129])
def test_unsafe_ids_are_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    good = Resource(ResourceKey(Kind.TOOL, "fine"), {"tool_id": "fine"})
    bad = Resource(ResourceKey(Kind.AGENT, name), {"agent_id": name})
    with pytest.raises(ManifestError, match="not a safe file name"):
        export_resources([good, bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", [
    "yes", "no", "on", "off", "null", "~", "", "1.0", "0o17", "0x1F", "1e3", "1_000", ".nan",
    "2024-01-01", "2025-12-22T10:00:00Z", "*", "&anchor", "!tag", "- item", "a: b", "#note",
    " leading", "trailing ", "two\nlines", "trailing newline\n", "\ttab", "'", '"', "\r\n",
    "\x85", "\u2028", "\x00", "text\n\n\n", "  indented\nblock", "<<", "=", "é ✓ 🐍",
])
def test_tricky_strings_round_trip(text: str) -> None:
    entry = {"tool_id": "t", "description": text, "lineage_tags": [], text or "empty": [text]}
    back = reread(Resource(ResourceKey(Kind.TOOL, "t"), entry))
    spec = {k: v for k, v in entry.items() if k != "tool_id"}
    canonical = {"tool_id": "t", **{k: spec[k] for k in spec_order(Kind.TOOL, spec)}}
    assert key_order(back.entry) == key_order(canonical)  # the registry's field order first


def test_labels_and_annotations_round_trip() -> None:
    resource = Resource(ResourceKey(Kind.WORKFLOW, "w"), {"workflow_id": "w", "name": "W"},
                        labels={"team": "claims", "tier": "1"},
                        annotations={"note": "multi\nline"})
    back = reread(resource)
    assert dict(back.labels) == {"team": "claims", "tier": "1"}
    assert dict(back.annotations) == {"note": "multi\nline"}
