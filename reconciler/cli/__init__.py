"""`meshctl`: the command-line shell over the engine.

Exit codes, for every command: 0 success; 1 any error (invalid input, unreadable files, usage
errors included); 2 reserved for "changes present" (`plan --detailed-exitcode`).
Errors are one readable message; `--debug` adds the Python traceback.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from reconciler.cli.lazy import LazyGroup
from reconciler.errors import MeshctlError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


# Each command's module is imported when the command runs (or help lists it): a warm
# `meshctl validate` of 100,000 files must not pay for importing the server and the rest.
COMMANDS = {
    "validate": "validate_cmd:validate", "export": "export_cmd:export",
    "render": "render_cmd:render", "get": "get_cmd:get", "describe": "describe_cmd:describe",
    "plan": "plan_cmd:plan", "diff": "diff_cmd:diff", "compare": "compare_cmd:compare_command",
    "graph": "graph_cmd:graph_command", "apply": "apply_cmd:apply",
    "history": "history_cmd:history", "rollback": "history_cmd:rollback",
    "revert": "history_cmd:revert",
    "serve": "serve_cmd:serve", "watch": "watch_cmd:watch", "fmt": "fmt_cmd:fmt_command",
    "init": "init_cmd:init_command", "status": "status_cmd:status",
    "store": "store_cmd:store_group", "mirror": "store_cmd:mirror",
    "access": "access_cmd:access_group",
}


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="meshctl", prog_name="meshctl")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """GitOps for AgentMesh registries: validate manifests, plan changes, inspect the mesh.

    \b
    Examples:
      meshctl validate                      # check ./manifests
      meshctl plan --detailed-exitcode      # what merging would change (CI gate)
      meshctl diff                          # the same as a unified JSON diff
      meshctl compare dev prod              # how two environments differ
      meshctl apply                         # make it so, as one revision
      meshctl history                       # revisions; `meshctl rollback N` restores
      meshctl revert N                      # undo revision N alone
      meshctl export --out manifests/       # live registries -> manifests
      meshctl get agents                    # what the live registries hold
      meshctl describe tool fraud_rules     # one resource, who uses it
      meshctl graph | dot -Tsvg > mesh.svg  # the dependency graph
      meshctl watch --self-heal             # keep live at the manifests (GitOps loop)
      meshctl status                        # what the watch loop last did

    Exit codes: 0 ok, 1 error (usage errors included), 2 changes present (plan
    --detailed-exitcode). `diff` follows kubectl: 0 none, 1 differences, 2 error.

    The live registries are --store LOCATION: a registries directory (default ./registries)
    or a postgresql:// URL; --registries is its older name. Environment: MESHCTL_STORE
    (older name MESHCTL_REGISTRIES) and MESHCTL_MANIFESTS set the defaults; NO_COLOR turns
    colour off.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug



def main(argv: list[str] | None = None) -> int:
    """Run meshctl; map every failure to exit 1 with a message, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # `diff` follows kubectl: 1 means "differences", so its errors exit 2.
    error_exit = 2 if next((a for a in args if not a.startswith("-")), None) == "diff" \
        else EXIT_ERROR
    try:
        result = cli.main(args=args, prog_name="meshctl", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    except click.ClickException as error:
        error.show()
        return error_exit
    except MeshctlError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {error}", err=True)
        return error_exit
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_ERROR
    except Exception as error:  # a bug: say so plainly, never dump internals unasked
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"Internal error: {type(error).__name__}: {error}\n"
                       "Run again with --debug for the traceback, and please report it.",
                       err=True)
        return error_exit
    return int(result or 0)


def run() -> None:
    """The console script. After a large mesh, freeing millions of objects one by one takes
    a tenth of a second that a process about to end does not need: output is flushed, then
    the process ends at once (nothing else is pending: worker pools are closed by then)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
