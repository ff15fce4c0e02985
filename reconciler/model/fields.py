"""What the AgentMesh runtime requires of each entry, and what is written when a field is left
out: the one definition every part of meshctl asks (validation, plan, apply, the library,
the REST API, the panel's forms, export's field order).

The runtime validates each entry with its own models and silently skips one that does not
fit, so "valid" here means "the runtime loads it". Each field is one of:

- REQUIRED: the runtime needs it and nothing supplies it; a manifest or request must give it.
- DEFAULTED: the runtime needs it; when left out, meshctl writes the upstream REST API's
  default (the runtime itself has none), so every entry written is complete.
- OPTIONAL: the runtime reads it when present, and supplies its own default otherwise. Nothing
  is written for it; its `default` (the API's) or `absent` is what the runtime takes its
  absence to mean, so the plan sees an omitted field and that value as no change.

So a live entry the runtime loads has every field `complete` would add: an export of it reads
back as exactly the same entry.

Plain data with no pydantic: the plan and the live-registry check use it on every run.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass
from typing import Any

from reconciler.model.kinds import Kind


class Need(enum.StrEnum):
    REQUIRED = "required"
    DEFAULTED = "defaulted"
    OPTIONAL = "optional"


class JsonType(enum.StrEnum):
    """The JSON shape a field must have for the runtime's model to accept it."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING_LIST = "list of strings"
    OBJECT = "object"
    OBJECT_OR_NULL = "object or null"
    OBJECT_LIST = "list of objects"
    ANY = "any"


class _Missing:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _Missing()


@dataclass(frozen=True, slots=True)
class FieldRule:
    name: str
    type: JsonType
    need: Need
    default: Any = NO_DEFAULT  # the API's default: written when a DEFAULTED field is left out
    absent: Any = NO_DEFAULT  # what the runtime takes a missing OPTIONAL field to mean
    minimum: int | None = None
    maximum: int | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def runtime_required(self) -> bool:
        return self.need is not Need.OPTIONAL

    @property
    def missing_means(self) -> Any:
        """The value an omitted OPTIONAL field stands for (NO_DEFAULT: none)."""
        return self.default if self.absent is NO_DEFAULT else self.absent


_R, _D, _O = Need.REQUIRED, Need.DEFAULTED, Need.OPTIONAL
_S, _I, _B, _N = JsonType.STRING, JsonType.INTEGER, JsonType.BOOLEAN, JsonType.NUMBER
_SL, _OB, _ON, _OL = (JsonType.STRING_LIST, JsonType.OBJECT, JsonType.OBJECT_OR_NULL,
                      JsonType.OBJECT_LIST)

