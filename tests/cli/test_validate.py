"""`meshctl validate`: exit codes, text and JSON reports, --strict, paths and environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.parsecache import CACHE_DIR
from tests.conftest import BASE_MESH, CliResult, agent, line_of, manifest, write

Run = Callable[..., CliResult]


@pytest.fixture
def invalid(mesh: Path) -> Path:
    write(mesh / "case.yaml", agent("bad_agent", "allowed_tools:\n- similarity\n- fraud_rule"))
    return mesh


def test_valid_manifests_exit_0(meshctl: Run, manifests: Path) -> None:
    result = meshctl("validate", manifests)
    assert result.code == 0
    assert result.out.splitlines()[-1] == "valid: 29 resources in 29 files, 0 errors, 2 warnings"
    assert result.out.count("warning H003") == 2  # the real data's
    assert result.err == ""


def test_invalid_manifests_exit_1_with_file_line_and_hint(meshctl: Run, invalid: Path) -> None:
    result = meshctl("validate", invalid)
    assert result.code == 1
    path = invalid / "case.yaml"
    line = line_of(path, "- fraud_rule")
    assert (f"{path}:{line}: error R002 agent/bad_agent: agent 'bad_agent' refers to unknown "
            "tool 'fraud_rule' in allowed_tools[1]; did you mean 'fraud_rules'? "
            "available: fraud_rules, similarity") in result.out
    assert "    hint: declare tool 'fraud_rule', or fix the name" in result.out
    assert result.out.rstrip().endswith("invalid: 8 resources in 2 files, 1 error, 0 warnings")


def test_json_output_shape(meshctl: Run, invalid: Path) -> None:
    result = meshctl("validate", invalid, "-o", "json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report == {
        "valid": False, "errors": 1, "warnings": 0, "files": 2, "resources": 8,
        "diagnostics": [{
            "code": "R002", "severity": "error",
            "message": report["diagnostics"][0]["message"],
            "file": str(invalid / "case.yaml"),
            "line": line_of(invalid / "case.yaml", "- fraud_rule"),
            "resource": "agent/bad_agent", "path": "allowed_tools[1]",
            "hint": "declare tool 'fraud_rule', or fix the name",
        }],
    }
    assert "did you mean 'fraud_rules'?" in report["diagnostics"][0]["message"]


def test_json_output_of_a_valid_mesh(meshctl: Run, manifests: Path) -> None:
    result = meshctl("validate", "--output", "json", manifests)
    assert result.code == 0
    report = json.loads(result.out)
    assert {k: v for k, v in report.items() if k != "diagnostics"} == {
        "valid": True, "errors": 0, "warnings": 2, "files": 29, "resources": 29}
    assert [d["code"] for d in report["diagnostics"]] == ["H003", "H003"]  # the real data's


def test_warnings_pass_unless_strict(meshctl: Run, mesh: Path) -> None:
    write(mesh / "case.yaml", agent("typo_agent", "allowed_tool: []"))
    relaxed = meshctl("validate", mesh)
    assert relaxed.code == 0
    assert "warning S006" in relaxed.out
    assert "did you mean 'allowed_tools'?" in relaxed.out
    assert "valid: 8 resources in 2 files, 0 errors, 1 warning" in relaxed.out
    strict = meshctl("validate", "--strict", mesh)
    assert strict.code == 1
    assert "invalid: 8 resources" in strict.out
    assert json.loads(meshctl("validate", "--strict", "-o", "json", mesh).out)["valid"] is False


def test_several_paths_files_and_directories(meshctl: Run, tmp_path: Path) -> None:
    base = write(tmp_path / "a" / "base.yaml", BASE_MESH)
    extra = write(tmp_path / "b" / "nested" / "more.yml", manifest("Tool", "t9", "name: x"))
    result = meshctl("validate", base, tmp_path / "b")
    assert "in 2 files" in result.out
    assert "S001" in result.out  # the tool lacks required fields
    assert f"{extra}:1: error S001" in result.out


def test_default_path_is_manifests_in_the_working_directory(
        meshctl: Run, manifests: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHCTL_MANIFESTS", raising=False)
    monkeypatch.chdir(manifests.parent)
    result = meshctl("validate")
    assert result.code == 0
    assert "29 resources in 29 files" in result.out


def test_meshctl_manifests_sets_the_default_path(meshctl: Run, invalid: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("MESHCTL_MANIFESTS", str(invalid))
    result = meshctl("validate")
    assert result.code == 1
    assert "R002" in result.out
    write(empty / "ok.yaml", BASE_MESH)
    assert meshctl("validate", empty / "ok.yaml").code == 0  # an argument wins over the env


@pytest.mark.parametrize("args", [
    ("validate", "--bogus"),
    ("validate", "-o", "xml"),
    ("validate", "--max-bytes", "0"),
    ("validate", "--jobs", "zero"),
    ("no-such-command",),
    ("--no-such-flag", "validate"),
])
def test_usage_errors_exit_1_not_2(meshctl: Run, args: tuple[str, ...], mesh: Path) -> None:
    result = meshctl(*args, mesh)
    assert result.code == 1
    assert "Error:" in result.err
    assert "Traceback" not in result.output


def test_a_missing_path_exits_1_without_a_traceback(meshctl: Run, tmp_path: Path) -> None:
    result = meshctl("validate", tmp_path / "nope")
    assert result.code == 1
    assert result.err.strip() == f"Error: {tmp_path / 'nope'}: no such file or directory"
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_of_an_error(meshctl: Run, tmp_path: Path) -> None:
    result = meshctl("--debug", "validate", tmp_path / "nope")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err
    assert "ManifestError" in result.err


def test_max_bytes_limits_each_file(meshctl: Run, mesh: Path) -> None:
    result = meshctl("validate", "--max-bytes", "200", mesh)
    assert result.code == 1
    assert "M002" in result.out and "200-byte limit" in result.out
    assert "hint: split it into smaller files, or raise --max-bytes" in result.out


def test_broken_yaml_is_reported_not_raised(meshctl: Run, mesh: Path) -> None:
    write(mesh / "broken.yaml", "kind: [\n")
    write(mesh / "bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)))
    result = meshctl("validate", mesh)
    assert result.code == 1
    assert "error M001" in result.out and "error M004" in result.out
    assert "Traceback" not in result.output


def test_the_cache_is_written_beside_the_manifests_unless_no_cache(meshctl: Run,
                                                                    mesh: Path) -> None:
    assert meshctl("validate", "--no-cache", mesh).code == 0
    assert not (mesh / CACHE_DIR).exists()
    first = meshctl("validate", mesh)
    assert (mesh / CACHE_DIR).is_dir()
    second = meshctl("validate", mesh)
    assert first.out == second.out
    assert meshctl("validate", "--jobs", "2", mesh).out == first.out


def test_help_has_examples(meshctl: Run) -> None:
    result = meshctl("validate", "--help")
    assert result.code == 0
    assert "Examples" in result.out
    assert "--strict" in result.out


def test_mesh_wide_findings_have_no_location_and_come_last(meshctl: Run, tmp_path: Path) -> None:
    path = write(tmp_path / "m" / "tools.yaml", manifest("Tool", "t", "name: T"))
    result = meshctl("validate", tmp_path / "m")
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if not line.startswith("    ")]
    assert lines[0].startswith(f"{path}:1: error S001")
    assert lines[-2].startswith("error O001 agent/orchestrator_agent: no agent "
                                "'orchestrator_agent'")
    assert lines[-1].startswith("invalid: 1 resource in 1 file, 5 errors")
