"""The panel's forms, derived from the registry models: one field per model field, with
its control (text, number, checkbox, list, picker of existing ids, JSON editor), whether it
is required, and its bounds. Which fields name other resources is the graph module's table
(`graph.FIELD_REFERENCES`), so a form's pickers are the references validation checks."""

from __future__ import annotations

from typing import Any

from reconciler import graph
from reconciler.model import specs
from reconciler.model.kinds import Kind

# Fields holding ids of other resources: (kind of the target, many?)
PICKERS: dict[Kind, dict[str, tuple[Kind, bool]]] = {
    kind: {ref.field: (ref.target, ref.many) for ref in refs}
    for kind, refs in graph.FIELD_REFERENCES.items()
}
LONG_TEXT = ("description", "intended_usage", "goal")


def form_fields(kind: Kind) -> list[dict[str, Any]]:
    schema = specs.SPEC_MODELS[kind].model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema["properties"].items():
        picker = PICKERS.get(kind, {}).get(name)
        types = {option.get("type") for option in prop.get("anyOf", [prop])}
        field: dict[str, Any] = {"name": name, "label": prop.get("title", name),
                                 "required": name in required}
        if picker is not None:
            field.update(control="multi" if picker[1] else "picker", of=picker[0].value)
        elif "object" in types or (prop.get("type") == "array" and
                                   prop.get("items", {}).get("type") != "string"):
            field.update(control="json", nullable="null" in types,
                         empty=[] if prop.get("type") == "array" else {})
        elif prop.get("type") == "array":
            field.update(control="list")
        elif "integer" in types:
            field.update(control="number", minimum=prop.get("minimum"),
                         maximum=prop.get("maximum"), default=prop.get("default"))
        elif "boolean" in types:
            field.update(control="bool", default=prop.get("default", False))
        elif "enum" in prop:
            field.update(control="choice", choices=prop["enum"], default=prop.get("default"))
        else:
            field.update(control="textarea" if name in LONG_TEXT else "text")
        fields.append(field)
    return fields
