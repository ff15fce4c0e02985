"""`manifests.compare` on its own: two environments' desired states, paired by key, each
difference with the value and the layer (file:line) of each side. On the environments
fixture (`tests.environments`, loaded as the CLI loads it) and on small states made here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.manifests import compare
from reconciler.manifests.compare import (
    Comparison,
    Declared,
    FieldDifference,
    Origin,
    Setting,
)
from reconciler.manifests.layers import Layers
from reconciler.manifests.project import load
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from tests.conftest import line_of, write
from tests.environments import make_project

BASE, DEV, PROD = "manifests/base", "manifests/overlays/dev", "manifests/overlays/prod"
FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
GUIDEWIRE = ResourceKey(Kind.CONNECTOR, "guidewire_claims")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)  # layers are named from the working directory, as typed
    return tmp_path


def environments(first: str, second: str) -> Comparison:
    found = load(Path("meshctl.yaml"))
    a, b = found.environment(first), found.environment(second)
    states = [engine.load_desired(Layers(env.manifests), mesh_checks=False) for env in (a, b)]
    assert [d for s in states for d in s.errors] == []
    return compare.compare(states[0].state, states[1].state, layers_a=a.manifests,
                           layers_b=b.manifests)


def test_dev_and_prod_differ_by_their_overlays_with_the_layer_of_each_value(
        project: Path) -> None:
    result = environments("dev", "prod")
    base_agent = Path(BASE, "agents", "fraud_agent.yaml")
    base_connector = Path(BASE, "connectors", "guidewire_claims.yaml")
    dev_agents, prod_connectors = Path(DEV, "agents.yaml"), Path(PROD, "connectors.yaml")

    def at(file: Path, needle: str, layer: str) -> Origin:
        return Origin(str(file), line_of(file, needle), layer)

    assert result.only_a == () and result.only_b == () and result.differs
    assert [d.key for d in result.differing] == [FRAUD, GUIDEWIRE]  # kind order
    fraud, guidewire = result.differing
    assert fraud.a == fraud.b == Origin(str(base_agent), 1, BASE)
    assert fraud.fields == (
        FieldDifference("capabilities[4]",
                        Setting("experimental_scoring",
                                at(dev_agents, "value: experimental_scoring", DEV)),
                        None),
        FieldDifference("max_iterations",
                        Setting(3, at(dev_agents, "max_iterations: 3", DEV)),
                        Setting(5, at(base_agent, "max_iterations: 5", BASE))),
        FieldDifference("metadata.labels.tier",
                        Setting("dev", at(dev_agents, "tier: dev", DEV)), None),
    )
    assert guidewire.fields == (
        FieldDifference("base_url",
                        Setting("${GW_BASE_URL}", at(base_connector, "base_url:", BASE)),
                        Setting("https://claims.example.com/gw",
                                at(prod_connectors, "base_url:", PROD))),
    )
    everything = len(engine.load_desired(Layers((BASE,)), mesh_checks=False).state)
    assert result.same == everything - 2


def test_the_other_way_round_swaps_the_sides(project: Path) -> None:
    there, back = environments("dev", "prod"), environments("prod", "dev")
    assert [(f.path, f.a, f.b) for d in there.differing for f in d.fields] == \
        [(f.path, f.b, f.a) for d in back.differing for f in d.fields]


def test_an_environment_equals_itself(project: Path) -> None:
    result = environments("prod", "prod")
    assert not result.differs
    assert result == Comparison(same=result.same) and result.same > 50


# --- small states ---------------------------------------------------------------------------

AGENT_SPEC = {"name": "A", "description": "d", "capabilities": ["x"],
              "model_profile_id": "m", "output_schema": {"type": "object"}}


def agent(name: str, file: str, lines: dict[str, int] | None = None,
          files: dict[str, str] | None = None, labels: dict[str, str] | None = None,
          **spec: object) -> Resource:
    entry = {"agent_id": name, **AGENT_SPEC, **spec}
    return Resource(ResourceKey(Kind.AGENT, name), entry,
                    Source(file, 1, lines or {}, files or {}), labels or {})


def state(*resources: Resource) -> MeshState:
    found = MeshState()
    for resource in resources:
        found.add(resource)
    return found


def test_resources_only_in_one_side_say_where_they_are_declared() -> None:
    tool = Resource(ResourceKey(Kind.TOOL, "t"), {"tool_id": "t"}, Source("base/tools.yaml", 4))
    a = state(agent("b", "base/b.yaml"), agent("a", "dev/extra.yaml"))
    b = state(tool, agent("b", "base/b.yaml"), agent("z", "prod/z.yaml"))
    result = compare.compare(a, b, layers_a=["base", "dev"], layers_b=["base", "prod"])
    assert result.only_a == (Declared(ResourceKey(Kind.AGENT, "a"),
                                      Origin("dev/extra.yaml", 1, "dev")),)
    # kind order (tools before agents), then by name
    assert result.only_b == (Declared(tool.key, Origin("base/tools.yaml", 4, "base")),
                             Declared(ResourceKey(Kind.AGENT, "z"),
                                      Origin("prod/z.yaml", 1, "prod")))
    assert result.differing == () and result.same == 1 and result.differs


def test_an_omitted_optional_field_equals_what_its_absence_means() -> None:
    """The plan's essence: `allowed_tools: []` written out is what leaving it out means;
    a value no manifest writes is a default, with no file."""
    a = state(agent("a", "base/a.yaml", allowed_tools=[]))
    b = state(agent("a", "base/a.yaml"))
    assert not compare.compare(a, b).differs
    c = state(agent("a", "base/a.yaml", {"input_schema": 7, "input_schema.type": 8},
                    input_schema={"type": "object"}))
    [difference] = compare.compare(b, c, layers_a=["base"], layers_b=["base"]).differing
    assert difference.fields == (
        FieldDifference("input_schema", Setting(None, Origin(None)),
                        Setting({"type": "object"}, Origin("base/a.yaml", 7, "base"))),)
    assert str(Origin(None)) == "(default)" and not Origin(None).written


def test_values_deep_in_a_field_name_the_nearest_line_a_layer_wrote() -> None:
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    a = state(agent("a", "base/a.yaml", {"output_schema": 5, "output_schema.type": 6},
                    output_schema={"type": "object"}))
    b = state(agent("a", "base/a.yaml", {"output_schema": 5, "output_schema.type": 6,
                                         "output_schema.properties": 2},
                    {"output_schema.properties": "prod/a.yaml"}, output_schema=schema))
    [difference] = compare.compare(a, b, layers_a=["base"], layers_b=["base", "prod"]).differing
    assert difference.fields == (FieldDifference(
        "output_schema.properties", None,
        Setting({"score": {"type": "number"}}, Origin("prod/a.yaml", 2, "prod"))),)


def test_a_list_item_that_moved_is_found_where_it_now_is() -> None:
    """deepdiff pairs `capabilities[2]` of one side with `capabilities[3]` of the other
    when an item was put before it: each side's line is its own item's."""
    a = state(agent("a", "base/a.yaml", {f"capabilities[{i}]": 10 + i for i in range(3)},
                    capabilities=["a", "b", "X"]))
    b = state(agent("a", "base/a.yaml", {f"capabilities[{i}]": 10 + i for i in range(4)},
                    {"capabilities[0]": "prod/a.yaml"}, capabilities=["c", "a", "b", "Y"]))
    [difference] = compare.compare(a, b).differing
    assert difference.fields == (
        FieldDifference("capabilities[0]", None, Setting("c", Origin("prod/a.yaml", 10))),
        FieldDifference("capabilities[2]", Setting("X", Origin("base/a.yaml", 12)),
                        Setting("Y", Origin("base/a.yaml", 13))),
    )


def test_labels_and_annotations_count_with_their_own_lines() -> None:
    a = state(Resource(FRAUD, {"agent_id": "fraud_agent", **AGENT_SPEC},
                       Source("base/f.yaml", 1, {"@metadata.labels.tier": 5,
                                                 "@metadata.annotations.owner": 7}),
                       {"tier": "dev"}, {"owner": "claims"}))
    b = state(Resource(FRAUD, {"agent_id": "fraud_agent", **AGENT_SPEC},
                       Source("base/f.yaml", 1, {"@metadata.labels": 4,
                                                 "@metadata.labels.tier": 5,
                                                 "@metadata.labels.team": 6},
                              {"@metadata.labels.tier": "prod/f.yaml"}),
                       {"team": "fraud", "tier": "prod"}, {}))
    [difference] = compare.compare(a, b, layers_a=["base"],
                                   layers_b=["base", "prod"]).differing
    assert difference.fields == (
        FieldDifference("metadata.labels.team", None,
                        Setting("fraud", Origin("base/f.yaml", 6, "base"))),
        FieldDifference("metadata.labels.tier", Setting("dev", Origin("base/f.yaml", 5, "base")),
                        Setting("prod", Origin("prod/f.yaml", 5, "prod"))),
        FieldDifference("metadata.annotations.owner",
                        Setting("claims", Origin("base/f.yaml", 7, "base")), None),
    )


def test_the_loader_keeps_the_lines_of_labels_and_annotations(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: t
          labels:
            tier: dev
          annotations: {owner: claims}
        spec:
          name: T
    """)
    [resource] = engine.load_desired([str(file)], mesh_checks=False, use_cache=False).state
    assert resource.where("@metadata.labels.tier") == (str(file), 6)
    assert resource.where("@metadata.annotations.owner") == (str(file), 7)


@pytest.mark.parametrize(("file", "layers", "expected"), [
    ("manifests/base/agents/a.yaml", ["manifests/base", "manifests/overlays/dev"],
     "manifests/base"),
    ("manifests/overlays/dev/a.yaml", ["manifests/base", "manifests/overlays/dev"],
     "manifests/overlays/dev"),
    ("manifests/base2/a.yaml", ["manifests/base"], None),  # a prefix is not a folder
    ("./manifests/base/a.yaml", ["manifests/base/"], "manifests/base/"),
    ("m/overlays/dev/a.yaml", ["m", "m/overlays/dev"], "m/overlays/dev"),  # the innermost
    ("elsewhere/a.yaml", [], None),
    (os.path.join("/abs", "base", "a.yaml"), ["/abs/base"], "/abs/base"),
])
def test_the_layer_of_a_file(file: str, layers: list[str], expected: str | None) -> None:
    assert compare.layer_of(file, layers) == expected
