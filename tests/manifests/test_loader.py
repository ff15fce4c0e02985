"""Manifest files -> resources: the envelope, metadata, files, folders and names declared twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.errors import Diagnostic, ManifestError, Severity
from reconciler.manifests.loader import (
    FileResult,
    find_manifest_files,
    merge_results,
    parse_manifest,
    read_manifest_bytes,
)
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from tests.conftest import (
    agent,
    beyond_fixture,
    by_code,
    codes,
    dedent,
    line_of,
    load,
    manifest,
    only,
    write,
)


def parse(text: str | bytes, file: str = "case.yaml") -> FileResult:
    data = text if isinstance(text, bytes) else dedent(text).encode()
    return parse_manifest(data, file=file)


TOOL = """\
apiVersion: agentmesh.io/v1
kind: Tool
metadata:
  name: fraud_rules
  labels: {team: claims}
  annotations: {owner: "alice@example.com"}
spec:
  name: Fraud rules
  description: Scores fraud
  endpoint: /invoke/fraud_rules
  input_schema: {type: object}
  _comment: keep me
"""


def test_a_manifest_becomes_a_resource_with_the_id_first() -> None:
    result = parse(TOOL)
    assert result.diagnostics == []
    (resource,) = result.resources
    assert resource.key == ResourceKey(Kind.TOOL, "fraud_rules")
    assert list(resource.entry) == ["tool_id", "name", "description", "endpoint",
                                    "input_schema", "_comment", "lineage_tags"]
    assert resource.entry["lineage_tags"] == []  # required by the runtime: its default
    assert resource.entry["tool_id"] == "fraud_rules"
    assert resource.entry["_comment"] == "keep me"
    assert dict(resource.labels) == {"team": "claims"}
    assert dict(resource.annotations) == {"owner": "alice@example.com"}
    assert resource.source is not None
    assert resource.source.file == "case.yaml"
    assert resource.source.line == 1
    assert resource.where("endpoint") == ("case.yaml", 10)
    assert resource.where("input_schema.properties") == ("case.yaml", 11)


def test_spec_id_field_equal_to_the_name_is_accepted() -> None:
    result = parse(manifest("Tool", "t", "tool_id: t\nname: T"))
    assert result.diagnostics == []
    assert result.resources[0].entry == {"tool_id": "t", "name": "T", "lineage_tags": []}


def test_policy_entry_is_its_spec_as_is() -> None:
    result = parse(manifest("GovernancePolicy", "limits",
                            "description: d\nrules:\n- agent_id: a\n  _comment: c\n"))
    assert result.diagnostics == []
    assert result.resources[0].entry == {"description": "d",
                                         "rules": [{"agent_id": "a", "_comment": "c"}]}


def test_many_documents_per_file_and_empty_documents_are_skipped() -> None:
    text = "---\n" + manifest("Tool", "a") + "---\n---\n# nothing\n---\n" + manifest("Agent", "b")
    result = parse(text)
    assert result.diagnostics == []
    assert [str(r.key) for r in result.resources] == ["tool/a", "agent/b"]
    assert [r.source.line for r in result.resources if r.source] == [2, 11]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_a_document_that_is_not_a_mapping_is_m005(text: str) -> None:
    diagnostic = only(parse(text).diagnostics, "M005")
    assert diagnostic.line == 1
    assert "must be a mapping" in diagnostic.message


def test_a_spec_that_is_not_a_mapping_is_m005_at_the_spec_line() -> None:
    result = parse("apiVersion: agentmesh.io/v1\nkind: Tool\nmetadata: {name: t}\nspec: [1]\n")
    diagnostic = only(result.diagnostics, "M005")
    assert (diagnostic.line, diagnostic.resource) == (4, "tool/t")
    assert result.resources == []


@pytest.mark.parametrize(("text", "fragment", "line"), [
    ("kind: Tool\napiVersion: agentmesh.io/v2\n", "'agentmesh.io/v2' is not supported", 2),
    ("kind: Tool\napiVersion: v1\n", "'v1' is not supported", 2),
    ("kind: Tool\nmetadata: {name: t}\n", "apiVersion missing", 1),
])
def test_unknown_or_missing_api_version_is_m007(text: str, fragment: str, line: int) -> None:
    result = parse(text)
    diagnostic = only(result.diagnostics, "M007")
    assert fragment in diagnostic.message
    assert diagnostic.line == line
    assert diagnostic.hint == "use 'apiVersion: agentmesh.io/v1'"
    assert result.resources == []


def test_unknown_kind_is_m008_with_a_suggestion() -> None:
    result = parse("apiVersion: agentmesh.io/v1\nkind: Agnet\nmetadata: {name: a}\n")
    diagnostic = only(result.diagnostics, "M008")
    assert diagnostic.line == 2
    assert "unknown kind 'Agnet'" in diagnostic.message
    assert diagnostic.hint is not None
    assert "did you mean 'Agent'?" in diagnostic.hint
    assert "ModelProfile, Tool, Agent, Workflow, GovernancePolicy" in diagnostic.hint


def test_missing_kind_is_m008() -> None:
    diagnostic = only(parse("apiVersion: agentmesh.io/v1\nmetadata: {name: a}\n").diagnostics,
                      "M008")
    assert "kind is missing" in diagnostic.message


@pytest.mark.parametrize(("metadata", "fragment"), [
    ("metadata: {}\n", "has no metadata.name"),
    ("metadata: {labels: {a: b}}\n", "has no metadata.name"),
    ("metadata: fraud\n", "has no metadata.name"),
    ("metadata: {name: ../etc/passwd}\n", "must not start with a dot"),
    ("metadata: {name: a/b}\n", "no spaces or path separators"),
    ("metadata: {name: 'a b'}\n", "no spaces or path separators"),
    ("metadata: {name: .hidden}\n", "must not start with a dot"),
    ("metadata: {name: ''}\n", "must not be empty"),
    ("metadata: {name: 12}\n", "must be a string, not int"),
    (f"metadata: {{name: {'a' * 129}}}\n", "at most 128 are allowed"),
])
def test_missing_or_unsafe_names_are_m009(metadata: str, fragment: str) -> None:
    result = parse("apiVersion: agentmesh.io/v1\nkind: Agent\n" + metadata)
    diagnostic = only(result.diagnostics, "M009")
    assert fragment in diagnostic.message
    assert diagnostic.line == 3
    assert result.resources == []


@pytest.mark.parametrize("name", ["a", "fraud_agent", "v1.2-beta", "A" * 128, "_private", "-x"])
def test_safe_names_are_accepted(name: str) -> None:
    result = parse(manifest("Agent", name))
    assert by_code(result.diagnostics, "M009") == []
    assert result.resources[0].name == name


def test_labels_that_are_not_strings_are_m009() -> None:
    result = parse("""
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: t
          labels:
            tier: 1
        """)
    diagnostic = only(result.diagnostics, "M009")
    assert diagnostic.line == 5
    assert "metadata.labels must map names to strings" in diagnostic.message


def test_unknown_envelope_and_metadata_fields_are_m011_warnings() -> None:
    result = parse("""
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: t
          namespace: prod
        spec: {name: T}
        status: {}
        """)
    found = by_code(result.diagnostics, "M011")
    assert [(d.line, d.severity) for d in found] == [(7, Severity.WARNING), (5, Severity.WARNING)]
    assert "unknown top-level field 'status'" in found[0].message
    assert "unknown metadata field 'namespace'" in found[1].message
    assert len(result.resources) == 1  # warnings never drop the resource


def test_a_spec_id_that_differs_from_the_name_is_m012() -> None:
    result = parse(manifest("Agent", "fraud_agent", "agent_id: fraud\nname: F"))
    diagnostic = only(result.diagnostics, "M012")
    assert diagnostic.line == 6
    assert "spec.agent_id 'fraud' differs from metadata.name 'fraud_agent'" in diagnostic.message
    assert result.resources == []


def test_a_file_that_is_not_utf8_is_m013_with_its_line() -> None:
    diagnostic = only(parse(b"a: 1\nb: \xff\xfe\n").diagnostics, "M013")
    assert diagnostic.line == 2
    assert "not valid UTF-8" in diagnostic.message


def test_a_nul_byte_is_m001() -> None:
    diagnostic = only(parse(b"a: 1\n\x00\n").diagnostics, "M001")
    assert diagnostic.line == 2


def test_syntax_errors_carry_the_file_and_line() -> None:
    result = parse(manifest("Tool", "ok") + "---\nkind: [\n", file="x/y.yaml")
    diagnostic = only(result.diagnostics, "M001")
    assert diagnostic.file == "x/y.yaml"
    assert diagnostic.line is not None and diagnostic.line >= 7
    assert [r.name for r in result.resources] == ["ok"]  # what came before is kept


def test_duplicate_keys_are_m003_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", agent("a", "max_iterations: 3\nmax_iterations: 4"))
    diagnostic = only(load(path).diagnostics, "M003")
    first, second = line_of(path, "max_iterations"), line_of(path, "max_iterations", 2)
    assert (diagnostic.file, diagnostic.line) == (str(path), second)
    assert f"first defined on line {first}" in diagnostic.message


def test_an_alias_bomb_is_m004_and_refused_quickly(tmp_path: Path) -> None:
    lines = ["apiVersion: agentmesh.io/v1", "kind: Tool", "metadata: {name: lol}", "spec:",
             "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 12):
        lines.append(f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    path = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    started = time.monotonic()
    diagnostic = only(load(path).diagnostics, "M004")
    assert time.monotonic() - started < 10  # a generous guard: expanding would never finish
    assert diagnostic.file == str(path)


def test_a_file_over_the_size_limit_is_m002(tmp_path: Path) -> None:
    path = write(tmp_path / "big.yaml", manifest("Tool", "t", "description: " + "x" * 500))
    state = load(path, max_bytes=100)
    diagnostic = only(state.diagnostics, "M002")
    assert diagnostic.file == str(path)
    assert "100-byte limit" in diagnostic.message
    assert len(state.state) == 0
    assert by_code(load(path, max_bytes=10_000).diagnostics, "M002") == []


def test_read_manifest_bytes_returns_the_bytes_or_a_diagnostic(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "a: 1\n")
    assert read_manifest_bytes(path, 100) == b"a: 1\n"
    too_big = read_manifest_bytes(path, 3)
    assert not isinstance(too_big, bytes) and too_big.code == "M002"
    missing = read_manifest_bytes(tmp_path / "gone.yaml", 100)
    assert not isinstance(missing, bytes) and missing.code == "M013"


def test_a_name_defined_twice_across_files_is_m010_naming_both_places(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "one.yaml", manifest("Tool", "dup", "name: first"))
    second = write(tmp_path / "b" / "two.yaml", "# second copy\n" + manifest("Tool", "dup"))
    state = load(tmp_path)
    diagnostic = only(state.diagnostics, "M010")
    assert (diagnostic.file, diagnostic.line) == (str(second), line_of(second, "name: dup"))
    assert f"{first}:{line_of(first, 'name: dup')}" in diagnostic.message
    assert "defined twice" in diagnostic.message
    kept = state.state.get(ResourceKey(Kind.TOOL, "dup"))
    assert kept is not None and kept.entry["name"] == "first"


def test_the_same_name_in_two_kinds_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", manifest("Tool", "same") + "---\n" + manifest("Agent", "same"))
    assert "M010" not in codes(load(tmp_path).diagnostics)


def test_merge_results_keeps_the_first_definition() -> None:
    one = parse(manifest("Tool", "t", "name: one"), file="one.yaml")
    two = parse(manifest("Tool", "t", "name: two"), file="two.yaml")
    state, diagnostics = merge_results([one, two])
    assert [d.code for d in diagnostics] == ["M010"]
    assert diagnostics[0].file == "two.yaml"
    assert "one.yaml:4" in diagnostics[0].message
    resource = state.get(ResourceKey(Kind.TOOL, "t"))
    assert resource is not None and resource.entry["name"] == "one"


def test_unknown_spec_fields_warn_but_stay_in_the_data(mesh: Path) -> None:
    path = write(mesh / "case.yaml", agent("extra_agent", "futuristic: 1\n_comment: note"))
    desired = load(mesh)
    diagnostic = only(desired.diagnostics, "S006")
    assert diagnostic.severity is Severity.WARNING
    assert diagnostic.line == line_of(path, "futuristic")
    assert desired.errors == []
    resource = desired.state.get(ResourceKey(Kind.AGENT, "extra_agent"))
    assert resource is not None
    assert resource.entry["futuristic"] == 1
    assert resource.entry["_comment"] == "note"
    assert list(resource.entry)[-5:] == ["futuristic", "_comment", "max_iterations",
                                         "iteration_timeout_seconds", "context_requirements"]


def test_find_manifest_files_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "sub/deeper/c.yaml", "sub/d.yaml", "notes.txt",
                 ".hidden.yaml", ".git/x.yaml", ".meshctl-cache/y.yaml"):
        write(tmp_path / name, "a: 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in find_manifest_files([tmp_path])]
    assert found == ["a.yml", "b.yaml", "sub/d.yaml", "sub/deeper/c.yaml"]


def test_a_file_named_explicitly_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "mesh.txt", manifest("Tool", "t"))
    assert find_manifest_files([path, path]) == [path]
    assert [r.name for r in load(path).state] == ["t"]


def test_a_missing_path_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or directory"):
        find_manifest_files([tmp_path / "nowhere"])


def test_a_directory_tree_loads_every_resource(manifests: Path) -> None:
    desired = load(manifests)
    assert beyond_fixture(desired.diagnostics) == []
    assert len(desired.files) == 29
    assert {k.value: n for k, n in desired.state.counts().items()} == {
        "ModelProfile": 6, "Tool": 6, "Agent": 7, "Workflow": 1, "GovernancePolicy": 9}


def test_a_file_reached_twice_is_read_once(manifests: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(manifests.parent)
    (manifests.parent / "link").symlink_to(manifests, target_is_directory=True)
    spellings = ["manifests", str(manifests), "./manifests/", "link",
                 "manifests/agents/fraud_agent.yaml", "manifests/agents"]
    files = find_manifest_files(spellings)
    assert len(files) == 29
    assert files[0] == Path("manifests/agents/coverage_agent.yaml")  # as first spelled
    desired = load(*spellings)
    assert beyond_fixture(desired.diagnostics) == []
    assert len(desired.state) == 29


def test_the_size_limit_is_inclusive(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", manifest("Tool", "t"))
    size = path.stat().st_size
    assert not isinstance(read_manifest_bytes(path, size), Diagnostic)
    too_big = read_manifest_bytes(path, size - 1)
    assert isinstance(too_big, Diagnostic) and too_big.code == "M002"
    assert f"file is {size:,} bytes" in too_big.message