FIELDS: dict[Kind, tuple[FieldRule, ...]] = {
    Kind.MODEL_PROFILE: (
        FieldRule("profile_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("provider", _S, _R),
        FieldRule("model_name", _S, _R),
        FieldRule("intended_usage", _S, _R),
        FieldRule("parameters", _OB, _D, {}),
        FieldRule("json_mode", _B, _D, False),
        FieldRule("constraints", _OB, _D, {}),
        FieldRule("retry_policy", _OB, _D, {}),
        FieldRule("timeout_seconds", _I, _D, 30, minimum=5, maximum=300),
    ),
    Kind.TOOL: (
        FieldRule("tool_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("endpoint", _S, _R),
        FieldRule("input_schema", _OB, _R),
        FieldRule("output_schema", _OB, _R),
        FieldRule("lineage_tags", _SL, _D, []),
    ),
    Kind.AGENT: (
        FieldRule("agent_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("capabilities", _SL, _R),
        FieldRule("allowed_tools", _SL, _O, []),
        FieldRule("allowed_agents", _SL, _O, absent=[]),
        FieldRule("model_profile_id", _S, _R),
        FieldRule("max_iterations", _I, _D, 10, minimum=1, maximum=50),
        FieldRule("iteration_timeout_seconds", _I, _D, 60, minimum=10, maximum=300),
        FieldRule("input_schema", _ON, _O, None),
        FieldRule("output_schema", _OB, _R),
        FieldRule("context_requirements", _OB, _D, {}),
    ),
    Kind.WORKFLOW: (
        FieldRule("workflow_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("version", _S, _D, "1.0.0"),
        FieldRule("mode", _S, _D, "advisory"),
        FieldRule("goal", _S, _O, absent=""),
        FieldRule("steps", _OL, _D, []),
        FieldRule("suggested_sequence", _SL, _O, []),
        FieldRule("required_agents", _SL, _O, []),
        FieldRule("optional_agents", _SL, _O, []),
        FieldRule("completion_criteria", _OB, _O, {}),
        FieldRule("constraints", _OB, _O, {}),
        FieldRule("metadata", _OB, _D, {}),
        FieldRule("hitl_checkpoints", _OL, _O, []),
    ),
    # One policy of the governance document: a free-form body the runtime does not model
    # field by field (the document's own `version` and `policies` are the file's header).
    Kind.GOVERNANCE_POLICY: (
        FieldRule("description", _S, _O, absent=""),
        FieldRule("enforcement_level", _S, _O, absent="strict"),
    ),
    # The one-document kinds. Upstream's system-config API models require the first seven
    # sections (its GET answers 500 without one), the rest default to {}; the integration
    # fabric requires `version` and `retry_policies` (without them it drops the whole
    # config for an empty one). Context strategies: the runtime reads every key with a
    # default.
    Kind.SYSTEM_CONFIG: (
        FieldRule("version", _S, _R),
        FieldRule("orchestrator", _OB, _R),
        FieldRule("workflow", _OB, _R),
        FieldRule("agent", _OB, _R),
        FieldRule("llm", _OB, _R),
        FieldRule("governance", _OB, _R),
        FieldRule("safety", _OB, _R),
        FieldRule("schema", _OB, _O, absent={}),
        FieldRule("context_engineering", _OB, _O, absent={}),
        FieldRule("compaction", _OB, _O, absent={}),
        FieldRule("memory", _OB, _O, absent={}),
        FieldRule("artifacts", _OB, _O, absent={}),
    ),
    Kind.CONTEXT_STRATEGIES: (
        FieldRule("version", _S, _D, "1.0.0"),
        FieldRule("context_compilation", _OB, _O, absent={}),
        FieldRule("compaction", _OB, _O, absent={}),
        FieldRule("memory_layer", _OB, _O, absent={}),
        FieldRule("artifact_management", _OB, _O, absent={}),
        FieldRule("prefix_caching", _OB, _O, absent={}),
    ),
    Kind.CONTEXT_PROCESSOR: (
        FieldRule("processor_id", _S, _R),
        FieldRule("name", _S, _O, absent=""),
        FieldRule("enabled", _B, _O, absent=True),
        FieldRule("order", _I, _O, absent=999),
        FieldRule("config", _OB, _O, absent={}),
    ),
    Kind.AUTH_PROFILE: (
        FieldRule("profile_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("type", _S, _R),
        FieldRule("config", _OB, _R),
        FieldRule("tenant_limits", _OL, _O, absent=[]),
    ),
    Kind.SECURITY_POLICY: (
        FieldRule("policy_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("rules", _OL, _R),
    ),
    Kind.INTEGRATION_CONFIG: (
        FieldRule("version", _S, _R),
        FieldRule("retry_policies", _OL, _R),
        FieldRule("features", _OB, _O, absent={}),
        FieldRule("throughput_limits", _ON, _O, absent=None),
        FieldRule("circuit_breaker_defaults", _ON, _O, absent=None),
        FieldRule("event_channel_policies", _OB, _O, absent={}),
        FieldRule("observability", _ON, _O, absent=None),
        FieldRule("idempotency", _ON, _O, absent=None),
    ),
    Kind.CONNECTOR: (
        FieldRule("connector_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("type", _S, _R),
        FieldRule("base_url", _S, _R),
        FieldRule("auth_profile", _S, _O, absent=None),
        FieldRule("timeout_ms", _I, _O, absent=5000, minimum=1),
        FieldRule("supports_idempotency", _B, _O, absent=False),
        FieldRule("simulator_profile", _S, _O, absent=None),
        FieldRule("tags", _SL, _O, absent=[]),
        FieldRule("scaling", _ON, _O, absent=None),
        FieldRule("retry_policy_id", _S, _O, absent=None),
        FieldRule("circuit_breaker", _ON, _O, absent=None),
        FieldRule("region_affinity", _ON, _O, absent=None),
    ),
    Kind.INTEGRATION_WORKFLOW: (
        FieldRule("workflow_id", _S, _R),
        FieldRule("name", _S, _R),
        FieldRule("description", _S, _R),
        FieldRule("version", _S, _R),
        FieldRule("trigger", _S, _R),
        FieldRule("priority", _S, _O, absent=None),
        FieldRule("sla", _ON, _O, absent=None),
        FieldRule("throughput", _ON, _O, absent=None),
        FieldRule("steps", _OL, _R),
        FieldRule("metadata", _OB, _O, absent={}),
    ),
}

# The items of a list field the runtime models one by one: an item missing one of these (or
# of the wrong type) fails the whole entry, as a missing field of the entry would.
ITEM_FIELDS: dict[Kind, dict[str, tuple[FieldRule, ...]]] = {
    Kind.AUTH_PROFILE: {"tenant_limits": (
        FieldRule("tenant_id", _S, _R),
        FieldRule("qps_limit", _I, _O), FieldRule("burst_limit", _I, _O),
        FieldRule("priority_override", _S, _O))},
    Kind.SECURITY_POLICY: {"rules": (FieldRule("field", _S, _R), FieldRule("action", _S, _R))},
    Kind.INTEGRATION_CONFIG: {"retry_policies": (
        FieldRule("policy_id", _S, _R), FieldRule("max_attempts", _I, _R),
        FieldRule("backoff_seconds", _N, _R))},
    Kind.INTEGRATION_WORKFLOW: {"steps": (
        FieldRule("id", _S, _R), FieldRule("type", _S, _R),
        FieldRule("connector", _S, _O), FieldRule("operation", _S, _O),
        FieldRule("policy", _S, _O), FieldRule("idempotency", _B, _O),
        FieldRule("retry_policy", _S, _O), FieldRule("failure_policy", _S, _O),
        FieldRule("metadata", _OB, _O))},
}

WORKFLOW_MODES = ("advisory", "strict")

_BY_NAME: dict[Kind, dict[str, FieldRule]] = {
    kind: {rule.name: rule for rule in rules} for kind, rules in FIELDS.items()}


def rules(kind: Kind) -> tuple[FieldRule, ...]:
    return FIELDS[kind]


def rule(kind: Kind, name: str) -> FieldRule | None:
    return _BY_NAME[kind].get(name)


def names(kind: Kind) -> tuple[str, ...]:
    """The kind's fields in the registry's own order (export and `fmt` write specs so)."""
    return tuple(_BY_NAME[kind])


def complete(kind: Kind, entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with every omitted DEFAULTED field written out with its default (after the
    fields given, in the registry's order): what meshctl writes, so the runtime finds each
    field it requires. The same object when nothing is missing."""
    missing = [r for r in FIELDS[kind] if r.need is Need.DEFAULTED and r.name not in entry]
    if not missing:
        return entry
    filled = dict(entry)
    for item in missing:
        filled[item.name] = copy.deepcopy(item.default)
    return filled


# What an omitted OPTIONAL field means, per kind: the plan compares entries with these filled.
ABSENT_MEANS: dict[Kind, dict[str, Any]] = {
    kind: {r.name: r.missing_means for r in rules_ if r.need is Need.OPTIONAL
           and r.missing_means is not NO_DEFAULT}
    for kind, rules_ in FIELDS.items()}


def type_problem(field_type: JsonType, value: Any) -> bool:
    """Does `value` fail the runtime's (lax) check for `field_type`?"""
    if field_type is JsonType.ANY:
        return False
    if field_type is JsonType.STRING:
        return not isinstance(value, str)
    if field_type is JsonType.INTEGER:
        if isinstance(value, bool):
            return True
        if isinstance(value, int):
            return False
        if isinstance(value, float):
            return not value.is_integer()
        return not (isinstance(value, str) and value.strip().lstrip("+-").isdigit())
    if field_type is JsonType.NUMBER:
        return isinstance(value, bool) or not isinstance(value, int | float)
    if field_type is JsonType.BOOLEAN:
        return not isinstance(value, bool)
    if field_type is JsonType.STRING_LIST:
        return not (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if field_type is JsonType.OBJECT:
        return not isinstance(value, dict)
    if field_type is JsonType.OBJECT_OR_NULL:
        return not (value is None or isinstance(value, dict))
    return not (isinstance(value, list) and all(isinstance(v, dict) for v in value))


def unloadable(kind: Kind, entry: dict[str, Any]) -> list[str]:
    """Why the runtime would skip this entry (a field missing or of the wrong type), in
    field order; empty when it loads it. Cheap: run over every live entry on each read."""
    problems = _unfit(FIELDS[kind], entry, "")
    for list_name, item_rules in ITEM_FIELDS.get(kind, {}).items():
        items = entry.get(list_name)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    problems += _unfit(item_rules, item, f"{list_name}[{index}].")
    return problems


def _unfit(rules_: tuple[FieldRule, ...], entry: dict[str, Any], prefix: str) -> list[str]:
    problems: list[str] = []
    for item in rules_:
        if item.name not in entry:
            if item.runtime_required:
                problems.append(f"'{prefix}{item.name}' is missing")
        elif type_problem(item.type, entry[item.name]) and not (
                item.need is Need.OPTIONAL and entry[item.name] is None):
            problems.append(f"'{prefix}{item.name}' is not {_article(item.type)}")
    return problems


def _article(field_type: JsonType) -> str:
    text = field_type.value
    return f"an {text}" if text[0] in "aeio" else f"a {text}"
