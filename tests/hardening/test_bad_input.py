"""Bad input gets a clear diagnostic and changes nothing: arbitrary and mutated YAML through
the loader and the validator, hostile names through plan and apply, and inputs built to
exhaust time or memory, each within a bound."""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine
from reconciler.errors import Diagnostic
from reconciler.manifests import loader
from tests.conftest import BASE_MESH, FIXTURE_MANIFESTS, agent, manifest, write

SCRIPT = Path(sys.executable).parent / "meshctl"
FIXTURE_TEXTS = [p.read_text() for p in sorted(FIXTURE_MANIFESTS.rglob("*.yaml"))]

TOKENS = st.sampled_from([
    "apiVersion: agentmesh.io/v1", "kind: Agent", "kind: Tool", "kind: Workflow", "metadata:",
    "  name: a", "  name: ../x", "spec:", "  steps:", "  - step_id: s", "    agent_id: a",
    "---", "...", "- ", "  ", "\t", ": ", "[", "]", "{", "}", "&a", "*a", "<<: *a", "!!python/x",
    "'", '"', "#", "|", ">", "\x00", "\ufeff", "é", "𝄞", "1e999", "0x1F", "~", "null", "yes",
    "2025-12-22", "12:30:00", "- - -", "key: value", "  deep:", "    deeper:", "\r\n", "\n"])
YAMLISH = st.lists(TOKENS | st.text(max_size=6), max_size=40).map(" ".join)


def _only_diagnostics(result: loader.FileResult) -> None:
    assert isinstance(result, loader.FileResult)
    assert all(isinstance(d, Diagnostic) and d.code and d.message for d in result.diagnostics)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAMLISH)
def test_arbitrary_yaml_never_raises(text: str) -> None:
    result = loader.parse_manifest(text.encode("utf-8", "surrogatepass"), file="x.yaml")
    _only_diagnostics(result)
    from reconciler import validate

    for resource_ in result.resources:
        validate.check_resource(resource_)


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(lines))
        choice = rng.randrange(9)
        if choice == 0:
            del lines[at]
        elif choice == 1:
            lines.insert(at, lines[at])  # duplicate keys
        elif choice == 2:
            lines[at] = "\t" + lines[at]  # a tab in the indentation
        elif choice == 3:
            lines[at] = lines[at].rstrip("\n") + "\x00\n"
        elif choice == 4:
            lines[at] = lines[at].replace(":", ": " + "x" * rng.choice([10, 10_000, 200_000]), 1)
        elif choice == 5:
            lines[at] = "  " * rng.randint(1, 40) + lines[at].lstrip()
        elif choice == 6:
            lines[at] = lines[at].replace("5", "[1, {a: 𝄞}]", 1).replace("true", "'true'")
        elif choice == 7:
            lines.insert(at, "".join(f"{'  ' * i}n{i}:\n" for i in range(150)))  # deep nesting
        else:
            lines[at] = lines[at].replace("name", "name: [", 1)
        lines = lines or [""]
    return "".join(lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(FIXTURE_TEXTS) - 1), seed=st.integers(0, 2**32))
def test_mutated_manifests_give_diagnostics_and_write_nothing(
        index: int, seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("mutated")
    write(folder / "base.yaml", BASE_MESH)
    write(folder / "case.yaml", _mutate(FIXTURE_TEXTS[index], random.Random(seed)))
    before = sorted(p.name for p in folder.rglob("*"))
    desired = engine.load_desired([str(folder)], use_cache=False, jobs=1)
    assert all(isinstance(d, Diagnostic) for d in desired.diagnostics)
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing written


HOSTILE = ["../escape", "/etc/passwd", ".meshctl", "..", "a/b", "x" * 300, "a\\b", "nul\x00",
           "C:evil", "~root"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_before_any_file_is_touched(name: str, tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    write(manifests / "base.yaml", BASE_MESH)
    quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\0")
    write(manifests / "case.yaml", manifest("Workflow", "PLACEHOLDER",
                                            "name: W\ndescription: d\nsteps: []")
          .replace("name: PLACEHOLDER", f'name: "{quoted}"'))
    registries = tmp_path / "r"
    registries.mkdir()
    done = subprocess.run([str(SCRIPT), "apply", "--auto-approve", "--registries",
                           str(registries), str(manifests)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "S004" in done.stderr or "M009" in done.stderr or "M006" in done.stderr, done.stderr
    assert sorted(p.name for p in registries.rglob("*") if ".meshctl" not in p.parts) == []
    assert not (tmp_path / "escape").exists() and not (tmp_path / "evil").exists()


def _child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@pytest.mark.parametrize("case", ["alias bomb", "100 MB file", "flow nesting 10000",
                                  "recursive $ref"])
def test_inputs_built_to_exhaust_are_bounded(case: str, tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    write(manifests / "base.yaml", BASE_MESH)
    path = manifests / "case.yaml"
    if case == "alias bomb":
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
        write(path, "\n".join(lines) + "\n")
        wanted = "M004"
    elif case == "100 MB file":
        with open(path, "wb") as handle:
            handle.write(agent("big").encode())
            handle.truncate(100 * 1024 * 1024)
        wanted = "M002"
    elif case == "flow nesting 10000":
        write(path, manifest("Tool", "t9", "name: T\ndescription: d\nendpoint: /t\n")
              + "  input_schema: " + "[" * 10_000 + "]" * 10_000 + "\n")
        wanted = "M001"
    else:
        write(path, manifest("Tool", "t9", "name: T\ndescription: d\nendpoint: /t\n"
                             "output_schema: {type: object}\n"
                             "input_schema:\n  $ref: '#'\n  definitions:\n"
                             "    a: {$ref: '#/definitions/a'}\n"
                             "  properties:\n    x: {$ref: '#/definitions/a'}\n"))
        wanted = ""
    done = subprocess.run([str(SCRIPT), "validate", "--no-cache", str(manifests)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})
    assert "Traceback" not in done.stderr and "Internal error" not in done.stdout + done.stderr
    if wanted:
        assert done.returncode == 1 and wanted in done.stdout, done.stdout
    else:
        assert done.returncode == 0, done.stdout  # a recursive $ref is valid JSON Schema
    assert _child_rss_mb() < 600  # no 100 MB read, no expansion of the bomb
