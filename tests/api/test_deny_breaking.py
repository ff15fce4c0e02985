"""`serve --deny-breaking` judges a REST write by the same breaking-change rules as a plan:
a write that makes a tool's input stricter is refused (409, B001, naming the callers), and
nothing is written; without the flag it is a warning and the write goes through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server


def stricter_fraud_rules(registries: Path) -> dict[str, Any]:
    tools = json.loads((registries / "tool_registry.json").read_text())["tools"]
    entry: dict[str, Any] = next(t for t in tools if t["tool_id"] == "fraud_rules")
    entry["input_schema"] = {**entry["input_schema"],
                             "required": [*entry["input_schema"].get("required", []),
                                          "rule_version"]}
    return entry


@pytest.mark.parametrize("deny", [True, False])
def test_a_breaking_api_write_is_judged_as_a_plan(registries: Path, deny: bool) -> None:
    server = Server(registries, *(["--deny-breaking"] if deny else []))
    before = (registries / "tool_registry.json").read_bytes()
    try:
        with server.client() as api:
            answer = api.put("/registries/tools/fraud_rules", json=stricter_fraud_rules(
                registries))
    finally:
        server.stop()
    if deny:
        assert answer.status_code == 409, answer.text
        body = answer.json()
        assert body["codes"] == ["B001"]
        assert "input_schema" in body["detail"] and "fraud_agent" in body["detail"]
        assert (registries / "tool_registry.json").read_bytes() == before
        audit = (registries / ".meshctl" / "audit.jsonl").read_text().splitlines()
        assert json.loads(audit[-1])["result"] == "refused"
    else:
        assert answer.status_code == 200, answer.text
        assert "rule_version" in (registries / "tool_registry.json").read_text()
