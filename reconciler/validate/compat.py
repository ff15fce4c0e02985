"""Breaking changes: is a new JSON Schema still good for the callers of the old one?

Direction matters. An *input* schema (what callers send a tool or an agent) breaks callers
when it accepts less: a property made required or removed, a type narrowed, an enum value
removed, `additionalProperties` closed, bounds tightened, a pattern added or changed. An
*output* schema (what callers read back) breaks them when it promises less: a property
removed or no longer required, a type widened, an enum value added, bounds loosened.
Everything else (a new optional input, a new output property, a description) is compatible.

The rules compare the keywords people use for tool contracts (type, properties, required,
enum, additionalProperties, items, bounds, pattern) and descend into properties and items;
a change they cannot judge (`$ref`, `oneOf`, ...) is not called breaking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from reconciler.model.kinds import SCHEMA_FIELDS, Kind
from reconciler.validate.workflows import sequence_of

Direction = Literal["input", "output"]
DIRECTION: dict[str, Direction] = {"input_schema": "input", "output_schema": "output"}

_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_NUMERIC = ("integer", "number")


def breaking_changes(kind: Kind, before: dict[str, Any], after: dict[str, Any]
                     ) -> list[tuple[str, str]]:
    """(field, reason) for every breaking change between two entries' schemas."""
    found: list[tuple[str, str]] = []
    for name in SCHEMA_FIELDS.get(kind, ()):
        old, new = before.get(name), after.get(name)
        if old == new or not isinstance(old, dict):
            continue  # unchanged, or no contract before (any new one is a first promise)
        found += [(name, reason) for reason in
                  schema_breaks(old, new if isinstance(new, dict) else {}, DIRECTION[name])]
    return found


def schema_breaks(old: dict[str, Any], new: dict[str, Any], direction: Direction,
                  path: str = "") -> list[str]:
    """Why `new` breaks the callers of `old`, reading it as `direction`."""
    where = f" at {path}" if path else ""
    found: list[str] = []
    old_types, new_types = _types(old), _types(new)
    if direction == "input":
        lost = old_types - new_types
        if lost and not _integer_widened(old_types, new_types):
            found.append(f"type narrowed{where}: {_names(old_types)} -> {_names(new_types)}")
    else:
        gained = new_types - old_types
        if gained and not (old_types >= {"number"} and gained <= {"integer"}):
            found.append(f"type widened{where}: {_names(old_types)} -> {_names(new_types)}")
    found += _enum(old, new, direction, where)
    found += _object(old, new, direction, path, where)
    found += _bounds(old, new, direction, where)
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        found += schema_breaks(old_items, new_items, direction, f"{path}[]")
    return found


def _object(old: dict[str, Any], new: dict[str, Any], direction: Direction, path: str,
            where: str) -> list[str]:
    found: list[str] = []
    old_props = _mapping(old.get("properties"))
    new_props = _mapping(new.get("properties"))
    old_required = set(_strings(old.get("required")))
    new_required = set(_strings(new.get("required")))
    for name in sorted(set(old_props) - set(new_props)):
        found.append(f"property '{_join(path, name)}' removed")
    if direction == "input":
        for name in sorted(new_required - old_required):
            found.append(f"property '{_join(path, name)}' made required")
        if old.get("additionalProperties", True) is not False and \
                new.get("additionalProperties", True) is False:
            found.append(f"additionalProperties closed{where}")
    else:
        for name in sorted((old_required - new_required) & set(new_props)):
            found.append(f"property '{_join(path, name)}' no longer required")
    for name in sorted(set(old_props) & set(new_props)):
        old_prop, new_prop = old_props[name], new_props[name]
        if isinstance(old_prop, dict) and isinstance(new_prop, dict) and old_prop != new_prop:
            found += schema_breaks(old_prop, new_prop, direction, _join(path, name))
    return found


def _enum(old: dict[str, Any], new: dict[str, Any], direction: Direction,
          where: str) -> list[str]:
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if direction == "input":
        if isinstance(new_enum, list) and not isinstance(old_enum, list):
            return [f"values limited to an enum{where}"]
        if isinstance(old_enum, list) and isinstance(new_enum, list):
            removed = [v for v in old_enum if v not in new_enum]
            if removed:
                return [f"{_values(removed)} removed{where}: {', '.join(map(repr, removed))}"]
        return []
    if isinstance(old_enum, list) and not isinstance(new_enum, list):
        return [f"enum dropped{where}: any value may come back"]
    if isinstance(old_enum, list) and isinstance(new_enum, list):
        added = [v for v in new_enum if v not in old_enum]
        if added:
            return [f"{_values(added)} added{where}: {', '.join(map(repr, added))}"]
    return []


def _bounds(old: dict[str, Any], new: dict[str, Any], direction: Direction,
            where: str) -> list[str]:
    found: list[str] = []
    for keyword in (*_LOWER, *_UPPER):
        before, after = _number(old.get(keyword)), _number(new.get(keyword))
        if before == after:
            continue
        lower = keyword in _LOWER
        if before is None:  # a bound added: tighter for inputs, a new promise for outputs
            tighter = True
        elif after is None:
            tighter = False
        else:
            tighter = after > before if lower else after < before
        if tighter and direction == "input":
            found.append(f"{keyword} tightened{where}: {before} -> {after}")
        elif not tighter and direction == "output":
            found.append(f"{keyword} loosened{where}: {before} -> {after}")
    if direction == "input" and new.get("pattern") not in (None, old.get("pattern")):
        found.append(f"pattern {'changed' if 'pattern' in old else 'added'}{where}")
    return found


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _types(schema: dict[str, Any]) -> set[str]:
    value = schema.get("type")
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return {"any"}  # no type: anything


def _integer_widened(old: set[str], new: set[str]) -> bool:
    """`integer` -> `number` accepts more, and `any` accepts everything."""
    return "any" in new or (old - new <= {"integer"} and "number" in new)


def _names(types: set[str]) -> str:
    return "|".join(sorted(types))


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def step_inputs_unmet(workflow: dict[str, Any],
                      agent: Callable[[str], dict[str, Any] | None]) -> set[tuple[str, str]]:
    """(step_id, property) for each property a step's agent requires as input that no
    earlier step's agent declares in its output (steps in sequence order; the first
    step's inputs come from the caller)."""
    steps = [step for step in workflow.get("steps") or [] if isinstance(step, dict)]
    ordered = sorted(enumerate(steps), key=lambda item: (sequence_of(item[1], item[0]), item[0]))
    provided: set[str] = set()
    unmet: set[tuple[str, str]] = set()
    for rank, (_, step) in enumerate(ordered):
        entry = agent(str(step.get("agent_id")))
        if entry is None:
            continue
        if rank > 0:
            schema = entry.get("input_schema")
            required = _strings(schema.get("required")) if isinstance(schema, dict) else []
            unmet.update((str(step.get("step_id")), name) for name in required
                         if name not in provided)
        output = entry.get("output_schema")
        props = output.get("properties") if isinstance(output, dict) else None
        if isinstance(props, dict):
            provided.update(props)
    return unmet


def _values(values: list[Any]) -> str:
    return "enum value" if len(values) == 1 else "enum values"
