"""`meshctl get`: what the live registries hold, as a table, JSON or manifests."""

from __future__ import annotations

from typing import Any

import click
import orjson
from rich.table import Table

from reconciler.cli import environment, options, report
from reconciler.errors import UsageError, did_you_mean
from reconciler.manifests import export as exporter
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource

COLUMNS: dict[Kind, tuple[tuple[str, str], ...]] = {
    Kind.AGENT: (("MODEL", "model_profile_id"), ("TOOLS", "allowed_tools"),
                 ("AGENTS", "allowed_agents"), ("MAX_ITER", "max_iterations")),
    Kind.TOOL: (("ENDPOINT", "endpoint"), ("TAGS", "lineage_tags")),
    Kind.MODEL_PROFILE: (("PROVIDER", "provider"), ("MODEL", "model_name"),
                         ("TIMEOUT", "timeout_seconds")),
    Kind.WORKFLOW: (("MODE", "mode"), ("STEPS", "steps"), ("VERSION", "version")),
    Kind.GOVERNANCE_POLICY: (("ENFORCEMENT", "enforcement_level"),
                             ("DESCRIPTION", "description")),
    Kind.SYSTEM_CONFIG: (("VERSION", "version"),),
    Kind.CONTEXT_STRATEGIES: (("VERSION", "version"),),
    Kind.CONTEXT_PROCESSOR: (("ORDER", "order"), ("ENABLED", "enabled"), ("TITLE", "name")),
    Kind.AUTH_PROFILE: (("TYPE", "type"), ("TITLE", "name")),
    Kind.SECURITY_POLICY: (("RULES", "rules"), ("TITLE", "name")),
    Kind.INTEGRATION_CONFIG: (("VERSION", "version"), ("RETRY_POLICIES", "retry_policies")),
    Kind.CONNECTOR: (("TYPE", "type"), ("AUTH", "auth_profile"),
                     ("RETRY", "retry_policy_id"), ("TIMEOUT_MS", "timeout_ms")),
    Kind.INTEGRATION_WORKFLOW: (("TRIGGER", "trigger"), ("STEPS", "steps"),
                                ("VERSION", "version")),
}


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@options.store_option
@options.output_option("table", "json", "yaml")
@environment.environment_options
def get(kind: str, name: str | None, location: str, output: str) -> None:
    """Show live resources of KIND (or one, by NAME); KIND `all` lists everything.

    KIND: agents, tools, model-profiles, workflows, policies, system-config,
    context-strategies, context-processors, auth-profiles, security-policies,
    integration-config, connectors, integration-workflows (singular forms and short
    aliases such as ag, mp, wf, pol, conn work too).

    \b
    Examples:
      meshctl get agents
      meshctl get agent fraud_agent -o json
      meshctl get all -o yaml > snapshot.yaml

    Exit: 0 found, 1 unknown kind or name, or unreadable registries.
    """
    wanted = list(kinds.KIND_ORDER) if kind == "all" else [parse_kind(kind)]
    live = options.read_live(location)
    resources = [r for k in wanted for r in live.state.of_kind(k).values()]
    options.warn_unloadable(r for r in resources if name is None or r.name == name)
    if name is not None:
        if kind == "all":
            raise UsageError("NAME needs a single KIND, not 'all'")
        found = live.state.of_kind(wanted[0]).get(name)
        if found is None:
            names = list(live.state.of_kind(wanted[0]))
            raise UsageError(f"{kinds.info(wanted[0]).label} '{name}' not found in "
                             f"{location}; {did_you_mean(name, names)}"
                             f"see `meshctl get {kinds.info(wanted[0]).plural}`")
        resources = [found]
    if output == "json":
        body: Any = resources[0].entry if name else [r.entry for r in resources]
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    elif output == "yaml":
        click.echo("---\n".join(exporter.render_manifest(r) for r in resources), nl=False)
    else:
        out = report.console()
        for k in wanted:
            rows = [r for r in resources if r.kind is k]
            if rows or kind != "all":
                out.print(_table(k, rows))


def parse_kind(text: str) -> Kind:
    found = kinds.kind_by_name(text)
    if found is None:
        names = [info.plural for info in kinds.KINDS.values()]
        raise UsageError(f"unknown kind '{text}'; {did_you_mean(text, names)}"
                         f"use one of: {', '.join(names)}, all")
    return found


def _table(kind: Kind, resources: list[Resource]) -> Table:
    table = Table(title=kinds.info(kind).plural, title_justify="left", box=None,
                  header_style="bold")
    table.add_column("NAME", no_wrap=True)
    for header, _ in COLUMNS[kind]:
        table.add_column(header, overflow="fold")
    for resource in resources:
        table.add_row(resource.name, *(_cell(resource.entry.get(field))
                                       for _, field in COLUMNS[kind]))
    return table


def _cell(value: object) -> str:
    if isinstance(value, list):
        return str(len(value))
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
