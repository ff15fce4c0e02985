"""The plan as a terminal reads it, Terraform-style: `+` create, `~` update (each field
`old -> new`, or a word diff when that is long), `-` delete, `!` refused. Rich markup carries
colour; the CLI strips it when the output is not a terminal, and says so (`colour`) so that
a word diff marks its changes with `[-…-]{+…+}` instead of red and green."""

from __future__ import annotations

import re

from rich.markup import escape

from reconciler.plan.model import Action, Change, FieldOp, Plan
from reconciler.plan.render import common, worddiff

STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
MAX_IMPACT_NAMES = 8
MAX_ACCESS_LINES = 200  # a first apply of a large mesh grants every ask: the JSON has all
# A word diff's changes in colour: struck and underlined too, so a changed space shows.
PIECE_STYLE = {worddiff.Part.SAME: "none", worddiff.Part.DELETED: "red strike",
               worddiff.Part.INSERTED: "green underline", worddiff.Part.ELIDED: "dim"}


def render(plan: Plan, *, colour: bool = False) -> str:
    """The plan as rich markup; `colour`: will the styles be seen (else word diffs carry
    markers)."""
    lines: list[str] = []
    changes = plan.actionable
    if not changes:
        lines.append("[green]No changes.[/] The live registries match the manifests.")
    else:
        lines.append("meshctl will perform the following actions:")
        lines.append("")
        for change in changes:
            lines.extend(_change(change, colour))
        lines.append("")
    if plan.access_changes:
        lines.append("Access changes (what agents may do at runtime):")
        for granted in plan.access_changes[:MAX_ACCESS_LINES]:
            sign = "[green]+[/]" if granted.widens else "[red]-[/]"
            lines.append(f"  {sign} {literal(common.access_line(granted))}")
        more = len(plan.access_changes) - MAX_ACCESS_LINES
        if more > 0:
            lines.append(f"  ... and {common.count(more, 'more access change')} "
                         "(meshctl plan -o json lists them all)")
        lines.append("")
    for warning in plan.warnings:
        lines.append(f"[yellow]warning[/] {literal(warning.location)} {warning.code}: "
                     f"{literal(warning.message)}")
    lines.append(f"[bold]{literal(common.summary_line(plan))}[/]")
    return "\n".join(lines) + "\n"


def _change(change: Change, colour: bool) -> list[str]:
    where = f"  [dim]{literal(str(change.source))}[/]" if change.source else ""
    if change.is_refused:
        return [f"  [bold red]![/] [bold]{literal(str(change.key))}[/] "
                f"[red]{literal(change.refused or '')}[/]"]
    style = STYLE[change.action]
    lines = [f"  [{style}]{change.action.symbol}[/] [bold]{literal(str(change.key))}[/]{where}"]
    for field in change.fields:
        if field.op is FieldOp.ADD:
            lines.append(f"      [green]+[/] {literal(field.path)}: "
                         f"{literal(common.value(field.new))}")
        elif field.op is FieldOp.REMOVE:
            lines.append(f"      [red]-[/] {literal(field.path)}: "
                         f"{literal(common.value(field.old))}")
        else:
            lines.append(f"      [yellow]~[/] {literal(field.path)}: "
                         f"{_changed(field.old, field.new, colour)}")
    for reason in change.breaking:
        lines.append(f"      [bold yellow]breaking:[/] {literal(reason)}")
    if change.impact:
        names = ", ".join(str(key) for key in change.impact[:MAX_IMPACT_NAMES])
        more = len(change.impact) - MAX_IMPACT_NAMES
        lines.append(f"      [dim]impact: {common.dependents(len(change.impact))}: {literal(names)}"
                     f"{f' and {more} more' if more > 0 else ''}[/]")
    return lines


def _changed(old: object, new: object, colour: bool) -> str:
    """`old -> new` when both are short, else a word diff that never cuts a change."""
    before, after = common.json_text(old), common.json_text(new)
    if common.is_short(before, after):
        return f"{literal(before)} -> {literal(after)}"
    pieces = worddiff.diff(before, after)
    if not colour:
        return literal(worddiff.markers(pieces))
    return "".join(_styled(PIECE_STYLE[p.part],
                           worddiff.ELLIPSIS if p.part is worddiff.Part.ELIDED else p.text)
                   for p in pieces)


def _styled(style: str, text: str) -> str:
    """`text` in `style`, printed literally: rich reads the backslashes right before a tag as
    escapes, so a trailing run of them is doubled (`escape` leaves an even run as it is)."""
    body = text.rstrip("\\")
    backslashes = "\\" * 2 * (len(text) - len(body))
    return f"[{style}]{literal(body)}{backslashes}[/]"


# Backslashes right before a `[` that rich's `escape` leaves alone (not tag-like).
_BEFORE_BRACKET = re.compile(r"(\\+)(?=\[)(?!\[[a-z#/@][^\[]*?\])")


def literal(text: str) -> str:
    """`text` as markup that prints exactly `text`. rich's `escape` covers tag-like
    brackets; rich also eats a backslash before any other `[`, so one more is added there."""
    return escape(_BEFORE_BRACKET.sub(lambda found: found.group(1) + "\\", text))
