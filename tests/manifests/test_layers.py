"""Loading an environment's layers (issue 25): later layers patch earlier ones, resource
by resource, and every value keeps the file and line of the layer that set it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import engine
from reconciler.manifests.layers import Layers
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey
from tests.conftest import by_code, line_of, only, write
from tests.environments import make_project

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def layers(project: Path, *overlays: str) -> Layers:
    return Layers([str(project / "manifests" / "base"),
                   *(str(project / "manifests" / "overlays" / name) for name in overlays)])


def load(stack: Layers) -> engine.DesiredState:
    return engine.load_desired(stack, use_cache=False, jobs=1)


def resource(desired: engine.DesiredState, key: ResourceKey) -> Resource:
    found = desired.state.get(key)
    assert found is not None, f"{key} is not in the state"
    return found


def test_a_merge_patch_and_a_json_patch_over_the_base(project: Path) -> None:
    base = resource(load(layers(project)), FRAUD)
    dev = load(layers(project, "dev"))
    fraud = resource(dev, FRAUD)
    assert fraud.entry["max_iterations"] == 3 and base.entry["max_iterations"] == 5
    assert fraud.entry["capabilities"] == [*base.entry["capabilities"], "experimental_scoring"]
    assert dict(fraud.labels) == {"tier": "dev"}
    # the patch changes only what it says: the rest is the base's, in the base's key order
    assert list(fraud.entry) == list(base.entry)
    assert {k: v for k, v in fraud.entry.items() if k not in ("max_iterations",
                                                               "capabilities")} == \
        {k: v for k, v in base.entry.items() if k not in ("max_iterations", "capabilities")}
    assert not dev.errors


def test_each_value_names_the_file_and_line_of_the_layer_that_set_it(project: Path) -> None:
    fraud = resource(load(layers(project, "dev")), FRAUD)
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    base = project / "manifests" / "base" / "agents" / "fraud_agent.yaml"
    assert fraud.where("max_iterations") == (str(overlay), line_of(overlay, "max_iterations"))
    appended = len(fraud.entry["capabilities"]) - 1
    assert fraud.where(f"capabilities[{appended}]") == (  # the operation's value
        str(overlay), line_of(overlay, "value: experimental_scoring"))
    assert fraud.where("capabilities[0]") == (str(base), line_of(base, "- fraud_detection"))
    assert fraud.where("allowed_tools[1]") == (str(base), line_of(base, "- similarity"))
    assert fraud.where(None) == (str(base), 1)  # the resource is the base's


def test_removing_a_list_item_moves_the_lines_of_the_items_after_it(project: Path) -> None:
    write(project / "manifests" / "overlays" / "dev" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        patches:
          - {op: remove, path: /spec/capabilities/0}
          - {op: add, path: /spec/capabilities/1, value: inserted}
        """)
    fraud = resource(load(layers(project, "dev")), FRAUD)
    base = project / "manifests" / "base" / "agents" / "fraud_agent.yaml"
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    assert fraud.entry["capabilities"][:2] == ["risk_scoring", "inserted"]
    assert fraud.where("capabilities[0]") == (str(base), line_of(base, "- risk_scoring"))
    assert fraud.where("capabilities[1]") == (str(overlay), line_of(overlay, "value: inserted"))
    assert fraud.where("capabilities[2]") == (str(base), line_of(base, "- pattern_analysis"))


def test_an_error_on_a_patched_value_names_the_layer_and_the_base_file(project: Path) -> None:
    overlay = write(project / "manifests" / "overlays" / "dev" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        spec:
          max_iterations: 0
        """)
    found = only(load(layers(project, "dev")).errors, "S003")
    base = project / "manifests" / "base" / "agents" / "fraud_agent.yaml"
    assert (found.file, found.line) == (str(overlay), line_of(overlay, "max_iterations"))
    assert f"is declared at {base}:1" in found.message


def test_null_removes_a_key_and_nested_mappings_merge(project: Path) -> None:
    write(project / "manifests" / "overlays" / "dev" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        spec:
          description: null
          output_schema:
            properties:
              extra: {type: string}
        """)
    base = resource(load(layers(project)), FRAUD)
    fraud = resource(load(layers(project, "dev")), FRAUD)
    assert "description" not in fraud.entry and "description" in base.entry
    properties = fraud.entry["output_schema"]["properties"]
    assert properties == {**base.entry["output_schema"]["properties"],
                          "extra": {"type": "string"}}
    assert fraud.entry["output_schema"]["required"] == base.entry["output_schema"]["required"]


