"""A plan as a client shows it before committing it: each resource it changes with its
coloured diff's text, the fields it changes, the dependents it touches and any refusal,
and the token that commits exactly this plan. The History page's restore and revert and
every save of the panel (`POST /registries/changes` with `dry_run`) answer it alike."""

from __future__ import annotations

from typing import Any

from reconciler.api.shown_paths import ShownPaths
from reconciler.plan import planfile
from reconciler.plan.model import Change, Plan
from reconciler.plan.render import jsondiff


def shown_change(change: Change) -> dict[str, Any]:
    """One resource's change: its diff (before and after as indented JSON), the fields,
    the resources that depend on it (`dependents`: what the change may touch) and why it
    is refused or breaks its callers, if it does."""
    kind, name = change.key.kind.value, change.key.name
    return {"kind": kind, "name": name, "action": change.action.value,
            "refused": change.refused, "fields": [f.path for f in change.fields],
            "dependents": [{"kind": key.kind.value, "name": key.name} for key in change.impact],
            "breaking": list(change.breaking),
            "diff": jsondiff.json_diff(change.before, change.after, f"before/{kind}/{name}",
                                       f"after/{kind}/{name}")}


def refusals_of(plan: Plan) -> str:
    """What a plan refuses, with its breaking changes' findings, which name the callers."""
    found = [c.refused or "" for c in plan.refusals]
    found += [d.message for d in plan.warnings if d.code.startswith("B")]
    return "; ".join(found)


def plan_answer(plan: Plan, paths: ShownPaths) -> dict[str, Any]:
    """The plan's token (its live fingerprint: If-Match of the commit), whether it can be
    committed (no refusals) and why not, each change shown, and the plan JSON (warnings
    and access changes included)."""
    refused = refusals_of(plan) if plan.refusals else ""
    return {"token": plan.live_fingerprint, "committable": not plan.refusals,
            "detail": paths.text(f"the plan holds refusals: {refused}") if refused else None,
            "changes": [_shown(shown_change(c), paths) for c in plan.actionable],
            "plan": paths.plan(planfile.to_dict(plan))}


def _shown(change: dict[str, Any], paths: ShownPaths) -> dict[str, Any]:
    """A change's own words (its refusal, what it breaks) without the server's folders."""
    return {**change, "refused": paths.text(change["refused"]),
            "breaking": [paths.text(text) for text in change["breaking"]]}
