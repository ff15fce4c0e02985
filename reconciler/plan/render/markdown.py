"""The plan as a pull-request comment: a summary table and collapsible details.

Code hosts cap comments near 65,536 characters, so the result stays under `LIMIT` whatever
the plan's size: the summary, the refusals and the deletes come first and are kept as long
as they fit; updates and creates are detailed while room remains; whatever is cut is
counted, with a pointer to the full plan (`meshctl plan -o json`).
"""

from __future__ import annotations

from reconciler.plan.model import Action, Change, FieldOp, Plan
from reconciler.plan.render import common, worddiff

LIMIT = 60_000
RESERVE = 600  # room kept for the closing note on what was left out
MAX_WARNINGS = 20
MAX_ACCESS = 50  # access changes listed in full (the JSON plan has them all)


def render(plan: Plan, limit: int = LIMIT, title: str = "meshctl plan") -> str:
    s = plan.summary
    head = [
        f"### {title}",
        "",
        "| create | update | delete | refused | impacted |",
        "|---:|---:|---:|---:|---:|",
        f"| {s.create} | {s.update} | {s.delete} | {s.refused} | {s.impacted} |",
        "",
        common.summary_line(plan),
        "",
    ]
    if not s.has_changes:
        head.append("No changes: the live registries match the manifests.")
    out = "\n".join(head) + "\n"
    budget = limit - RESERVE
    left_out = 0
    if plan.access_changes:
        block = "".join(f"- `{'+' if granted.widens else '-'}` "
                        f"{_md(common.access_line(granted))}\n"
                        for granted in plan.access_changes[:MAX_ACCESS])
        if len(plan.access_changes) > MAX_ACCESS:
            block += f"- … and {len(plan.access_changes) - MAX_ACCESS} more\n"
        block = f"#### Access changes ({len(plan.access_changes)})\n\n{block}\n"
        if len(out) + len(block) <= budget:
            out += block
    sections = [
        ("Refused", [c for c in plan.changes if c.is_refused], _refusal, False),
        ("Deletes", [c for c in plan.changes if c.action is Action.DELETE and not c.is_refused],
         _line, False),
        ("Updates", [c for c in plan.changes if c.action is Action.UPDATE], _update, True),
        ("Creates", [c for c in plan.changes if c.action is Action.CREATE], _line, True),
    ]
    for title, changes, render_one, collapsible in sections:
        if not changes:
            continue
        opening = (f"<details><summary>{title} ({len(changes)})</summary>\n\n" if collapsible
                   else f"#### {title} ({len(changes)})\n\n")
        closing = "\n</details>\n\n" if collapsible else "\n"
        if len(out) + len(opening) + len(closing) > budget:
            left_out += len(changes)
            continue
        out += opening
        for number, change in enumerate(changes):
            block = render_one(change)
            if len(out) + len(block) + len(closing) > budget:
                left_out += len(changes) - number
                out += f"- … and {len(changes) - number} more\n"
                break
            out += block
        out += closing
    if plan.warnings:
        shown = plan.warnings[:MAX_WARNINGS]
        block = "".join(f"- `{_md(w.location)}` {w.code}: {_md(w.message)}\n" for w in shown)
        if len(plan.warnings) > len(shown):
            block += f"- … and {len(plan.warnings) - len(shown)} more\n"
        block = f"#### Warnings ({len(plan.warnings)})\n\n{block}\n"
        if len(out) + len(block) <= limit - RESERVE // 2:
            out += block
    if left_out:
        out += (f"> {common.count(left_out, 'change')} left out to stay under {limit:,} "
                "characters; "
                "run `meshctl plan -o json` for the full plan.\n")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _line(change: Change) -> str:
    where = f" — `{change.source}`" if change.source else ""
    return f"- `{change.action.symbol}` `{change.key}`{_md(where)}\n"


def _refusal(change: Change) -> str:
    return f"- `!` `{change.key}`: {_md(change.refused or '')}\n"


def _update(change: Change) -> str:
    lines = [_line(change).rstrip("\n")]
    for field in change.fields:
        if field.op is FieldOp.ADD:
            lines.append(f"  - `+ {_md(field.path)}`: `{_md(common.value(field.new))}`")
        elif field.op is FieldOp.REMOVE:
            lines.append(f"  - `- {_md(field.path)}`: `{_md(common.value(field.old))}`")
        else:
            lines.append(f"  - `~ {_md(field.path)}`: {_changed(field.old, field.new)}")
    for reason in change.breaking:
        lines.append(f"  - **breaking**: {_md(reason)}")
    if change.impact:
        lines.append(f"  - impact: {common.dependents(len(change.impact))}")
    return "\n".join(lines) + "\n"


def _changed(old: object, new: object) -> str:
    """`old` → `new` when both are short, else a word diff (`[-deleted-]{+inserted+}`, as
    `git diff --word-diff` writes it) that never cuts a change."""
    before, after = common.json_text(old), common.json_text(new)
    if common.is_short(before, after):
        return f"`{_md(before)}` → `{_md(after)}`"
    return f"`{_md(worddiff.markers(worddiff.diff(before, after)))}`"
