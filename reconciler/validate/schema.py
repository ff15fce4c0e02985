"""Schema rules for one resource: required fields, types, bounds, id format, unknown fields,
and that every embedded JSON Schema is a valid Draft 7 schema.

Runs per resource with no view of the rest of the mesh, so the engine can run it in worker
processes and cache its result with the parsed file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from pydantic import ValidationError

from reconciler.errors import Diagnostic, did_you_mean
from reconciler.model import ids, kinds, specs
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource
from reconciler.validate.rules import diagnostic

RUNTIME_FIELDS = ("last_updated",)  # written by the runtime on save; never a typo
_TYPE_ERRORS_AS_BOUNDS = ("greater_than", "less_than", "too_short", "too_long")


def check_resource(resource: Resource) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    found.extend(_check_id(resource))
    found.extend(_check_model(resource))
    found.extend(_check_unknown_fields(resource))
    found.extend(_check_json_schemas(resource))
    found.extend(_check_provider(resource))
    return found


def _check_id(resource: Resource) -> Iterable[Diagnostic]:
    problem = ids.id_problem(resource.name)
    if problem is not None:
        label = kinds.info(resource.kind).label
        yield diagnostic("S004", resource, kinds.info(resource.kind).id_field,
                         f"{label} id {resource.name!r} {problem}",
                         "use letters, digits, '_', '-' and '.' (at most 128, no leading dot)")


def _check_model(resource: Resource) -> Iterable[Diagnostic]:
    model = specs.SPEC_MODELS[resource.kind]
    try:
        model.model_validate(resource.entry)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            yield _from_pydantic(resource, item)


def _from_pydantic(resource: Resource, item: Any) -> Diagnostic:
    path = _path(item["loc"])
    kind_of_error: str = item["type"]
    what = resource.key.describe()
    if kind_of_error == "missing":
        return diagnostic("S001", resource, path, f"{what} is missing required field '{path}'",
                          f"add '{path}' to the spec")
    if kind_of_error == "literal_error":
        return diagnostic("S007", resource, path, f"{what}: {path}: {item['msg']}",
                          "use one of the allowed values")
    if kind_of_error.startswith(_TYPE_ERRORS_AS_BOUNDS):
        return diagnostic("S003", resource, path,
                          f"{what}: {path} = {item.get('input')!r}: {item['msg']}",
                          "use a value within the bounds")
    return diagnostic("S002", resource, path,
                      f"{what}: {path}: {item['msg']} (got {_describe(item.get('input'))})",
                      "write the value with the type the registry expects")


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check_provider(resource: Resource) -> Iterable[Diagnostic]:
    """A model profile's provider must be one the runtime has a client for: it loads the
    profile whatever it says, then fails every agent run on it ("Unknown LLM provider")."""
    provider = resource.entry.get("provider") if resource.kind is Kind.MODEL_PROFILE else None
    if isinstance(provider, str) and provider.lower() not in specs.LLM_PROVIDERS:
        known = " or ".join(specs.LLM_PROVIDERS)
        yield diagnostic("S007", resource, "provider",
                         f"{resource.key.describe()}: provider {provider!r} is not one the "
                         f"runtime has a client for ({known}): agents on this profile would "
                         "fail to run",
                         f"{did_you_mean(provider.lower(), specs.LLM_PROVIDERS)}use {known} "
                         "(any case)")


def _check_unknown_fields(resource: Resource) -> Iterable[Diagnostic]:
    if resource.kind is Kind.GOVERNANCE_POLICY:
        return  # a policy's rules are free-form by design
    model = specs.SPEC_MODELS[resource.kind]
    yield from _unknown(resource, resource.entry, specs.known_fields(model), "")
    for field_name, nested in specs.NESTED_MODELS.get(resource.kind, {}).items():
        items = resource.entry.get(field_name)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    yield from _unknown(resource, item, specs.known_fields(nested),
                                        f"{field_name}[{index}].")


def _unknown(resource: Resource, entry: dict[str, Any], known: tuple[str, ...],
             prefix: str) -> Iterable[Diagnostic]:
    for name in entry:
        if name not in known and not name.startswith("_") and name not in RUNTIME_FIELDS:
            yield diagnostic(
                "S006", resource, prefix + name,
                f"{resource.key.describe()}: unknown field '{prefix}{name}' (kept as is)",
                f"{did_you_mean(name, known)}keys starting with '_' are comments and never warn")


def _check_json_schemas(resource: Resource) -> Iterable[Diagnostic]:
    for field_name in kinds.SCHEMA_FIELDS.get(resource.kind, ()):
        schema = resource.entry.get(field_name)
        if not isinstance(schema, dict):
            continue  # absent, or a type error the model check reports
        problem = schema_problem(schema)
        if problem is not None:
            where, message = problem
            path = f"{field_name}.{where}" if where else field_name
            yield diagnostic("S005", resource, path,
                             f"{resource.key.describe()}: {path} is not a valid Draft 7 JSON "
                             f"Schema: {message}", "fix the schema (https://json-schema.org)")


def schema_problem(schema: dict[str, Any]) -> tuple[str, str] | None:
    """(path inside the schema, message) when `schema` is not valid Draft 7, else None.

    `jsonschema.Draft7Validator.check_schema` is the judge and writes the message, but it
    costs ~0.6 ms a schema, and a large mesh has tens of thousands. So valid schemas are
    cleared first by `_meta_valid`, and only the rest go to jsonschema.
    """
    if _meta_valid(schema):
        return None
    import jsonschema  # (only now: its import is a tenth of a small plan's time)

    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        return ".".join(str(part) for part in error.path), error.message
    except RecursionError:
        return "", "nested too deeply to check"
    return None


# The Draft 7 meta-schema checks subschemas only through `{"$ref": "#"}` at these keywords.
_ONE_SUBSCHEMA = ("additionalItems", "items", "contains", "additionalProperties",
                  "propertyNames", "if", "then", "else", "not")
_SUBSCHEMA_LISTS = ("items", "allOf", "anyOf", "oneOf")
_SUBSCHEMA_MAPS = ("definitions", "properties", "patternProperties", "dependencies")
_MAX_VERDICTS = 200_000
_verdicts: dict[bytes, bool] = {}
_shallow_check: Callable[[Any], Any] | None = None


def _meta_valid(schema: Any) -> bool:
    """Draft 7 validity, node by node, each distinct node judged once per process.

    Every node is checked against a copy of the meta-schema whose `{"$ref": "#"}` accept any
    object or boolean (compiled by fastjsonschema, `use_default=False` so it never writes into
    our data), then its subschemas the same way. That is exactly what the meta-schema's
    recursion checks; and since schemas repeat the same small nodes (`{"type": "string"}`),
    most nodes are answered from `_verdicts` at the cost of one serialization.
    """
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    try:
        key: bytes | None = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        key = None
    if key is not None and key in _verdicts:
        return _verdicts[key]
    verdict = _shallow_valid(schema) and all(_meta_valid(sub) for sub in _subschemas(schema))
    if key is not None:
        if len(_verdicts) >= _MAX_VERDICTS:  # bound memory in long-lived processes
            _verdicts.clear()
        _verdicts[key] = verdict
    return verdict


def _subschemas(schema: dict[str, Any]) -> Iterator[Any]:
    for name in _ONE_SUBSCHEMA:
        value = schema.get(name)
        if isinstance(value, dict | bool):
            yield value
    for name in _SUBSCHEMA_LISTS:
        value = schema.get(name)
        if isinstance(value, list):
            yield from value
    for name in _SUBSCHEMA_MAPS:
        value = schema.get(name)
        if isinstance(value, dict):
            yield from (item for item in value.values() if isinstance(item, dict | bool))


def _shallow_valid(schema: dict[str, Any]) -> bool:
    global _shallow_check
    if _shallow_check is None:
        import fastjsonschema

        _shallow_check = fastjsonschema.compile(_shallow(_draft7_meta_schema()),
                                                use_default=False)
    try:
        _shallow_check(schema)
    except Exception:  # any doubt goes to the reference implementation
        return False
    return True


def _draft7_meta_schema() -> Any:
    """The Draft 7 meta-schema, read from the file jsonschema itself reads it from
    (`jsonschema_specifications`) without importing jsonschema; else from jsonschema."""
    found = importlib.util.find_spec("jsonschema_specifications")
    for folder in (found.submodule_search_locations or []) if found else []:
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            path = os.path.join(folder, "schemas", "draft7", "metaschema.json")
            with open(path, "rb") as handle:
                return orjson.loads(handle.read())
    import jsonschema

    return jsonschema.Draft7Validator.META_SCHEMA


def _shallow(meta: Any) -> Any:
    """The meta-schema with every recursion into itself replaced by "any object or boolean"."""
    if isinstance(meta, dict):
        if meta.get("$ref") == "#":
            return {"type": ["object", "boolean"]}
        return {key: _shallow(value) for key, value in meta.items()}
    if isinstance(meta, list):
        return [_shallow(item) for item in meta]
    return meta
