"""`meshctl access`: what the runtime's governance lets an agent do, before it runs
(`kubectl auth can-i` for a mesh). Judged by the one access model (`reconciler.access`)
on the manifests (as applying them would leave the mesh) or, with --live, on the store."""

from __future__ import annotations

from typing import Any

import click
import orjson
from rich.markup import escape
from rich.table import Table

from reconciler import access, engine
from reconciler.access import Decision, Verb
from reconciler.cli import environment, options, report
from reconciler.errors import MeshctlError
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.plan.render import common

EXIT_ALLOWED, EXIT_DENIED, EXIT_TROUBLE = 0, 1, 2  # `check`: as `meshctl diff` separates


def _source_options(func: Any) -> Any:
    func = click.option("--live", is_flag=True,
                        help="Judge the live registries (the store) instead of the "
                             "manifests.")(func)
    func = options.store_option(func)
    return click.option("-f", "--manifests", "paths", multiple=True, metavar="PATH",
                        help="Manifest files or folders (repeatable; default "
                             "$MESHCTL_MANIFESTS or ./manifests).")(func)


@click.group("access")
def access_group() -> None:
    """What governance lets each agent do at runtime: invoke an agent, use a tool.

    AgentMesh's governance denies by default: an agent's allowed_tools and the
    orchestrator's allowed_agents are what it asks for; the rules of the policies
    agent_tool_access and agent_invocation_access are what it gets (docs/access.md).

    \b
    Examples:
      meshctl access check fraud_agent use similarity
      meshctl access list --differs
    """


@access_group.command("check")
@click.argument("subject")
@click.argument("verb", type=click.Choice([verb.value for verb in Verb]))
@click.argument("target", metavar="OBJECT")
@_source_options
@options.output_option("text", "json")
@environment.environment_options
def check(subject: str, verb: str, target: str, paths: tuple[str, ...], location: str,
          live: bool, output: str) -> None:
    """May SUBJECT invoke (an agent) or use (a tool) OBJECT at runtime? Says which rule
    decides (its file:line), or that the default denies.

    \b
    Examples:
      meshctl access check orchestrator_agent invoke fraud_agent
      meshctl access check fraud_agent use similarity
      meshctl access check fraud_agent use policy_snapshot --live -o json

    Exit: 0 allowed, 1 denied, 2 error (an unknown name, unreadable manifests or
    registries).
    """
    action = Verb(verb)
    try:
        view = _view(paths, location, live)
        _known(view.state, Kind.AGENT, subject)
        _known(view.state, action.object_kind, target)
    except MeshctlError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(EXIT_TROUBLE) from error
    decision = view.governance.decide(subject, action, target)
    agent = view.state.get(ResourceKey(Kind.AGENT, subject))
    asked = target in access.asked(agent, action)
    if output == "json":
        click.echo(orjson.dumps(access.to_dict(decision, view.state, asked),
                                option=orjson.OPT_INDENT_2).decode())
    else:
        out = report.console()
        verdict = "[green]yes[/]" if decision.allowed else "[red]no[/]"
        may = "may" if decision.allowed else "may not"
        out.print(f"{verdict}: {escape(subject)} {may} {action.value} {escape(target)}")
        out.print(f"  {escape(decision.reason())}{escape(_where(decision, view.state))}")
        if not asked and action is Verb.USE:
            out.print(f"  note: {escape(subject)} does not list {escape(target)} in "
                      "allowed_tools, so the runtime does not offer it the tool")
        elif not asked and subject == kinds.ORCHESTRATOR_ID:
            out.print(f"  note: the orchestrator does not list {escape(target)} in "
                      "allowed_agents, so the runtime does not offer it the agent")
        elif action is Verb.INVOKE and subject != kinds.ORCHESTRATOR_ID:
            out.print("  note: only the orchestrator invokes agents at runtime")
    raise click.exceptions.Exit(EXIT_ALLOWED if decision.allowed else EXIT_DENIED)


@access_group.command("list")
@click.option("--as", "subject", metavar="AGENT", help="One agent's access only.")
@click.option("--differs", is_flag=True,
              help="Only where what an agent asks for and what it gets differ.")
@_source_options
@options.output_option("table", "json")
@environment.environment_options
def list_command(subject: str | None, differs: bool, paths: tuple[str, ...], location: str,
                 live: bool, output: str) -> None:
    """The access matrix: for each agent, each tool (and, for the orchestrator, each
    agent) it asks for and each one governance grants it, with the rule that decides.
    `!` marks a difference: asked for but denied (every such call fails at runtime), or
    granted but not asked for.

    \b
    Examples:
      meshctl access list
      meshctl access list --as fraud_agent
      meshctl access list --differs --live -o json

    Exit: 0 listed, 2 error (an unknown agent, unreadable manifests or registries).
    """
    try:
        view = _view(paths, location, live)
        if subject is not None:
            _known(view.state, Kind.AGENT, subject)
    except MeshctlError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(EXIT_TROUBLE) from error
    rows = [row for row in access.matrix(view.state, view.governance, subject)
            if row.differs or not differs]
    if output == "json":
        click.echo(orjson.dumps({
            "source": view.source, "governed": view.governance.governed,
            "rows": [access.to_dict(row.decision, view.state, row.asked) for row in rows],
        }, option=orjson.OPT_INDENT_2).decode())
        return
    out = report.console()
    if not view.governance.governed:
        out.print("No governance is loaded: the runtime allows every call.")
    table = Table(box=None, pad_edge=False)
    for column in ("", "AGENT", "VERB", "OBJECT", "ASKS", "GETS", "DECIDED BY"):
        table.add_column(column)
    for row in rows:
        table.add_row("[red]![/]" if row.differs else "", escape(row.subject), row.verb.value,
                      escape(row.object), "yes" if row.asked else "no",
                      "[green]allowed[/]" if row.decision.allowed else "[red]denied[/]",
                      escape(_decided_by(row.decision, view.state)))
    out.print(table)
    denied = sum(1 for row in rows if row.asked and not row.decision.allowed)
    out.print(f"{common.count(len(rows), 'row')}; {denied} asked for and denied")


def _view(paths: tuple[str, ...], location: str, live: bool) -> engine.AccessView:
    if live and paths:
        raise click.UsageError("--live judges the store: give no --manifests with it")
    store = options.open_store(location) if live else _store_if_any(location)
    view = engine.access_view(None if live else options.manifest_paths(paths), store)
    if view.diagnostics:
        report.print_diagnostics(report.console(stderr=True), view.diagnostics)
        raise MeshctlError(f"the {view.source} could not be read (see above)")
    return view


def _store_if_any(location: str) -> Any:
    """The store, when it can be opened: the manifests view keeps the live governance
    when no manifest declares any (a plan leaves it as it is)."""
    try:
        return options.open_store(location)
    except MeshctlError:
        return None


def _known(state: MeshState, kind: Kind, name: str) -> None:
    problem = access.unknown(state, kind, name)
    if problem is not None:
        raise MeshctlError(problem)


def _where(decision: Decision, state: MeshState) -> str:
    if decision.rule is None:
        return ""
    return access.written_at(state, decision.rule.policy, decision.rule.path)


def _decided_by(decision: Decision, state: MeshState) -> str:
    if decision.rule is None:
        return "no governance" if decision.basis is access.Basis.NO_GOVERNANCE else "default"
    return f"{decision.rule.path}{_where(decision, state)}"  # the verb names the policy
