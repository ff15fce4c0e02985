"""`model.fields` is the one definition of what the runtime requires; the pydantic models,
the plan's comparison and docs/manifests.md follow it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from reconciler.model import entrydiff, fields, kinds, specs
from reconciler.model.fields import Need
from reconciler.model.kinds import Kind

MANIFESTS_MD = Path(__file__).parent.parent / "docs" / "manifests.md"


@pytest.mark.parametrize("kind", list(Kind))
def test_the_models_are_the_table(kind: Kind) -> None:
    model = specs.SPEC_MODELS[kind]
    assert specs.known_fields(model) == fields.names(kind)
    by_json_name = {info.alias or name: info for name, info in model.model_fields.items()}
    for rule in fields.rules(kind):
        info = by_json_name[rule.name]
        if rule.need is Need.REQUIRED:
            assert info.is_required(), rule.name
            continue
        expected = rule.default if rule.has_default else rule.missing_means
        default = info.get_default(call_default_factory=True)
        assert default is not PydanticUndefined and default == expected, rule.name
        assert type(default) is type(expected), rule.name


def test_complete_writes_defaults_after_the_given_fields_and_keeps_the_rest() -> None:
    entry = {"agent_id": "a", "_comment": "kept", "name": "A", "custom": 1}
    filled = fields.complete(Kind.AGENT, entry)
    assert list(filled)[:4] == ["agent_id", "_comment", "name", "custom"]
    assert {k: filled[k] for k in list(filled)[4:]} == {
        "max_iterations": 10, "iteration_timeout_seconds": 60, "context_requirements": {}}
    assert entry == {"agent_id": "a", "_comment": "kept", "name": "A", "custom": 1}
    assert fields.complete(Kind.AGENT, filled) is filled
    one, two = fields.complete(Kind.AGENT, {}), fields.complete(Kind.AGENT, {})
    assert one["context_requirements"] is not two["context_requirements"]  # never shared


def test_an_omitted_optional_field_and_its_meaning_are_no_change() -> None:
    live = {"agent_id": "a", "name": "A"}  # as the real orchestrator: no allowed_tools
    assert entrydiff.field_changes(Kind.AGENT, live, fields.complete(Kind.AGENT, live)) != []
    given = {**live, "max_iterations": 10, "iteration_timeout_seconds": 60,
             "context_requirements": {}}
    assert entrydiff.field_changes(Kind.AGENT, given, fields.complete(Kind.AGENT, given)) == []
    assert entrydiff.field_changes(Kind.AGENT, {**given, "allowed_agents": []}, given) == []


@pytest.mark.parametrize(("value", "bad"), [
    (5, False), ("5", False), (5.0, False), (5.5, True), (True, True), (None, True)])
def test_integer_fields_are_judged_as_the_runtime_judges_them(value: object, bad: bool) -> None:
    assert fields.type_problem(fields.JsonType.INTEGER, value) is bad


def _cell(rule: fields.FieldRule) -> str:
    if rule.need is Need.REQUIRED:
        return "**required**"
    if rule.need is Need.DEFAULTED:
        return f"required; `{json.dumps(rule.default)}` written when omitted"
    return f"optional; omitted means `{json.dumps(rule.missing_means)}`"


@pytest.mark.parametrize("kind", list(Kind))
def test_docs_say_what_the_table_says(kind: Kind) -> None:
    text = MANIFESTS_MD.read_text()
    section = text[text.index(f"### {kind.value}\n"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    for rule in fields.rules(kind):
        if rule.name == kinds.info(kind).id_field:
            continue  # "from `metadata.name`"
        row = re.search(rf"^\| `{rule.name}` \| [^|]+ \| ([^|]+) \|", section, re.MULTILINE)
        assert row is not None, f"docs/manifests.md: no row for {kind.value}.{rule.name}"
        assert row.group(1).strip() == _cell(rule), f"{kind.value}.{rule.name}"

