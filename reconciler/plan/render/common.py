"""Wording shared by the renderers, so text and markdown say the same thing."""

from __future__ import annotations

from typing import Any

import orjson

from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.plan.model import Plan

MAX_VALUE = 80


def value(data: Any, limit: int = MAX_VALUE) -> str:
    """A field value as compact JSON, cut to `limit` characters."""
    text = orjson.dumps(data).decode() if data is not None else "null"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def noun(count: int, kind: Kind) -> str:
    label = kinds.info(kind).label
    if count == 1:
        return f"1 {label}"
    return f"{count} {kinds.info(kind).plural.replace('-', ' ')}"  # "2 auth profiles"


def dependents(count: int) -> str:
    return f"{count} dependent{'' if count == 1 else 's'}"


def summary_line(plan: Plan) -> str:
    s = plan.summary
    line = (f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete, "
            f"{s.refused} refused.")
    by_kind = plan.impact_by_kind()
    if by_kind:
        detail = ", ".join(noun(n, kind) for kind, n in by_kind.items())
        line += f" Impact: {s.impacted} dependent{'s' if s.impacted != 1 else ''} ({detail})."
    return line
