"""The plan as a terminal reads it, Terraform-style: `+` create, `~` update (each field
`old -> new`), `-` delete, `!` refused. Rich markup carries colour; the CLI strips it when
the output is not a terminal."""

from __future__ import annotations

from rich.markup import escape

from reconciler.plan.model import Action, Change, FieldOp, Plan
from reconciler.plan.render import common

STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
MAX_IMPACT_NAMES = 8


def render(plan: Plan) -> str:
    lines: list[str] = []
    changes = plan.actionable
    if not changes:
        lines.append("[green]No changes.[/] The live registries match the manifests.")
    else:
        lines.append("meshctl will perform the following actions:")
        lines.append("")
        for change in changes:
            lines.extend(_change(change))
        lines.append("")
    for warning in plan.warnings:
        lines.append(f"[yellow]warning[/] {escape(warning.location)} {warning.code}: "
                     f"{escape(warning.message)}")
    lines.append(f"[bold]{escape(common.summary_line(plan))}[/]")
    return "\n".join(lines) + "\n"


def _change(change: Change) -> list[str]:
    where = f"  [dim]{escape(str(change.source))}[/]" if change.source else ""
    if change.is_refused:
        return [f"  [bold red]![/] [bold]{escape(str(change.key))}[/] "
                f"[red]{escape(change.refused or '')}[/]"]
    style = STYLE[change.action]
    lines = [f"  [{style}]{change.action.symbol}[/] [bold]{escape(str(change.key))}[/]{where}"]
    for field in change.fields:
        if field.op is FieldOp.ADD:
            lines.append(f"      [green]+[/] {escape(field.path)}: "
                         f"{escape(common.value(field.new))}")
        elif field.op is FieldOp.REMOVE:
            lines.append(f"      [red]-[/] {escape(field.path)}: "
                         f"{escape(common.value(field.old))}")
        else:
            lines.append(f"      [yellow]~[/] {escape(field.path)}: "
                         f"{escape(common.value(field.old, 40))} -> "
                         f"{escape(common.value(field.new, 40))}")
    for reason in change.breaking:
        lines.append(f"      [bold yellow]breaking:[/] {escape(reason)}")
    if change.impact:
        names = ", ".join(str(key) for key in change.impact[:MAX_IMPACT_NAMES])
        more = len(change.impact) - MAX_IMPACT_NAMES
        lines.append(f"      [dim]impact: {common.dependents(len(change.impact))}: {escape(names)}"
                     f"{f' and {more} more' if more > 0 else ''}[/]")
    return lines
