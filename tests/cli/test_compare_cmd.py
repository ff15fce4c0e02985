"""`meshctl compare ENV_A ENV_B` through the CLI, on the environments fixture
(`tests.environments`: the upstream fixture as base, a dev and a prod overlay): what differs,
with the layer of each value, as text, JSON and markdown; exit codes; the errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.cli import compare_cmd
from reconciler.manifests import compare, project
from reconciler.manifests.layers import Layers
from tests.conftest import CliResult, line_of, write
from tests.environments import make_project

Run = Callable[..., CliResult]
BASE, DEV, PROD = "manifests/base", "manifests/overlays/dev", "manifests/overlays/prod"
BASE_AGENT = Path(BASE, "agents", "fraud_agent.yaml")
BASE_CONNECTOR = Path(BASE, "connectors", "guidewire_claims.yaml")
DEV_AGENTS, PROD_CONNECTORS = Path(DEV, "agents.yaml"), Path(PROD, "connectors.yaml")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def at(file: Path, needle: str) -> str:
    return f"{file}:{line_of(file, needle)}"


def test_dev_and_prod_field_by_field_with_the_layer_of_each_value(root: Path,
                                                                 meshctl: Run) -> None:
    result = meshctl("compare", "dev", "prod")
    assert (result.code, result.err) == (0, ""), result.output
    assert "\x1b[" not in result.out  # no colour off a terminal
    lines = result.out.splitlines()
    assert lines[0] == (f"Comparing dev ({BASE} + {DEV}) with prod ({BASE} + {PROD}).")
    fraud = lines.index("  ~ agent/fraud_agent")
    assert lines[fraud + 1:fraud + 10] == [
        "      capabilities[4]",
        f'        dev:  "experimental_scoring"  {at(DEV_AGENTS, "value: experimental")}',
        "        prod: (absent)",
        "      max_iterations",
        f"        dev:  3  {at(DEV_AGENTS, 'max_iterations: 3')}",
        f"        prod: 5  {at(BASE_AGENT, 'max_iterations: 5')}",
        "      metadata.labels.tier",
        f'        dev:  "dev"  {at(DEV_AGENTS, "tier: dev")}',
        "        prod: (absent)",
    ]
    connector = lines.index("  ~ connector/guidewire_claims")
    assert lines[connector + 1:connector + 4] == [
        "      base_url",
        f'        dev:  "${{GW_BASE_URL}}"  {at(BASE_CONNECTOR, "base_url:")}',
        f'        prod: "https://claims.example.com/gw"  {at(PROD_CONNECTORS, "base_url:")}',
    ]
    assert "Only in" not in result.out
    same = len(engine.load_desired(Layers((BASE,)), mesh_checks=False).state) - 2
    assert lines[-1] == f"Compare dev with prod: 2 different, 0 only in dev, 0 only in prod, " \
        f"{same} the same."


def test_resources_only_in_one_environment(root: Path, meshctl: Run) -> None:
    write(root / DEV / "extra.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: similarity
        $patch: delete
    """)
    similarity = (root / BASE / "tools" / "similarity.yaml").read_text()
    write(root / DEV / "probe.yaml", similarity.replace("name: similarity", "name: dev_probe"))
    result = meshctl("compare", "prod", "dev")
    assert result.code == 0, result.output
    lines = result.out.splitlines()
    assert lines[lines.index("Only in prod (1):") + 1] == \
        f"  tool/similarity  {Path(BASE, 'tools', 'similarity.yaml')}:1"
    assert lines[lines.index("Only in dev (1):") + 1] == \
        f"  tool/dev_probe  {Path(DEV, 'probe.yaml')}:1"
    assert "1 only in prod, 1 only in dev" in lines[-1]


def test_the_same_environment_twice_has_no_differences(root: Path, meshctl: Run) -> None:
    for args in (("compare", "dev", "dev"), ("compare", "prod", "prod", "--exit-code")):
        result = meshctl(*args)
        assert result.code == 0, result.output
        assert result.out.splitlines()[-1].startswith("No differences. ")
        assert "declare the same" in result.out


def test_exit_codes(root: Path, meshctl: Run) -> None:
    assert meshctl("compare", "dev", "prod").code == 0
    assert meshctl("compare", "dev", "prod", "--exit-code").code == 2
    assert meshctl("compare", "dev", "dev", "--exit-code").code == 0
    assert meshctl("compare", "dev", "prod", "-o", "json", "--exit-code").code == 2