def test_patch_delete_drops_the_resource_in_that_environment_only(project: Path) -> None:
    write(project / "manifests" / "overlays" / "dev" / "gone.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata: {name: similarity}
        $patch: delete
        """)
    key = ResourceKey(Kind.TOOL, "similarity")
    dev, prod = load(layers(project, "dev")), load(layers(project, "prod"))
    assert key not in dev.state and key in prod.state
    # whoever still uses it is told, with the usual reference errors
    assert {d.resource for d in by_code(dev.errors, "R002")} >= {"agent/fraud_agent"}


def test_a_resource_no_earlier_layer_has_is_created_there(project: Path) -> None:
    write(project / "manifests" / "overlays" / "dev" / "new.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: ModelProfile
        metadata: {name: dev_cheap}
        spec:
          name: Dev cheap
          description: a cheap model for dev
          provider: openai
          model_name: gpt-3.5-turbo
          intended_usage: tests
          parameters: {temperature: 0.1, max_tokens: 500}
        """)
    key = ResourceKey(Kind.MODEL_PROFILE, "dev_cheap")
    dev = load(layers(project, "dev"))
    assert key in dev.state and key not in load(layers(project, "prod")).state
    assert not [d for d in dev.errors if d.resource == str(key)]


@pytest.mark.parametrize(("text", "code", "needle"), [
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agnet}\n"
     "patches: [{op: remove, path: /spec/capabilities/0}]\n", "M017", "fraud_agnet"),
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: nobody}\n$patch: delete\n",
     "M017", "nobody"),
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agent}\npatches:\n"
     "  - {op: remove, path: /spec/capabilities/9}\n", "M018", "op: remove"),
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agent}\npatches:\n"
     "  - {op: replace, path: /metadata/name, value: other}\n", "M018", "op: replace"),
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agent}\n"
     "$patch: remove\n", "M019", "$patch"),
    ("apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agent}\n"
     "spec: {max_iterations: 2}\n$patch: delete\n", "M019", "$patch"),
])
def test_a_patch_that_cannot_apply_is_an_error_at_its_line(project: Path, text: str,
                                                           code: str, needle: str) -> None:
    overlay = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    overlay.write_text(text, encoding="utf-8")
    found = only(load(layers(project, "dev")).errors, code)
    assert (found.file, found.line) == (str(overlay), line_of(overlay, needle))


def test_the_did_you_mean_of_a_patch_for_a_missing_resource(project: Path) -> None:
    (project / "manifests" / "overlays" / "dev" / "agents.yaml").write_text(
        "apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata: {name: fraud_agnet}\n"
        "spec: {max_iterations: 2}\npatches: []\n", encoding="utf-8")
    found = only(load(layers(project, "dev")).errors, "M017")
    assert found.hint is not None and "did you mean 'fraud_agent'?" in found.hint


def test_patches_outside_an_overlay_are_refused_not_applied(project: Path) -> None:
    stray = write(project / "manifests" / "base" / "stray.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        patches: [{op: remove, path: /spec/capabilities/0}]
        """)
    desired = load(layers(project))
    found = only(desired.errors, "M016")
    assert (found.file, found.line) == (str(stray), line_of(stray, "patches"))
    assert not by_code(desired.errors, "M010")  # not read as a second fraud_agent


def test_a_later_overlay_patches_what_an_earlier_one_made(project: Path) -> None:
    write(project / "manifests" / "overlays" / "dev" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        spec: {max_iterations: 2}
        """)
    write(project / "manifests" / "overlays" / "extra" / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata: {name: fraud_agent}
        spec: {iteration_timeout_seconds: 90}
        """)
    fraud = resource(load(layers(project, "dev", "extra")), FRAUD)
    assert (fraud.entry["max_iterations"], fraud.entry["iteration_timeout_seconds"]) == (2, 90)
    dev_file = project / "manifests" / "overlays" / "dev" / "agents.yaml"
    assert fraud.where("max_iterations")[0] == str(dev_file)


def test_placeholders_reach_the_registries_byte_for_byte(project: Path,
                                                         meshctl: object) -> None:
    from tests.conftest import FULL_REGISTRIES

    before = (FULL_REGISTRIES / "integration" / "connectors.json").read_bytes()
    run = meshctl  # the CLI, in-process
    for env in ("dev", "prod"):
        result = run("apply", "--env", env, "--auto-approve",  # type: ignore[operator]
                     "--project", project / "meshctl.yaml")
        assert result.code == 0, result.output
    dev = (project / "registries-dev" / "integration" / "connectors.json").read_bytes()
    prod = (project / "registries-prod" / "integration" / "connectors.json").read_bytes()
    assert dev == before  # dev does not touch connectors: not a byte changes
    assert b'"${GW_BASE_URL}"' not in prod and b"https://claims.example.com/gw" in prod
    for placeholder in (b'"${DC_BASE_URL}"', b'"${SOCOTRA_BASE_URL}"',
                        b'"${MAINFRAME_BASE_URL}"'):
        assert placeholder in prod
    assert prod.replace(b"https://claims.example.com/gw", b"${GW_BASE_URL}") == before
