"""`meshctl render`, in-process on the project of tests/environments.py (with a dev overlay
that also drops a model profile and adds a tool): the merged manifests of an environment,
in export's layout and order, placeholders untouched; read back as plain manifests they
are the environment's desired state (same validation, same plan against its store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.manifests import loader
from reconciler.model import kinds
from tests.conftest import CliResult, write

Run = Callable[..., CliResult]

# More for dev: a deletion and a new tool, whose name sorts before the base's tools but
# which comes after them (as declared: base first, then the later layers).
DEV_EXTRAS = """\
apiVersion: agentmesh.io/v1
kind: ModelProfile
metadata:
  name: claude_opus_3
$patch: delete
---
apiVersion: agentmesh.io/v1
kind: Tool
metadata:
  name: a_dev_probe
spec:
  name: Dev probe
  description: Answers with what it was sent (dev only)
  endpoint: /invoke/a_dev_probe
  input_schema: {type: object}
  output_schema: {type: object}
"""

PLACEHOLDERS = ("${GW_BASE_URL}", "${DC_BASE_URL}", "${SOCOTRA_BASE_URL}",
                "${MAINFRAME_BASE_URL}")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.environments import make_project

    root = make_project(tmp_path / "project")
    write(root / "manifests" / "overlays" / "dev" / "extras.yaml", DEV_EXTRAS)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MESHCTL_ENV", raising=False)
    return root


def documents(text: str) -> list[str]:
    assert text.startswith("apiVersion: ")
    return [part if part.endswith("\n") else part + "\n" for part in text.split("---\n")]


def keys(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(doc["kind"], doc["metadata"]["name"]) for doc in docs]


def test_render_prints_each_resource_of_the_environment_as_export_writes_it(
        project: Path, meshctl: Run) -> None:
    result = meshctl("render", "--env", "dev")
    assert result.code == 0, result.output
    assert result.err == ""
    texts = documents(result.out)
    docs = [yaml.safe_load(text) for text in texts]
    assert len(docs) == 53 - 1 + 1
    by_key = dict(zip(keys(docs), texts, strict=True))
    # the overlay's patch: merge patch, JSON Patch and labels
    fraud = yaml.safe_load(by_key[("Agent", "fraud_agent")])
    assert fraud["metadata"]["labels"] == {"tier": "dev"}
    assert fraud["spec"]["max_iterations"] == 3
    assert fraud["spec"]["capabilities"][-1] == "experimental_scoring"
    assert ("ModelProfile", "claude_opus_3") not in by_key
    assert yaml.safe_load(by_key[("Tool", "a_dev_probe")])["spec"]["endpoint"] == \
        "/invoke/a_dev_probe"
    # what no layer changed is byte for byte the base's file (export wrote the base)
    base = project / "manifests" / "base"
    unchanged = {key: text for key, text in by_key.items()
                 if key not in {("Agent", "fraud_agent"), ("Tool", "a_dev_probe")}}
    for (kind, name), text in unchanged.items():
        plural = kinds.info(kinds.Kind(kind)).plural
        assert (base / plural / f"{name}.yaml").read_text() == text, (kind, name)


def test_the_order_is_the_kinds_then_as_declared_base_first(project: Path,
                                                            meshctl: Run) -> None:
    docs = [yaml.safe_load(t) for t in documents(meshctl("render", "--env", "dev").out)]
    order = [kind.value for kind in kinds.KIND_ORDER]
    found = keys(docs)
    assert [order.index(kind) for kind, _ in found] == \
        sorted(order.index(kind) for kind, _ in found)
    tools = [name for kind, name in found if kind == "Tool"]
    base_tools = sorted(p.stem for p in (project / "manifests/base/tools").glob("*.yaml"))
    assert tools == [*base_tools, "a_dev_probe"]
    assert meshctl("render", "--env", "dev").out == meshctl("render", "--env", "dev").out


def test_placeholders_come_out_byte_for_byte(project: Path, meshctl: Run) -> None:
    dev = meshctl("render", "--env", "dev").out
    prod = meshctl("render", "--env", "prod").out
    for placeholder in PLACEHOLDERS:
        assert f"  base_url: {placeholder}\n" in dev
    assert "  base_url: https://claims.example.com/gw\n" in prod
    assert "${GW_BASE_URL}" not in prod
    for placeholder in PLACEHOLDERS[1:]:
        assert f"  base_url: {placeholder}\n" in prod
    rendered = documents(dev)
    for file in (project / "manifests" / "base" / "connectors").glob("*.yaml"):
        assert file.read_text() in rendered, file


def test_json_is_the_list_of_the_same_documents(project: Path, meshctl: Run) -> None:
    result = meshctl("render", "--env", "prod", "-o", "json")
    assert result.code == 0, result.output
    as_json = json.loads(result.out)
    as_yaml = [yaml.safe_load(t) for t in documents(meshctl("render", "--env", "prod").out)]
    assert as_json == as_yaml
    [connector] = [d for d in as_json if d["metadata"]["name"] == "guidewire_claims"]
    assert connector["spec"]["base_url"] == "https://claims.example.com/gw"


def _plan(result: CliResult) -> dict[str, Any]:
    """A plan's JSON without what names the manifest files (the rendered copies are other
    files): the changes, field by field, the summary, the warnings and access changes."""
    assert result.code in (0, 2), result.output
    plan: dict[str, Any] = json.loads(result.out)
    plan.pop("meta")
    for change in plan["changes"]:
        change.pop("source", None)
    for warning in plan["warnings"]:
        warning.pop("file")
        warning.pop("line")
    return plan


def _findings(result: CliResult) -> list[tuple[str, str, str, str]]:
    report = json.loads(result.out)
    assert report["valid"], result.output
    return [(d["code"], d["resource"], d["path"], d["message"]) for d in report["diagnostics"]]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_rendered_folder_is_the_environments_desired_state(
        project: Path, meshctl: Run, env: str, tmp_path: Path) -> None:
    out = tmp_path / f"rendered-{env}"
    rendered = meshctl("render", "--env", env, "--out", out)
    assert rendered.code == 0, rendered.output
    assert rendered.out.startswith(f"Rendered 53 resources to {out}/")
    assert _findings(meshctl("validate", out, "-o", "json")) == \
        _findings(meshctl("validate", "--env", env, "-o", "json"))
    fixed = ["--deny-breaking"] if env == "prod" else []  # what the environment fixes
    from_folder = _plan(meshctl("plan", out, "--store", f"registries-{env}", *fixed,
                                "-o", "json"))
    from_env = _plan(meshctl("plan", "--env", env, "-o", "json"))
    assert from_folder == from_env
    changed = {(c["kind"], c["name"]): c["action"] for c in from_env["changes"]
               if c["action"] != "noop"}
    assert changed == ({("Agent", "fraud_agent"): "update", ("Tool", "a_dev_probe"): "create",
                        ("ModelProfile", "claude_opus_3"): "delete"} if env == "dev" else
                       {("Connector", "guidewire_claims"): "update"})


def test_without_an_environment_render_writes_paths_in_exports_layout(
        project: Path, meshctl: Run, tmp_path: Path) -> None:
    """The base was written by `meshctl export`: rendering it is the same files, byte for
    byte, each where export puts it."""
    base = project / "manifests" / "base"
    out = tmp_path / "out"
    result = meshctl("render", base, "--out", out, "-o", "json")
    assert result.code == 0, result.output
    summary = json.loads(result.out)
    assert summary["others"] == [] and summary["counts"]["agents"] == 7
    written = {Path(p).relative_to(out) for p in summary["files"]}
    assert written == {Path(p).relative_to(base) for p in loader.manifest_file_names([base])}
    for relative in written:
        assert (out / relative).read_bytes() == (base / relative).read_bytes(), relative


def test_render_into_a_folder_with_other_files_replaces_only_its_own(
        project: Path, meshctl: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = write(out / "agents" / "retired_agent.yaml", "kind: Agent\n")
    mine = write(out / "agents" / "fraud_agent.yaml", "old\n")
    notes = write(out / "NOTES.txt", "kept\n")
    result = meshctl("render", "--env", "dev", "--out", out)
    assert result.code == 0, result.output
    assert stale.read_text() == "kind: Agent\n" and notes.read_text() == "kept\n"
    assert "max_iterations: 3" in mine.read_text()
    assert result.err == (f"note: {out}/ also holds 1 manifest file this render did not write "
                          f"({stale}); reading {out}/ back reads them too: render into an "
                          "empty folder to get the environment alone\n")


@pytest.mark.parametrize("inside", ["manifests/base", "manifests/base/rendered",
                                    "manifests/overlays/dev"])
def test_out_inside_the_manifests_it_renders_is_refused(project: Path, meshctl: Run,
                                                        inside: str) -> None:
    before = sorted(str(p) for p in (project / "manifests").rglob("*.yaml"))
    result = meshctl("render", "--env", "dev", "--out", inside)
    assert result.code == 1
    assert f"Error: --out {inside} is inside the manifests it renders" in result.err
    assert sorted(str(p) for p in (project / "manifests").rglob("*.yaml")) == before


def test_manifest_errors_are_reported_and_nothing_is_rendered(
        project: Path, meshctl: Run, tmp_path: Path) -> None:
    overlay = write(project / "manifests" / "overlays" / "prod" / "typo.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: fraud_agnet
        $patch: delete
        """)
    out = tmp_path / "out"
    for args in ((), ("--out", out), ("-o", "json")):
        result = meshctl("render", "--env", "prod", *args)
        assert result.code == 1
        assert result.out == ""
        assert f"{overlay.relative_to(project)}:4: error M017 agent/fraud_agnet:" in result.err
        assert "Error: the manifests cannot all be read and merged (1 error, see above); " \
               "nothing was rendered" in result.err
    assert not out.exists()


def test_rule_errors_do_not_stop_render_but_are_noted(project: Path, meshctl: Run) -> None:
    write(project / "manifests" / "overlays" / "prod" / "iterations.yaml", """\
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: fraud_agent
        spec:
          max_iterations: many
        """)
    result = meshctl("render", "--env", "prod")
    assert result.code == 0, result.output
    assert "  max_iterations: many\n" in result.out
    assert result.err == ("note: the rendered manifests have 1 error by the resource rules; "
                          "`meshctl validate` with the same arguments lists them\n")


def test_the_environment_may_come_from_meshctl_env(project: Path, meshctl: Run,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHCTL_ENV", "prod")
    assert "claims.example.com" in meshctl("render").out
    assert meshctl("render").out == meshctl("render", "--env", "prod").out