def test_an_unknown_environment_is_an_error_with_did_you_mean(root: Path,
                                                              meshctl: Run) -> None:
    result = meshctl("compare", "dev", "prd")
    assert result.code == 1 and result.out == ""
    assert "no environment 'prd'; did you mean 'prod'? environments: dev, prod" in result.err


def test_without_a_project_file_it_says_how_to_make_one(tmp_path: Path, meshctl: Run,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    result = meshctl("compare", "dev", "prod")
    assert result.code == 1 and "no meshctl.yaml" in result.err and "--project" in result.err


def test_project_given_from_another_folder(tmp_path: Path, meshctl: Run,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path / "repo")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = meshctl("compare", "dev", "prod", "--project", "../repo/meshctl.yaml",
                     "-o", "json")
    assert result.code == 0, result.output
    data = json.loads(result.out)
    assert data["a"]["manifests"] == [str(Path("../repo", BASE)), str(Path("../repo", DEV))]
    [fraud, _] = data["differing"]
    assert fraud["fields"][1]["b"]["file"] == str(Path("../repo") / BASE_AGENT)
    assert fraud["fields"][1]["b"]["layer"] == str(Path("../repo", BASE))


def test_json_is_complete_with_a_documented_shape(root: Path, meshctl: Run) -> None:
    result = meshctl("compare", "dev", "prod", "-o", "json")
    assert (result.code, result.err) == (0, "")
    data: dict[str, Any] = json.loads(result.out)
    same = len(engine.load_desired(Layers((BASE,)), mesh_checks=False).state) - 2
    assert {key: data[key] for key in ("format_version", "a", "b", "differs", "summary",
                                       "only_a", "only_b")} == {
        "format_version": 1,
        "a": {"environment": "dev", "manifests": [BASE, DEV]},
        "b": {"environment": "prod", "manifests": [BASE, PROD]},
        "differs": True,
        "summary": {"differing": 2, "only_a": 0, "only_b": 0, "same": same},
        "only_a": [], "only_b": [],
    }
    assert list(data) == ["format_version", "a", "b", "differs", "summary", "only_a",
                          "only_b", "differing"]

    def origin(file: Path, needle: str, layer: str) -> dict[str, Any]:
        return {"file": str(file), "line": line_of(file, needle), "layer": layer}

    declared = {"file": str(BASE_AGENT), "line": 1, "layer": BASE}
    assert data["differing"][0] == {
        "kind": "Agent", "name": "fraud_agent", "a": declared, "b": declared,
        "fields": [
            {"path": "capabilities[4]",
             "a": {"value": "experimental_scoring",
                   **origin(DEV_AGENTS, "value: experimental", DEV)},
             "b": None},
            {"path": "max_iterations",
             "a": {"value": 3, **origin(DEV_AGENTS, "max_iterations: 3", DEV)},
             "b": {"value": 5, **origin(BASE_AGENT, "max_iterations: 5", BASE)}},
            {"path": "metadata.labels.tier",
             "a": {"value": "dev", **origin(DEV_AGENTS, "tier: dev", DEV)}, "b": None},
        ]}
    assert data["differing"][1]["kind"] == "Connector"
    assert data["differing"][1]["fields"] == [
        {"path": "base_url",
         "a": {"value": "${GW_BASE_URL}", **origin(BASE_CONNECTOR, "base_url:", BASE)},
         "b": {"value": "https://claims.example.com/gw",
               **origin(PROD_CONNECTORS, "base_url:", PROD)}}]
    same_env = json.loads(meshctl("compare", "dev", "dev", "-o", "json").out)
    assert (same_env["differs"], same_env["differing"]) == (False, [])


def test_a_default_is_a_value_no_file_sets(root: Path, meshctl: Run) -> None:
    write(root / DEV / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: fraud_agent
        spec:
          max_iterations: null
    """)
    data = json.loads(meshctl("compare", "dev", "prod", "-o", "json").out)
    [field] = data["differing"][0]["fields"]
    assert field["path"] == "max_iterations"
    assert field["a"] == {"value": 10, "file": None, "line": None, "layer": None}
    assert "        dev:  10  (default)" in meshctl("compare", "dev", "prod").out


def test_markdown_for_a_pull_request(root: Path, meshctl: Run) -> None:
    result = meshctl("compare", "dev", "prod", "-o", "markdown")
    assert result.code == 0, result.output
    text = result.out
    assert text.startswith("### meshctl compare: dev and prod\n")
    assert "| different | only in dev | only in prod | same |" in text
    assert "#### Different (2)" in text and "Only in" not in text
    assert "**`agent/fraud_agent`**\n\n| field | dev | prod |\n|---|---|---|\n" in text
    assert (f"| `max_iterations` | `3`<br>`{at(DEV_AGENTS, 'max_iterations: 3')}` | "
            f"`5`<br>`{at(BASE_AGENT, 'max_iterations: 5')}` |") in text
    assert (f'| `capabilities[4]` | `"experimental_scoring"`<br>'
            f'`{at(DEV_AGENTS, "value: experimental")}` | *absent* |') in text
    assert f'| `base_url` | `"${{GW_BASE_URL}}"`<br>`{at(BASE_CONNECTOR, "base_url:")}` |' \
        in text
    same = meshctl("compare", "prod", "prod", "-o", "markdown").out
    assert "No differences: prod and prod declare the same resources." in same


def test_markdown_is_capped_and_says_how_much_is_left_out(root: Path) -> None:
    found = project.load(Path("meshctl.yaml"))
    dev, prod = found.environment("dev"), found.environment("prod")
    states = [engine.load_desired(Layers(env.manifests), mesh_checks=False).state
              for env in (dev, prod)]
    result = compare.compare(states[0], states[1], layers_a=dev.manifests,
                             layers_b=prod.manifests)
    whole = compare_cmd.render_markdown(result, dev, prod)
    short = compare_cmd.render_markdown(result, dev, prod, limit=1300)
    assert len(short) <= 1300 and "connector/guidewire_claims" in whole
    assert "**`agent/fraud_agent`**" in short and "connector/guidewire_claims" not in short
    assert "- … and 1 more\n" in short
    assert short.endswith("> 1 resource left out to stay under 1,300 characters; run "
                          "`meshctl compare dev prod -o json` for all of it.\n")


def test_markdown_keeps_pipes_and_backticks_inside_their_cells(root: Path,
                                                               meshctl: Run) -> None:
    write(root / DEV / "agents.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: fraud_agent
        spec:
          description: "scores `fraud` | flags"
    """)
    text = meshctl("compare", "dev", "prod", "-o", "markdown").out
    assert '| `description` | ``"scores `fraud` \\| flags"``<br>' in text


def test_invalid_manifests_in_either_environment_are_reported_once(root: Path,
                                                                   meshctl: Run) -> None:
    write(root / BASE / "broken.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: broken
        spec:
          name: 5
    """)
    write(root / PROD / "more.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: no_such_agent
        patches:
          - {op: add, path: /spec/capabilities/-, value: x}
    """)
    result = meshctl("compare", "dev", "prod")
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == f"dev ({BASE}, {DEV}):"
    prod = lines.index(f"prod ({BASE}, {PROD}):")
    # the base is both's: its errors show once, under the first environment
    broken = [line for line in lines if line.startswith(f"{Path(BASE, 'broken.yaml')}:")]
    assert broken and len(set(broken)) == len(broken)
    assert all(lines.index(line) < prod for line in broken)
    assert lines[prod + 1].startswith(f"{Path(PROD, 'more.yaml')}:4: error M017 ")
    assert lines[-1] == (f"No comparison: dev: {len(broken)} errors, 0 warnings; "
                         f"prod: {len(broken) + 1} errors, 0 warnings")
    data = json.loads(meshctl("compare", "dev", "prod", "-o", "json").out)
    assert data["valid"] is False and list(data["environments"]) == ["dev", "prod"]
    assert {d["code"] for d in data["environments"]["prod"]} >= {"M017"}


def test_a_layer_that_is_not_a_folder_is_an_error(root: Path, meshctl: Run) -> None:
    (root / PROD / "connectors.yaml").unlink()
    (root / PROD).rmdir()
    result = meshctl("compare", "dev", "prod")
    assert result.code == 1
    assert f"environment 'prod': layer '{PROD}' does not exist" in result.err


def test_help_has_examples(meshctl: Run) -> None:
    result = meshctl("compare", "--help")
    assert result.code == 0 and "Examples:" in result.out
    assert "meshctl compare dev prod --exit-code" in result.out
