"""Wording shared by the renderers, so text and markdown say the same thing (and counts,
which every command prints through `count`)."""

from __future__ import annotations

from typing import Any

import orjson

from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.plan.model import AccessChange, Plan

MAX_VALUE = 80
# Both sides of a changed value at most this long: `old -> new`; else a word diff.
MAX_SIDE = 40


def json_text(data: Any) -> str:
    """A field value as compact JSON, whole."""
    return orjson.dumps(data).decode() if data is not None else "null"


def value(data: Any, limit: int = MAX_VALUE) -> str:
    """A field value as compact JSON, cut to `limit` characters (an added or removed value:
    the whole of it is the change, and `meshctl diff` shows it in full)."""
    text = json_text(data)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_short(before: str, after: str) -> bool:
    """Is `before -> after` short enough to show whole on one line?"""
    return len(before) <= MAX_SIDE and len(after) <= MAX_SIDE


def count(number: int, singular: str, plural: str | None = None) -> str:
    """`1 resource`, `2 resources`, `0 entries` (`plural` when adding an s is wrong): every
    count meshctl prints, so that none says "1 resources"."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def noun(number: int, kind: Kind) -> str:
    info = kinds.info(kind)
    return count(number, info.label, info.plural.replace("-", " "))  # "2 auth profiles"


def dependents(number: int) -> str:
    return count(number, "dependent")


def summary_line(plan: Plan) -> str:
    s = plan.summary
    line = (f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete, "
            f"{s.refused} refused.")
    by_kind = plan.impact_by_kind()
    if by_kind:
        detail = ", ".join(noun(n, kind) for kind, n in by_kind.items())
        line += f" Impact: {dependents(s.impacted)} ({detail})."
    if plan.access_changes:
        widened = sum(1 for granted in plan.access_changes if granted.widens)
        line += (f" Access: {widened} widened, {len(plan.access_changes) - widened} "
                 "narrowed.")
    return line


def access_line(granted: AccessChange) -> str:
    """`orchestrator_agent may now invoke history_agent: <the deciding rule> (file:line)`."""
    where = f" ({granted.rule})" if granted.rule is not None and granted.rule.file else ""
    return f"{granted.sentence()}: {granted.reason}{where}"
