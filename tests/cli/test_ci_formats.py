"""`-o github`, `-o junit` and `-o sarif` for validate and plan: each keeps every finding's
rule code, file and line, and has the shape its consumers (GitHub, JUnit readers, code
scanning) require. SARIF is checked against a JSON Schema of the parts of SARIF 2.1.0 that
meshctl writes (no package ships the OASIS schema, and the network is out of reach)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.validate import RULES
from tests.conftest import agent, line_of, write
from tests.servers import SCRIPT

GITHUB_LINE = re.compile(r"^::(error|warning|notice) (file=[^,:]+(,line=\d+)?,)?"
                         r"title=[^:]+::.+$")

# The SARIF 2.1.0 requirements (OASIS, section 3) for what meshctl emits.
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs", "$schema"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {
                    "driver": {"type": "object", "required": ["name", "rules"], "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "rules": {"type": "array", "items": {
                            "type": "object", "required": ["id", "shortDescription"],
                            "properties": {
                                "id": {"type": "string"},
                                "shortDescription": {"type": "object", "required": ["text"]},
                                "defaultConfiguration": {"type": "object", "properties": {
                                    "level": {"enum": ["none", "note", "warning", "error"]}}},
                            }}}}}}},
                "originalUriBaseIds": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["uri"],
                    "properties": {"uri": {"type": "string", "pattern": "^file://.*/$"}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["message", "ruleId"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": 0},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": {"type": "object", "required": ["text"],
                                    "properties": {"text": {"type": "string", "minLength": 1}}},
                        "locations": {"type": "array", "items": {
                            "type": "object", "required": ["physicalLocation"],
                            "properties": {"physicalLocation": {
                                "type": "object", "required": ["artifactLocation"],
                                "properties": {
                                    "artifactLocation": {
                                        "type": "object", "required": ["uri"],
                                        "properties": {"uri": {"type": "string",
                                                               "pattern": "^[^/]"}}},
                                    "region": {"type": "object", "required": ["startLine"],
                                               "properties": {"startLine": {
                                                   "type": "integer", "minimum": 1}}},
                                }}}}},
                    }}},
            }}},
    },
}


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture
def broken(tmp_path: Path, manifests: Path) -> Path:
    """The example mesh with one unknown tool (error R002) and an unknown field (warning
    S006), in agents/broken_agent.yaml."""
    write(manifests / "agents" / "broken_agent.yaml",
          agent("broken_agent", "allowed_tools: [no_such_tool]\nmystery: 1"))
    return tmp_path


def test_github_annotations_keep_code_file_and_line(broken: Path) -> None:
    done = run(broken, "validate", "manifests", "-o", "github")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert all(GITHUB_LINE.match(line) for line in lines), lines
    [error] = [line for line in lines if line.startswith("::error")]
    path = broken / "manifests" / "agents" / "broken_agent.yaml"
    tool_line, field_line = line_of(path, "no_such_tool"), line_of(path, "mystery")
    assert error.startswith(f"::error file=manifests/agents/broken_agent.yaml,line={tool_line},"
                            "title=R002 unknown tool::agent 'broken_agent' refers to unknown "
                            "tool 'no_such_tool'")
    [warning] = [line for line in lines if line.startswith("::warning")
                 and "title=H003" not in line]  # the real data's two
    assert "title=S006 unknown field" in warning and f",line={field_line}," in warning
    assert lines[-1].startswith("::notice title=meshctl::invalid: 30 resources in 30 files")


def test_junit_has_one_case_per_resource_and_fails_the_broken_one(broken: Path) -> None:
    done = run(broken, "validate", "manifests", "-o", "junit")
    assert done.returncode == 1
    root = ET.fromstring(done.stdout)
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 30 == int(suite.get("tests", "0"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["agent/broken_agent"] and suite.get(
        "failures") == "1"
    failure = failed[0].find("failure")
    assert failure is not None and failure.get("type") == "R002"
    line = line_of(broken / "manifests" / "agents" / "broken_agent.yaml", "no_such_tool")
    assert (failure.text or "").startswith(
        f"manifests/agents/broken_agent.yaml:{line}: error R002:")
    out = failed[0].find("system-out")
    assert out is not None and "warning S006" in (out.text or "")
    assert failed[0].get("file") == "manifests/agents/broken_agent.yaml"


def test_sarif_fits_the_schema_and_points_at_the_lines(broken: Path) -> None:
    done = run(broken, "validate", "manifests", "-o", "sarif")
    assert done.returncode == 1
    log = json.loads(done.stdout)
    jsonschema.validate(log, SARIF_SUBSET)
    [run_] = log["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert {rule["id"] for rule in rules} == set(RULES)
    for result in run_["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    by_rule = {r["ruleId"]: r for r in run_["results"]}
    location = by_rule["R002"]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "manifests/agents/broken_agent.yaml",
                                             "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": line_of(
                            broken / "manifests" / "agents" / "broken_agent.yaml",
                            "no_such_tool")}}
    assert by_rule["R002"]["level"] == "error" and by_rule["S006"]["level"] == "warning"


def test_a_file_that_does_not_parse_is_a_case_and_a_result(tmp_path: Path,
                                                           manifests: Path) -> None:
    write(manifests / "agents" / "bad.yaml", "kind: [\n")
    junit = ET.fromstring(run(tmp_path, "validate", "manifests", "-o", "junit").stdout)
    names = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert names == ["file manifests/agents/bad.yaml"]
    log = json.loads(run(tmp_path, "validate", "manifests", "-o", "sarif").stdout)
    jsonschema.validate(log, SARIF_SUBSET)
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] != "H003"]
    assert result["ruleId"] == "M001"


def test_plan_formats_carry_refusals_and_breaking_changes(tmp_path: Path, manifests: Path,
                                                         registries: Path) -> None:
    (manifests / "tools" / "fraud_rules.yaml").unlink()  # still used: refused (U001)
    done = run(tmp_path, "plan", "manifests", "--registries", "registries", "-o", "github")
    assert done.returncode == 1
    [refusal] = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    line = line_of(manifests / "agents" / "fraud_agent.yaml", "- fraud_rules")
    assert refusal.startswith(f"::error file=manifests/agents/fraud_agent.yaml,line={line},"
                              "title=U001 delete refused")
    assert "Cannot delete tool 'fraud_rules'" in refusal
    log = json.loads(run(tmp_path, "plan", "manifests", "--registries", "registries",
                         "-o", "sarif").stdout)
    jsonschema.validate(log, SARIF_SUBSET)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["U001", "H003", "H003"]
    junit = ET.fromstring(run(tmp_path, "plan", "manifests", "--registries", "registries",
                              "-o", "junit").stdout)
    cases = list(junit.iter("testcase"))
    assert len(cases) == 29  # every resource of the plan, noops included
    assert [c.get("name") for c in cases if c.find("failure") is not None] == \
        ["tool/fraud_rules"]
