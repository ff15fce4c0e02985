"""`meshctl fmt`: the layout export writes, comments kept, idempotent, meaning unchanged;
`--check` and `--diff` write nothing and say whether something would change."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests import export, loader
from reconciler.manifests.fmt import format_text, reformat
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, write
from tests.servers import SCRIPT

MESSY = """\
# Fraud checks, owned by the claims team
kind: Agent   # the kind
spec:
  model_profile_id: default_gpt35
  # how long one iteration may take
  iteration_timeout_seconds: 45
  allowed_tools: [fraud_rules, similarity]  # both needed
  description: "Looks for fraud"
  name: 'Fraud agent'
  output_schema: {type: object, properties: {score: {type: number}}}
  notes: "first line\\nsecond line\\n"
metadata:
  labels: {team: claims}
  name: fraud_agent
apiVersion: agentmesh.io/v1
"""

CANONICAL = """\
# Fraud checks, owned by the claims team
apiVersion: agentmesh.io/v1
kind: Agent   # the kind
metadata:
  name: fraud_agent
  labels:
    team: claims
spec:
  name: Fraud agent
  description: Looks for fraud
  allowed_tools:  # both needed
  - fraud_rules
  - similarity
  model_profile_id: default_gpt35
  # how long one iteration may take
  iteration_timeout_seconds: 45
  output_schema:
    type: object
    properties:
      score:
        type: number
  notes: |
    first line
    second line
"""


def meaning(text: str) -> list[Any]:
    result = loader.parse_manifest(text.encode(), file="x.yaml")
    return [(r.key, r.entry, dict(r.labels)) for r in result.resources]


def test_a_messy_manifest_gets_the_canonical_layout_and_keeps_its_comments() -> None:
    done = format_text(MESSY, "x.yaml")
    assert done.problems == []
    assert done.text is not None
    assert meaning(done.text) == meaning(MESSY)
    for comment in ("# Fraud checks", "# the kind", "# both needed", "# how long one"):
        assert comment in done.text
    assert _without_comments(done.text) == _without_comments(CANONICAL)
    # a comment on its own line stays right above its key, after the keys moved
    assert "  # how long one iteration may take\n  iteration_timeout_seconds: 45\n" in done.text
    assert "kind: Agent   # the kind\n" in done.text
    assert format_text(done.text, "x.yaml").text == done.text  # idempotent


def _without_comments(text: str) -> list[str]:
    return [line.split(" #")[0].rstrip() for line in text.splitlines()
            if not line.lstrip().startswith("#")]


def test_what_export_writes_is_already_formatted() -> None:
    for resource in read_live_state(FIXTURE_REGISTRIES).state:
        text = export.render_manifest(resource)
        assert format_text(text, "x.yaml").text == text, resource.key


BMP = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc")),
              max_size=12)


@settings(max_examples=100, deadline=None)
@given(spec=st.dictionaries(
    st.sampled_from(["description", "capabilities", "output_schema", "x_extra"]),
    st.recursive(st.none() | st.booleans() | st.integers(-9, 9) | BMP,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(BMP, inner, max_size=3), max_leaves=6), max_size=4))
def test_the_fast_path_agrees_with_the_round_trip(spec: dict[str, Any]) -> None:
    """What export writes is returned as it is, without the (slow) round trip: the round
    trip gives exactly that text too. (Characters beyond the BMP aside: export escapes
    them in double quotes, the round trip writes them as they are; both read the same.)"""
    from reconciler.model.kinds import Kind
    from reconciler.model.resource import Resource, ResourceKey

    text = export.render_manifest(Resource(ResourceKey(Kind.AGENT, "a"),
                                           {"agent_id": "a", "name": "A", **spec}))
    if loader.parse_manifest(text.encode(), file="x.yaml").diagnostics:
        return
    assert reformat(text) == text


STRINGS = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                           max_size=8)
                   | st.sampled_from(["\n", "'", '"', ": ", "#", "- ", "yes", "null", "1.0",
                                      "  ", "\t"]), max_size=6).map("".join)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | STRINGS
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "type", "c d", "yes"]), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(spec=st.dictionaries(st.sampled_from(["description", "capabilities", "max_iterations",
                                             "output_schema", "x_extra", "notes"]), VALUES,
                            max_size=5),
       flow=st.booleans())
def test_formatting_is_idempotent_and_never_changes_meaning(spec: dict[str, Any],
                                                            flow: bool) -> None:
    import yaml

    document = {"spec": {"name": "A", **spec}, "metadata": {"name": "agent_a"},
                "kind": "Agent", "apiVersion": "agentmesh.io/v1"}
    text = yaml.safe_dump(document, default_flow_style=flow, sort_keys=False,
                          allow_unicode=True)
    done = format_text(text, "x.yaml")
    if done.text is None:  # the input itself had an M error (never the formatting)
        assert all(p.code != "M001" or "formatting" not in p.message for p in done.problems)
        return
    assert meaning(done.text) == meaning(text)
    assert format_text(done.text, "x.yaml").text == done.text


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow  # runs the script as a subprocess
def test_check_diff_and_write(tmp_path: Path) -> None:
    messy = write(tmp_path / "m" / "agents" / "fraud_agent.yaml", MESSY)
    clean = write(tmp_path / "m" / "agents" / "other.yaml", CANONICAL.replace(
        "fraud_agent", "other_agent"))
    done = run("fmt", "--check", tmp_path / "m")
    assert done.returncode == 1 and f"would reformat {messy}" in done.stdout
    assert messy.read_text() == MESSY
    diff = run("fmt", "--diff", tmp_path / "m")
    assert diff.returncode == 1 and "+apiVersion: agentmesh.io/v1" in diff.stdout
    assert messy.read_text() == MESSY
    done = run("fmt", tmp_path / "m")
    assert done.returncode == 0 and f"reformatted {messy}" in done.stdout
    assert str(clean) not in done.stdout
    assert run("fmt", "--check", tmp_path / "m").returncode == 0


def test_a_file_with_errors_is_reported_and_left_alone(tmp_path: Path) -> None:
    bad = write(tmp_path / "m" / "bad.yaml", "kind: Agent\nspec: [\n")
    done = run("fmt", tmp_path / "m")
    assert done.returncode == 1 and "M001" in done.stderr
    assert bad.read_text() == "kind: Agent\nspec: [\n"
