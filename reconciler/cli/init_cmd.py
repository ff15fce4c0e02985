"""`meshctl init`: a new repository that validates and plans cleanly from the first commit."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import click

from reconciler.errors import UsageError
from reconciler.manifests import export, project
from reconciler.model import ids
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import Resource, ResourceKey

# Where each skeleton file goes in the new repository.
FILES = {
    "github-workflow.yml": ".github/workflows/meshctl.yml",
    "gitlab-ci.yml": ".gitlab-ci.yml",
    "pre-commit-config.yaml": ".pre-commit-config.yaml",
    "gitignore": ".gitignore",
    "README.md": "README.md",
}

# With --envs: the same files for a project of environments (`@ENVS@` and the other marks
# are filled in by `_fill`), and the example overlay each environment gets.
ENV_FILES = {f"envs-{source}": target for source, target in FILES.items()}
OVERLAY = "envs-overlay.yaml"
OVERLAY_FILE = "triage_agent.yaml"
# Environments whose name says production fix deny_breaking: a change that breaks callers
# is refused there, a warning elsewhere.
PRODUCTION = ("prod", "production")

_SCHEMA_IN = {"type": "object", "required": ["claim_id"],
              "properties": {"claim_id": {"type": "string", "description": "The claim to read"}}}
_SCHEMA_OUT = {"type": "object", "required": ["claim_id", "priority"],
               "properties": {"claim_id": {"type": "string"},
                              "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                              "rationale": {"type": "string"}}}

STARTER: list[tuple[Kind, str, dict[str, Any]]] = [
    (Kind.MODEL_PROFILE, "default_profile", {
        "name": "Default profile", "description": "The model most agents reason with",
        "provider": "openai", "model_name": "gpt-4o-mini", "intended_usage": "general_reasoning",
        "parameters": {"temperature": 0.2, "max_tokens": 2000}, "timeout_seconds": 30}),
    (Kind.TOOL, "claim_lookup", {
        "name": "Claim lookup", "description": "Reads a claim by its id",
        "endpoint": "/invoke/claim_lookup", "input_schema": _SCHEMA_IN,
        "output_schema": {"type": "object", "properties": {"claim": {"type": "object"}}},
        "lineage_tags": ["claims"]}),
    (Kind.AGENT, "triage_agent", {
        "name": "Triage agent", "description": "Reads a claim and sets its priority",
        "capabilities": ["triage"], "allowed_tools": ["claim_lookup"],
        "model_profile_id": "default_profile", "max_iterations": 5,
        "iteration_timeout_seconds": 30, "input_schema": _SCHEMA_IN,
        "output_schema": _SCHEMA_OUT, "context_requirements": {}}),
    (Kind.AGENT, ORCHESTRATOR_ID, {
        "name": "Orchestrator", "description": "Chooses which agents handle a request",
        "capabilities": ["workflow_coordination"], "allowed_tools": [],
        "allowed_agents": ["triage_agent"], "model_profile_id": "default_profile",
        "max_iterations": 10, "iteration_timeout_seconds": 60,
        "output_schema": {"type": "object", "required": ["selected_agents"],
                          "properties": {"selected_agents": {"type": "array",
                                                             "items": {"type": "string"}},
                                         "reasoning": {"type": "string"}}},
        "context_requirements": {}}),
    (Kind.WORKFLOW, "claim_triage", {
        "name": "Claim triage", "description": "Sets the priority of a new claim",
        "version": "1.0.0", "mode": "advisory", "goal": "Every new claim has a priority",
        "steps": [{"step_id": "triage", "step_name": "Triage", "agent_id": "triage_agent",
                   "sequence": 1, "timeout_seconds": 60, "on_success": "complete",
                   "on_failure": "terminate_with_error"}],
        "required_agents": ["triage_agent"], "metadata": {"owner": "claims"}}),
    (Kind.GOVERNANCE_POLICY, "agent_invocation_access", {
        "description": "Which agents the orchestrator may invoke",
        "enforcement_level": "strict",
        "rules": [{"agent_id": ORCHESTRATOR_ID, "allowed_agents": ["triage_agent"],
                   "denied_agents": [ORCHESTRATOR_ID]}]}),
    (Kind.GOVERNANCE_POLICY, "agent_tool_access", {
        "description": "Which tools each agent may use", "enforcement_level": "strict",
        "rules": [{"agent_id": "triage_agent", "allowed_tools": ["claim_lookup"],
                   "denied_tools": []}]}),
]


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty (files "
                                             "of the same name are replaced).")
@click.option("--envs", default=None, metavar="NAME,...",
              help="Lay the repository out for these environments (dev,prod): meshctl.yaml, "
                   "the manifests in manifests/base, an overlay folder and a store per "
                   "environment, CI over every environment.")
def init_command(directory: Path, force: bool, envs: str | None) -> None:
    """Create a new mesh repository: manifests for an orchestrator, an agent, a tool, a model
    profile, a workflow and the two access policies that let them run; an empty registries/
    folder; a GitHub Actions workflow and a GitLab CI job (validate, plan, apply on merge);
    a pre-commit
    config. It validates and plans cleanly at once. The folder becomes a git repository
    (`git init`) unless it is already inside one or git is not installed.

    With --envs dev,prod: one set of manifests for several environments
    (docs/environments.md). meshctl.yaml lists each environment: its layers manifests/base
    and manifests/overlays/<env>/ (an example overlay that changes nothing yet), its store
    registries-<env>/, and deny_breaking for prod or production. The CI jobs validate and
    plan every environment (--all-envs) and apply to each.

    \b
    Examples:
      meshctl init my-mesh && cd my-mesh && meshctl plan
      meshctl init --force .
      meshctl init my-mesh --envs dev,staging,prod && cd my-mesh && meshctl plan --env dev

    Exit: 0 created, 1 the folder is not empty (without --force), an environment's name is
    not a safe name, or the folder cannot be written.
    """
    names = _env_names(envs) if envs is not None else None
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UsageError(f"'{directory}' is not empty: pass --force to write into it, or "
                         "name a new folder")
    manifests = directory / "manifests" / "base" if names else directory / "manifests"
    export.export_resources(
        [Resource(ResourceKey(kind, name), {**spec, **_id(kind, name)})
         for kind, name, spec in STARTER], manifests)
    if names is None:
        _keep(directory / "registries")
        _copy_skeleton(directory, FILES, {})
        click.echo(f"Created a mesh in {directory}/: {len(STARTER)} manifests, registries/, "
                   f"CI and pre-commit configuration. {_git_init(directory)}\nNext: meshctl "
                   f"plan --store {directory / 'registries'} {directory / 'manifests'}")
        return
    marks = {"@ENVS@": json.dumps(names), "@ENV_LIST@": ", ".join(names)}
    (directory / project.FILE_NAME).write_text(project_file(names), encoding="utf-8")
    for name in names:
        _keep(directory / f"registries-{name}")
        _copy_skeleton(directory / "manifests" / "overlays" / name, {OVERLAY: OVERLAY_FILE},
                       {"@ENV@": name})
    _copy_skeleton(directory, ENV_FILES, marks)
    click.echo(f"Created a mesh in {directory}/ for the environments {', '.join(names)}: "
               f"{len(STARTER)} manifests in manifests/base/, an overlay for each "
               f"environment in manifests/overlays/, "
               f"{', '.join(f'registries-{name}/' for name in names)}, "
               f"{project.FILE_NAME}, CI and pre-commit configuration. "
               f"{_git_init(directory)}\nNext: meshctl plan --env {names[0]} --project "
               f"{directory / project.FILE_NAME}")


def _env_names(given: str) -> list[str]:
    """The names of `--envs`, each a safe name (it becomes a folder name), each once."""
    names = [name.strip() for name in given.split(",")]
    for name in names:
        problem = ids.id_problem(name)
        if problem is not None:
            raise UsageError(f"--envs: environment name {name!r} {problem} (give names "
                             "separated by commas: --envs dev,prod)")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"--envs: {', '.join(twice)} given twice")
    return names


def project_file(names: list[str]) -> str:
    """meshctl.yaml for `names`: each environment's layers (base, then its overlay) and
    store, with deny_breaking where the name says production."""
    lines = ["# The environments of this mesh (docs/environments.md): each one's manifest",
             "# layers (base first, later ones patch it), its store (a registries folder or a",
             "# postgresql:// URL) and the command-line options it fixes.",
             "environments:"]
    for name in names:
        lines += [f"  {_plain(name)}:",
                  f"    manifests: [manifests/base, {_plain(f'manifests/overlays/{name}')}]",
                  f"    store: {_plain(f'registries-{name}')}"]
        if name.lower() in PRODUCTION:
            lines.append("    deny_breaking: true")
    return "\n".join(lines) + "\n"


def _plain(value: str) -> str:
    """`value` as a YAML string: plain when it reads as one, else quoted (`'1'`, `'yes'`)."""
    return value if export.scalar_style(value) == "" else json.dumps(value)


def _keep(folder: Path) -> None:
    """An empty store folder that git keeps."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitkeep").touch()


