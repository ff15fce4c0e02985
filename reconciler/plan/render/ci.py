"""Findings where reviewers look: GitHub workflow commands, JUnit XML and SARIF 2.1.0.

A finding is a `Diagnostic` (rule code, severity, message, file, line, resource, hint): the
validator's, and the plan's (its warnings, and each refusal as `U001`). Every format keeps the
code, the file and the line. Pure: the caller passes the rule titles and the tool version.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.errors import Diagnostic, Severity
from reconciler.plan.model import Action, Change, Plan

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def refusal_findings(plan: Plan) -> list[Diagnostic]:
    """Each refused change as an error with the code of its guard, at the first reference
    that keeps it (where a reviewer can act), else at the resource's own manifest: a
    delete's U001, a breaking change's B001 (--deny-breaking), a widening's A007
    (--deny-access-widening)."""
    found = []
    for change in plan.refusals:
        file, line = _where(change)
        if change.action is Action.DELETE:
            code, hint = "U001", "remove the references first, or keep the resource"
        elif change.breaking:
            code, hint = "B001", "keep the old contract working, or drop --deny-breaking"
        else:
            code, hint = "A007", ("widen access in a reviewed change of its own, or drop "
                                  "--deny-access-widening")
        found.append(Diagnostic(code, Severity.ERROR, change.refused or "refused", file, line,
                                str(change.key), None, hint))
    return found


def _where(change: Change) -> tuple[str | None, int | None]:
    for user in change.users:
        if user.location.file is not None:
            return user.location.file, user.location.line
    if change.source is not None:
        return change.source.file, change.source.line
    return None, None


# -- GitHub workflow commands ---------------------------------------------------------------

def github(findings: Iterable[Diagnostic], titles: Mapping[str, str],
           summary: str | None = None) -> str:
    """`::error file=…,line=…,title=…::message`, one line per finding (annotations on the
    pull request's files), then `summary` as a notice."""
    lines = []
    for d in findings:
        command = "error" if d.is_error else "warning"
        properties = []
        if d.file:
            properties.append(f"file={_property(_relative(d.file))}")
            if d.line:
                properties.append(f"line={d.line}")
        title = f"{d.code} {titles.get(d.code, '')}".strip()
        properties.append(f"title={_property(title)}")
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        lines.append(f"::{command} {','.join(properties)}::{_data(text)}")
    if summary:
        lines.append(f"::notice title=meshctl::{_data(summary)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


# -- JUnit XML --------------------------------------------------------------------------------

def junit(suite: str, cases: Iterable[tuple[str, str | None]],
          findings: Iterable[Diagnostic]) -> str:
    """One test case per resource (`cases`: its name and manifest file), failing with its
    errors; warnings go to the case's system-out. Findings about no resource (a file that
    cannot be parsed) get a case of their file, or of the mesh."""
    by_case: dict[str, list[Diagnostic]] = {}
    files: dict[str, str | None] = dict(cases)
    for d in findings:
        name = d.resource or (f"file {_relative(d.file)}" if d.file else "mesh")
        files.setdefault(name, d.file)
        by_case.setdefault(name, []).append(d)
    root = ET.Element("testsuites", name="meshctl")
    failures = sum(1 for name in files if any(d.is_error for d in by_case.get(name, [])))
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(files)),
                            failures=str(failures), errors="0", skipped="0")
    for name, file in files.items():
        kind = name.split("/", 1)[0] if "/" in name else name.split(" ", 1)[0]
        case = ET.SubElement(element, "testcase", name=name, classname=f"meshctl.{kind}")
        if file:
            case.set("file", _relative(file))
        found = by_case.get(name, [])
        errors = [d for d in found if d.is_error]
        if errors:
            failure = ET.SubElement(case, "failure", type=errors[0].code,
                                    message=errors[0].message)
            failure.text = "\n".join(_line(d) for d in errors)
        warnings = [d for d in found if not d.is_error]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(_line(d) for d in warnings)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _line(d: Diagnostic) -> str:
    where = f"{_relative(d.file)}:{d.line}: " if d.file and d.line else (
        f"{_relative(d.file)}: " if d.file else "")
    hint = f" (hint: {d.hint})" if d.hint else ""
    return f"{where}{d.severity.value} {d.code}: {d.message}{hint}"


# -- SARIF 2.1.0 --------------------------------------------------------------------------------

def sarif(findings: Iterable[Diagnostic], rules: Mapping[str, tuple[str, Severity]], *,
          version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one run: every rule meshctl has (id, title, default level), and
    a result per finding with its file and line relative to the repository root."""
    codes = sorted(rules)
    index = {code: number for number, code in enumerate(codes)}
    results = []
    for d in findings:
        result: dict[str, Any] = {
            "ruleId": d.code, "level": "error" if d.is_error else "warning",
            "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        if d.file:
            location: dict[str, Any] = {"artifactLocation": {
                "uri": _relative(d.file).replace(os.sep, "/"), "uriBaseId": "%SRCROOT%"}}
            if d.line:
                location["region"] = {"startLine": d.line}
            result["locations"] = [{"physicalLocation": location}]
        if d.resource:
            result["properties"] = {"resource": d.resource}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "meshctl", "version": version,
                "rules": [{"id": code, "name": code,
                           "shortDescription": {"text": rules[code][0]},
                           "help": {"text": f"docs/validation.md, section {code}"},
                           "defaultConfiguration": {
                               "level": "error" if rules[code][1] is Severity.ERROR
                               else "warning"}} for code in codes],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": _root_uri()}},
            "results": results,
        }],
    }


def _relative(file: str) -> str:
    """A path as the repository sees it: relative to the working directory when inside it."""
    if not os.path.isabs(file):
        return file
    try:
        relative = os.path.relpath(file)
    except ValueError:
        return file
    return file if relative.startswith("..") else relative


def _root_uri() -> str:
    return "file://" + os.getcwd().rstrip("/") + "/"
