"""Schema rules: required fields, types, bounds, ids, JSON Schemas, unknown fields (S001-S007)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.errors import Severity
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.validate import schema, validate_state
from tests.conftest import agent, by_code, line_of, manifest, only
from tests.grants import grant_base_mesh

Case = Callable[[str], tuple[Path, engine.DesiredState]]


def profile(timeout: object) -> str:
    return manifest("ModelProfile", "p1",
                    f"name: P\nprovider: openai\nmodel_name: m\ntimeout_seconds: {timeout}")


def workflow(mode: str) -> str:
    return manifest("Workflow", "w1", f"name: W\ndescription: d\nmode: {mode}\nsteps:\n"
                    "- step_id: a\n  agent_id: fraud_agent\n")


def test_the_base_mesh_and_the_fixture_pass_every_schema_rule(case: Case) -> None:
    _, desired = case("")
    assert desired.diagnostics == []


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("max_iterations", 0, False),
    ("max_iterations", 1, True),
    ("max_iterations", 50, True),
    ("max_iterations", 51, False),
    ("iteration_timeout_seconds", 9, False),
    ("iteration_timeout_seconds", 10, True),
    ("iteration_timeout_seconds", 300, True),
    ("iteration_timeout_seconds", 301, False),
])
def test_agent_bounds_are_s003_at_the_field_line(case: Case, field: str, value: int,
                                                 ok: bool) -> None:
    path, desired = case(agent("bounded", f"{field}: {value}"))
    found = by_code(desired.diagnostics, "S003")
    if ok:
        assert found == []
        return
    (diagnostic,) = found
    assert diagnostic.severity is Severity.ERROR
    assert (diagnostic.file, diagnostic.line) == (str(path), line_of(path, f"{field}:"))
    assert diagnostic.path == field
    assert f"{field} = {value}" in diagnostic.message
    assert diagnostic.resource == "agent/bounded"


@pytest.mark.parametrize(("timeout", "ok"), [(4, False), (5, True), (300, True), (301, False)])
def test_model_profile_timeout_bounds(case: Case, timeout: int, ok: bool) -> None:
    path, desired = case(profile(timeout))
    found = by_code(desired.diagnostics, "S003")
    assert (found == []) is ok
    if not ok:
        assert found[0].line == line_of(path, "timeout_seconds")


@pytest.mark.parametrize(("mode", "ok"), [("advisory", True), ("strict", True),
                                          ("Strict", False), ("fast", False)])
def test_workflow_mode_is_advisory_or_strict(case: Case, mode: str, ok: bool) -> None:
    path, desired = case(workflow(mode))
    found = by_code(desired.diagnostics, "S007")
    assert (found == []) is ok
    if not ok:
        (diagnostic,) = found
        assert diagnostic.line == line_of(path, "mode:")
        assert "'advisory' or 'strict'" in diagnostic.message


@pytest.mark.parametrize(("provider", "ok"), [("openai", True), ("anthropic", True),
                                              ("OpenAI", True), ("Anthropic", True),
                                              ("opnai", False), ("mistral", False)])
def test_a_model_profile_provider_is_one_the_runtime_has_a_client_for(
        case: Case, provider: str, ok: bool) -> None:
    """The runtime loads any provider, then refuses to make a client for all but openai and
    anthropic (any case): every agent run on such a profile fails."""
    path, desired = case(manifest("ModelProfile", "p1", f"name: P\nprovider: {provider}\n"
                                  "model_name: m\ndescription: d\nintended_usage: u"))
    found = by_code(desired.diagnostics, "S007")
    assert (found == []) is ok
    if not ok:
        (diagnostic,) = found
        assert diagnostic.is_error and diagnostic.line == line_of(path, "provider:")
        assert f"provider {provider!r} is not one the runtime has a client for" in \
            diagnostic.message
        assert "use openai or anthropic" in (diagnostic.hint or "")


def test_missing_required_fields_are_s001(case: Case) -> None:
    path, desired = case(manifest("Tool", "bare", "name: Bare\ndescription: d"))
    found = by_code(desired.diagnostics, "S001")
    assert sorted(d.path or "" for d in found) == ["endpoint", "input_schema", "output_schema"]
    assert all(d.file == str(path) and d.line == 1 for d in found)
    assert "tool 'bare' is missing required field 'endpoint'" in {d.message for d in found}


def test_a_step_without_an_agent_is_s001_at_the_step(case: Case) -> None:
    path, desired = case(manifest("Workflow", "w1", """
        name: W
        description: d
        steps:
        - step_id: only
          on_success: complete
        """))
    diagnostic = only(desired.diagnostics, "S001")
    assert diagnostic.path == "steps[0].agent_id"
    assert diagnostic.line == line_of(path, "step_id: only")


@pytest.mark.parametrize(("field", "value", "got"), [
    ("max_iterations", '"5"', "str '5'"),
    ("max_iterations", "true", "bool True"),
    ("max_iterations", "5.5", "float 5.5"),
    ("allowed_tools", "fraud_rules", "str 'fraud_rules'"),
    ("capabilities", "[1]", "int 1"),
    ("input_schema", "[]", "list []"),
    ("name", "null", "NoneType None"),
])
def test_wrong_types_are_s002(case: Case, field: str, value: str, got: str) -> None:
    text = manifest("Agent", "typed", "description: d\nmodel_profile_id: gpt4")
    path, desired = case(text + ("" if field == "name" else "  name: n\n")
                         + f"  {field}: {value}\n")
    found = by_code(desired.diagnostics, "S002")
    assert found, desired.diagnostics
    diagnostic = found[0]
    assert diagnostic.line == line_of(path, f"  {field}: {value}")
    assert diagnostic.path == (field + "[0]" if field == "capabilities" else field)
    assert f"(got {got})" in diagnostic.message


def test_a_policy_with_wrong_typed_fields_is_s002(case: Case) -> None:
    _, desired = case(manifest("GovernancePolicy", "pol", "description: [a]\n"
                               "enforcement_level: 3"))
    assert sorted(d.path or "" for d in by_code(desired.diagnostics, "S002")) == [
        "description", "enforcement_level"]


def live_state(*resources: Resource) -> MeshState:
    state = MeshState()
    for resource in resources:
        state.add(resource)
    return state


@pytest.mark.parametrize(("name", "fragment"), [
    ("../escape", "must not start with a dot"),
    ("a/b", "no spaces or path separators"),
    ("has space", "no spaces or path separators"),
    ("x" * 129, "129 characters long"),
    ("", "must not be empty"),
])
def test_unsafe_ids_in_live_registries_are_s004(name: str, fragment: str) -> None:
    # Manifests refuse such names while loading (M009); live registries can hold them.
    profile_entry = {"profile_id": name, "name": "P", "provider": "openai", "model_name": "m"}
    resource = Resource(ResourceKey(Kind.MODEL_PROFILE, name), profile_entry,
                        Source("model_profiles.json"))
    diagnostic = only(validate_state(live_state(resource)), "S004")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.file == "model_profiles.json"
    assert fragment in diagnostic.message


def test_a_safe_id_is_not_s004() -> None:
    entry = {"profile_id": "v1.2-beta_3", "name": "P", "provider": "openai", "model_name": "m"}
    resource = Resource(ResourceKey(Kind.MODEL_PROFILE, "v1.2-beta_3"), entry)
    assert by_code(validate_state(live_state(resource)), "S004") == []


def test_an_unsafe_workflow_file_name_in_the_registry_is_s004(registries: Path) -> None:
    source = (registries / "workflows" / "claims_triage.json").read_text()
    (registries / "workflows" / "bad name.json").write_text(
        source.replace('"claims_triage"', '"bad name"', 1))
    found = engine.validate_live(engine.load_live(registries))
    diagnostic = only(found, "S004")
    assert diagnostic.resource == "workflow/bad name"
    assert diagnostic.file == str(registries / "workflows" / "bad name.json")


@pytest.mark.parametrize(("kind", "field"), [
    ("Agent", "input_schema"), ("Agent", "output_schema"),
    ("Tool", "input_schema"), ("Tool", "output_schema"),
])
def test_every_json_schema_field_must_be_valid_draft7(case: Case, kind: str,
                                                      field: str) -> None:
    required = ("name: n\ndescription: d\nmodel_profile_id: default_gpt35\n" if kind == "Agent"
                else "name: n\ndescription: d\nendpoint: /e\n"
                + ("" if field == "input_schema" else "input_schema: {type: object}\n"))
    path, desired = case(manifest(kind, "schemed", required + f"{field}:\n  type: object\n"
                                  "  properties:\n    amount: {type: money}\n"))
    diagnostic = only(desired.diagnostics, "S005")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.path == f"{field}.properties.amount.type"
    assert diagnostic.line == line_of(path, f"{field}:")
    assert "not a valid Draft 7 JSON Schema" in diagnostic.message


@pytest.mark.parametrize("bad", [
    {"type": "objekt"},
    {"required": "name"},
    {"properties": {"a": {"minimum": "zero"}}},
    {"additionalProperties": 3},
    {"items": [{"type": 1}]},
])
def test_schema_problem_finds_invalid_draft7_schemas(bad: dict[str, object]) -> None:
    problem = schema.schema_problem(bad)
    assert problem is not None
    assert problem[1]


@pytest.mark.parametrize("good", [
    {},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
    {"type": ["string", "null"], "enum": ["a", None], "default": "a"},
    {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"x": {}},
     "items": {"$ref": "#/definitions/x"}, "format": "date"},
])
def test_schema_problem_accepts_valid_draft7_schemas(good: dict[str, object]) -> None:
    assert schema.schema_problem(good) is None
    assert schema.schema_problem(good) is None  # the memoised verdict agrees


def test_unknown_fields_are_s006_warnings_with_did_you_mean(case: Case) -> None:
    path, desired = case(agent("typo", "allowed_tool: [fraud_rules]\n_comment: fine"))
    diagnostic = only(desired.diagnostics, "S006")
    assert diagnostic.severity is Severity.WARNING
    assert (diagnostic.file, diagnostic.line) == (str(path), line_of(path, "allowed_tool:"))
    assert "unknown field 'allowed_tool'" in diagnostic.message
    assert diagnostic.hint is not None
    assert "did you mean 'allowed_tools'?" in diagnostic.hint
    assert desired.errors == []


def test_unknown_step_fields_are_s006_too(case: Case) -> None:
    path, desired = case(manifest("Workflow", "w1", """
        name: W
        description: d
        steps:
        - step_id: a
          agent_id: fraud_agent
          on_sucess: complete
          _note: fine
        """))
    diagnostic = only(desired.diagnostics, "S006")
    assert diagnostic.path == "steps[0].on_sucess"
    assert diagnostic.line == line_of(path, "on_sucess")
    assert diagnostic.hint is not None and "did you mean 'on_success'?" in diagnostic.hint


def test_policies_never_warn_about_their_free_form_rules(case: Case, mesh: Path) -> None:
    grant_base_mesh(mesh)  # a policy makes the mesh governed: grant what it asks for
    _, desired = case(manifest("GovernancePolicy", "p", "description: d\nanything: 1\n"
                               "nested: {what: ever}"))
    assert desired.diagnostics == []


def test_defaults_and_documented_fields_raise_nothing(case: Case) -> None:
    _, desired = case(manifest("ModelProfile", "full", """
        name: Full
        description: every field
        provider: anthropic
        model_name: claude
        intended_usage: x
        parameters: {temperature: 0.3}
        json_mode: true
        constraints: {max_context_tokens: 1000}
        retry_policy: {max_retries: 3}
        timeout_seconds: 5
        """))
    assert desired.diagnostics == []