def _copy_skeleton(directory: Path, files: dict[str, str], marks: dict[str, str]) -> None:
    """Copy skeleton files to their targets under `directory`, each mark replaced."""
    skeleton = resources.files("reconciler.cli") / "skeleton"
    for source, target in files.items():
        text = skeleton.joinpath(source).read_text(encoding="utf-8")
        for mark, value in marks.items():
            text = text.replace(mark, value)
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _git_init(directory: Path) -> str:
    """Make `directory` a git repository, unless it is inside one already (a nested
    repository would hide its files from the outer one); a sentence saying what was done."""
    git = shutil.which("git")
    if git is None:
        return "git is not installed: skipped `git init`."
    inside = subprocess.run([git, "rev-parse", "--show-toplevel"], cwd=directory,
                            capture_output=True, text=True, check=False)
    if inside.returncode == 0 and inside.stdout.strip():
        return f"It is inside the git repository {inside.stdout.strip()}: no new one made."
    done = subprocess.run([git, "init", "--quiet", str(directory)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return f"`git init` failed, skipped: {done.stderr.strip()}"
    return "Initialized a git repository there (git init)."


def _id(kind: Kind, name: str) -> dict[str, str]:
    from reconciler.model import kinds

    field = kinds.info(kind).id_field
    return {field: name} if field else {}
