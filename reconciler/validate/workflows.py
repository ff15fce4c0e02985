"""Workflow rules: step transitions, prior outputs, reachability and termination.

A step's `on_success` / `on_failure` names another step or a terminal outcome. Where a step
has no `on_success` it continues with the next step in sequence order (the last one
completes); where it has no `on_failure` the workflow ends with `terminate_with_error`.
The first step in sequence order is where a run starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.errors import Diagnostic, did_you_mean
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource
from reconciler.validate.rules import diagnostic

TERMINAL_OUTCOMES = ("complete", "complete_with_warning", "terminate_with_error")
TRANSITIONS = ("on_success", "on_failure")


def check_workflow(resource: Resource) -> list[Diagnostic]:
    if resource.kind is not Kind.WORKFLOW or not isinstance(resource.entry.get("steps"), list):
        return []
    steps = [(index, step) for index, step in enumerate(resource.entry["steps"])
             if isinstance(step, dict) and isinstance(step.get("step_id"), str)]
    found: list[Diagnostic] = []
    first_index: dict[str, int] = {}
    for index, step in steps:
        step_id = step["step_id"]
        if step_id in first_index:
            found.append(diagnostic(
                "W005", resource, f"steps[{index}].step_id",
                f"{resource.key.describe()}: step_id '{step_id}' is used twice "
                f"(steps[{first_index[step_id]}] and steps[{index}])",
                "give every step its own step_id"))
        else:
            first_index[step_id] = index
    ordered = sorted(steps, key=lambda item: (sequence_of(item[1], item[0]), item[0]))
    # A step_id used twice (W005) stands for its first definition, as everywhere else here.
    position: dict[str, int] = {}
    next_of: dict[str, str] = {}
    for rank, (index, step) in enumerate(ordered):
        if first_index[step["step_id"]] == index:
            position[step["step_id"]] = rank
            next_of[step["step_id"]] = (ordered[rank + 1][1]["step_id"]
                                        if rank + 1 < len(ordered) else "complete")
    edges: dict[str, list[str]] = {}
    for index, step in steps:
        step_id = step["step_id"]
        targets = edges.setdefault(step_id, [])
        for transition in TRANSITIONS:
            target = step.get(transition)
            if target is None:
                targets.append(next_of[step_id] if transition == "on_success"
                               else "terminate_with_error")
            elif isinstance(target, str):
                if target in first_index or target in TERMINAL_OUTCOMES:
                    targets.append(target)
                else:
                    choices = [*first_index, *TERMINAL_OUTCOMES]
                    found.append(diagnostic(
                        "W001", resource, f"steps[{index}].{transition}",
                        f"{resource.key.describe()}: step '{step_id}' {transition} goes to "
                        f"'{target}', which is neither a step nor a terminal outcome",
                        f"{did_you_mean(target, choices)}use a step_id of this workflow or "
                        f"one of {', '.join(TERMINAL_OUTCOMES)}"))
        found.extend(_check_prior_outputs(resource, index, step, position))
    found.extend(_check_reachability(resource, ordered, edges, first_index))
    return found


def sequence_of(step: dict[str, Any], index: int) -> float:
    """Where a step runs: its `sequence`, else its place in the list."""
    sequence = step.get("sequence")
    return sequence if isinstance(sequence, int | float) and not isinstance(sequence, bool) \
        else float(index)


def _check_prior_outputs(resource: Resource, index: int, step: dict[str, Any],
                         position: dict[str, int]) -> Iterable[Diagnostic]:
    compilation = step.get("context_compilation")
    priors = compilation.get("include_prior_outputs") if isinstance(compilation, dict) else None
    if not isinstance(priors, list):
        return
    step_id = step["step_id"]
    for number, prior in enumerate(priors):
        path = f"steps[{index}].context_compilation.include_prior_outputs[{number}]"
        if not isinstance(prior, str):
            continue
        if prior not in position:
            yield diagnostic(
                "W002", resource, path,
                f"{resource.key.describe()}: step '{step_id}' includes the output of "
                f"'{prior}', which is not a step of this workflow",
                f"{did_you_mean(prior, position)}name an earlier step's step_id")
        elif position[prior] >= position[step_id]:
            yield diagnostic(
                "W002", resource, path,
                f"{resource.key.describe()}: step '{step_id}' includes the output of "
                f"'{prior}', which does not run before it",
                "only steps earlier in sequence have output to include")


def _check_reachability(resource: Resource, ordered: list[tuple[int, dict[str, Any]]],
                        edges: dict[str, list[str]],
                        first_index: dict[str, int]) -> Iterable[Diagnostic]:
    if not ordered:
        return
    reached = _reach([ordered[0][1]["step_id"]], edges)
    for index, step in ordered:
        step_id = step["step_id"]
        if step_id not in reached and first_index[step_id] == index:
            yield diagnostic(
                "W004", resource, f"steps[{index}]",
                f"{resource.key.describe()}: step '{step_id}' is never reached from the "
                f"first step '{ordered[0][1]['step_id']}'",
                "point an on_success or on_failure at it, or remove it")
    for index, step in ordered:
        step_id = step["step_id"]
        if first_index[step_id] != index:
            continue
        if not any(target in TERMINAL_OUTCOMES for target in _reach([step_id], edges)):
            yield diagnostic(
                "W003", resource, f"steps[{index}]",
                f"{resource.key.describe()}: from step '{step_id}' no path reaches a terminal "
                f"outcome ({', '.join(TERMINAL_OUTCOMES)}); the workflow can loop forever",
                "let some step in the loop go to a terminal outcome")


def _reach(start: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen = set(start)
    pending = list(start)
    while pending:
        for target in edges.get(pending.pop(), []):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen
