"""The user documentation stays in step with the code.

- every rule code in `RULES` has a row (code, severity, title) and a section in
  docs/validation.md, and the page documents no code that does not exist;
- every command of the `meshctl` group is mentioned in README.md, and its help has examples;
- every example manifest in docs/manifests.md shows every field of its kind and passes the
  per-resource rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from reconciler import validate
from reconciler.cli import cli
from reconciler.manifests import loader
from reconciler.model import kinds, specs
from reconciler.model.kinds import Kind
from reconciler.validate.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
VALIDATION_MD = ROOT / "docs" / "validation.md"
MANIFESTS_MD = ROOT / "docs" / "manifests.md"
README_MD = ROOT / "README.md"

_RULE_ROW = re.compile(r"^\| `([A-Z]\d{3})` \| (\w+) \| (.+?) \|$", re.MULTILINE)
_EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```yaml\n(.*?)```", re.DOTALL)


def _rule_rows() -> dict[str, tuple[str, str]]:
    return {code: (severity, title)
            for code, severity, title in _RULE_ROW.findall(VALIDATION_MD.read_text())}


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_is_in_the_table(code: str) -> None:
    rows = _rule_rows()
    assert code in rows, f"docs/validation.md: no table row for rule {code}"
    rule = RULES[code]
    assert rows[code] == (rule.severity.value, rule.title), (
        f"docs/validation.md: row of {code} says {rows[code]}, "
        f"RULES says {(rule.severity.value, rule.title)}")


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_has_a_section(code: str) -> None:
    headings = re.findall(r"^### ([A-Z]\d{3})\b", VALIDATION_MD.read_text(), re.MULTILINE)
    assert code in headings, f"docs/validation.md: no '### {code}' section"


def test_no_documented_rule_is_unknown() -> None:
    text = VALIDATION_MD.read_text()
    documented = set(_rule_rows()) | set(re.findall(r"^### ([A-Z]\d{3})\b", text, re.MULTILINE))
    assert documented - set(RULES) == set(), "docs/validation.md documents codes RULES lacks"


def _commands() -> list[str]:
    assert isinstance(cli, click.Group)
    return sorted(cli.all_commands())


@pytest.mark.parametrize("name", _commands())
def test_command_is_in_the_readme(name: str) -> None:
    assert f"meshctl {name}" in README_MD.read_text(), f"README.md never mentions `meshctl {name}`"


@pytest.mark.parametrize("name", _commands())
def test_command_help_has_examples(name: str) -> None:
    command = cli.all_commands()[name]
    with click.Context(cli, info_name="meshctl") as parent:
        with click.Context(command, info_name=name, parent=parent) as ctx:
            text = command.get_help(ctx)
    assert "Examples" in text, f"`meshctl {name} --help` shows no Examples"


def _examples() -> dict[str, str]:
    return dict(_EXAMPLE.findall(MANIFESTS_MD.read_text()))


@pytest.mark.parametrize("kind", [kind.value for kind in Kind])
def test_manifests_doc_shows_every_field(kind: str) -> None:
    example = _examples().get(kind)
    assert example is not None, f"docs/manifests.md: no '<!-- example: {kind} -->' block"
    result = loader.parse_manifest(example.encode(), file=f"docs/manifests.md ({kind})")
    assert [d.message for d in result.diagnostics] == []
    [resource] = result.resources
    model = specs.SPEC_MODELS[Kind(kind)]
    missing = [name for name in specs.known_fields(model) if name not in resource.entry]
    assert missing == [], f"the {kind} example lacks {missing}"
    for field_name, nested in specs.NESTED_MODELS.get(Kind(kind), {}).items():
        shown = {key for item in resource.entry[field_name] for key in item}
        missing = [name for name in nested.model_fields if name not in shown]
        assert missing == [], f"the {kind} example's {field_name} lack {missing}"
    text = MANIFESTS_MD.read_text()
    for name in (*specs.known_fields(model), kinds.info(Kind(kind)).id_field or "description"):
        assert f"| `{name}` |" in text, f"docs/manifests.md: no table row for {kind} {name}"


@pytest.mark.parametrize("kind", [kind.value for kind in Kind])
def test_manifests_doc_example_is_valid(kind: str) -> None:
    example = _examples()[kind]
    result = loader.parse_manifest(example.encode(), file=f"docs/manifests.md ({kind})")
    found = [d for resource in result.resources for d in validate.check_resource(resource)]
    assert [f"{d.code} {d.message}" for d in found] == []


def test_every_public_registry_manager_method_is_documented() -> None:
    from reconciler.library import RegistryManager

    text = (ROOT / "docs" / "library.md").read_text()
    public = [name for name in vars(RegistryManager) if not name.startswith("_")
              and callable(getattr(RegistryManager, name))]
    assert len(public) > 25
    missing = [name for name in public if f"{name}(" not in text and f"`{name}`" not in text]
    assert missing == [], f"docs/library.md does not mention {missing}"


def test_the_public_names_are_exported_and_resolve() -> None:
    import reconciler

    assert sorted(reconciler.__all__) == sorted(reconciler._EXPORTS)
    for name in reconciler.__all__:
        assert getattr(reconciler, name) is not None
