"""Rules for the settings kinds (system config, context engineering, the integration fabric):
what the runtime would otherwise fail on, or silently do wrong, only once it runs.

Per resource, like the schema rules: the engine runs them where it parses and caches them.
The rules that need other resources (a retry policy of the integration config, the order of
the whole pipeline) are in `integration`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource
from reconciler.validate.rules import diagnostic

# The runtime's processors (`context_processor_pipeline.py`); another id is logged as
# "Unknown processor" and skipped.
BUILTIN_PROCESSORS = ("content_selector", "compaction_checker", "memory_retriever",
                      "artifact_resolver", "transformer", "token_budget_enforcer", "injector")

# The integration runner's step types; another type runs as a no-op that succeeds.
STEP_TYPES = ("rest_call", "security_transform", "audit_event", "failure_simulation")
STEP_NEEDS = {"rest_call": "connector", "security_transform": "policy"}
# What the runner does on a failed step; another value dead-letters it and runs on.
FAILURE_POLICIES = ("dead_letter", "skip", "pause_for_human")

# The system config settings the runtime reads with `int()`: each must be a whole number,
# and above zero (0 agent invocations blocks every agent; 0 retries never calls a tool).
SYSTEM_INTEGERS: dict[str, tuple[str, ...]] = {
    "orchestrator": ("max_iterations", "iteration_timeout_seconds"),
    "workflow": ("max_duration_seconds", "max_agent_invocations"),
    "agent": ("default_max_iterations", "default_iteration_timeout_seconds",
              "max_duplicate_invocations"),
    "llm": ("timeout_seconds", "max_retries", "max_tokens_per_request",
            "max_tokens_per_session"),
    "governance": ("max_tool_invocations_per_session", "max_llm_calls_per_session"),
    "safety": ("consecutive_no_progress_limit", "malformed_response_limit"),
    "schema": ("validation_failure_limit", "max_validation_sample_chars"),
}

# Elsewhere a setting named like a limit or a timeout must be above zero; a duration or a
# percentage must not be negative.
_POSITIVE = re.compile(r"timeout|_limit$|^max_|_threshold$|_attempts$|^retention_days$|"
                       r"batch_size$|interval_ms$|duration_ms$|ttl_ms$")
_NOT_NEGATIVE = re.compile(r"_seconds$|_ms$|_percentage$|_pct$|_days$|_kb$")
_WALKED = (Kind.CONTEXT_STRATEGIES, Kind.CONTEXT_PROCESSOR, Kind.INTEGRATION_CONFIG,
           Kind.CONNECTOR, Kind.INTEGRATION_WORKFLOW, Kind.AUTH_PROFILE)


def check_settings(resource: Resource) -> list[Diagnostic]:
    check = _CHECKS.get(resource.kind)
    found = check(resource) if check is not None else []
    if resource.kind in _WALKED:
        found += _check_numbers(resource, resource.entry, "")
    return found


def _system_config(resource: Resource) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for section, names in SYSTEM_INTEGERS.items():
        values = resource.entry.get(section)
        if not isinstance(values, dict):
            continue
        for name in names:
            if name not in values:
                continue
            value, path = values[name], f"{section}.{name}"
            if not _whole_number(value):
                found.append(diagnostic(
                    "C004", resource, path, f"{resource.key.describe()}: {path} is "
                    f"{value!r}, not a whole number (the runtime reads it with int())",
                    f"give {path} a whole number above zero"))
            elif int(value) <= 0:
                found.append(_not_positive(resource, path, value))
    return found


def _whole_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("+-").isdigit()


def _context_strategies(resource: Resource) -> list[Diagnostic]:
    compilation = resource.entry.get("context_compilation")
    budget = compilation.get("default_budget_allocation") if isinstance(
        compilation, dict) else None
    if not isinstance(budget, dict):
        return []
    shares = {name: value for name, value in budget.items() if name.endswith("_percentage")
              and isinstance(value, int | float) and not isinstance(value, bool)}
    total = sum(shares.values())
    if not shares or total == 100:
        return []
    path = "context_compilation.default_budget_allocation"
    parts = " + ".join(f"{name} {value:g}" for name, value in shares.items())
    return [diagnostic(
        "C003", resource, path, f"{resource.key.describe()}: the token budget shares add up "
        f"to {total:g}, not 100 ({parts})", "make the percentages add up to 100")]


def _context_processor(resource: Resource) -> list[Diagnostic]:
    if resource.name in BUILTIN_PROCESSORS:
        return []
    return [diagnostic(
        "C001", resource, "processor_id", f"{resource.key.describe()} is not one of the "
        f"runtime's processors: it logs 'Unknown processor' and skips it",
        f"use one of: {', '.join(BUILTIN_PROCESSORS)}")]


def _integration_config(resource: Resource) -> list[Diagnostic]:
    policies = resource.entry.get("retry_policies")
    if not isinstance(policies, list):
        return []
    found: list[Diagnostic] = []
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        policy_id = policy.get("policy_id") if isinstance(policy, dict) else None
        if not isinstance(policy_id, str):
            continue
        if policy_id in seen:
            found.append(diagnostic(
                "C007", resource, f"retry_policies[{index}].policy_id",
                f"{resource.key.describe()}: retry policy '{policy_id}' is defined twice "
                "(the runner takes the first)", "rename or remove one of them"))
        seen.add(policy_id)
    return found


def _integration_workflow(resource: Resource) -> list[Diagnostic]:
    steps = resource.entry.get("steps")
    if not isinstance(steps, list):
        return []
    found: list[Diagnostic] = []
    what = resource.key.describe()
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        where = f"steps[{index}]"
        name = step.get("id", index)
        step_type = step.get("type")
        if isinstance(step_type, str) and step_type not in STEP_TYPES:
            found.append(diagnostic(
                "C005", resource, f"{where}.type", f"{what}: step '{name}' has type "
                f"'{step_type}', which the runner does not know: it succeeds doing nothing",
                f"use one of: {', '.join(STEP_TYPES)}"))
        needed = STEP_NEEDS.get(step_type) if isinstance(step_type, str) else None
        if needed is not None and not isinstance(step.get(needed), str):
            found.append(diagnostic(
                "C006", resource, where, f"{what}: step '{name}' is a {step_type} without a "
                f"'{needed}': it fails every run", f"add '{needed}' to the step"))
        policy = step.get("failure_policy")
        if isinstance(policy, str) and policy not in FAILURE_POLICIES:
            found.append(diagnostic(
                "C005", resource, f"{where}.failure_policy", f"{what}: step '{name}' has "
                f"failure_policy '{policy}', which the runner does not know: a failure is "
                "dead-lettered and the run goes on", f"use one of: {', '.join(FAILURE_POLICIES)}"))
    return found


def _check_numbers(resource: Resource, value: Any, path: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for name, item, where in _members(value, path):
        if isinstance(item, dict | list):
            found += _check_numbers(resource, item, where)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            if _POSITIVE.search(name) and item <= 0:
                found.append(_not_positive(resource, where, item))
            elif _NOT_NEGATIVE.search(name) and item < 0:
                found.append(diagnostic(
                    "C004", resource, where, f"{resource.key.describe()}: {where} is "
                    f"{item!r}; it cannot be negative", f"set {where} to zero or more"))
    return found


def _members(value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield str(name), item, f"{path}.{name}" if path else str(name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield "", item, f"{path}[{index}]"


def _not_positive(resource: Resource, path: str, value: Any) -> Diagnostic:
    return diagnostic(
        "C004", resource, path, f"{resource.key.describe()}: {path} is {value!r}; a limit "
        "or timeout of zero or less stops the work it bounds", f"set {path} above zero")


_CHECKS: dict[Kind, Callable[[Resource], list[Diagnostic]]] = {
    Kind.SYSTEM_CONFIG: _system_config,
    Kind.CONTEXT_STRATEGIES: _context_strategies,
    Kind.CONTEXT_PROCESSOR: _context_processor,
    Kind.INTEGRATION_CONFIG: _integration_config,
    Kind.INTEGRATION_WORKFLOW: _integration_workflow,
}
