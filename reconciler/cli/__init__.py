"""`meshctl`: the command-line shell over the engine.

Exit codes, for every command: 0 success; 1 any error (invalid input, unreadable files, usage
errors included); 2 reserved for "changes present" (`plan --detailed-exitcode`).
Errors are one readable message; `--debug` adds the Python traceback.
"""

from __future__ import annotations

import sys
import traceback

import click

from reconciler.cli import export_cmd, get_cmd, validate_cmd
from reconciler.errors import MeshctlError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="meshctl", prog_name="meshctl")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """GitOps for AgentMesh registries: validate manifests, export live registries.

    \b
    Examples:
      meshctl validate                      # check ./manifests
      meshctl validate manifests/ -o json   # machine-readable diagnostics
      meshctl export --out manifests/       # live registries -> manifests
      meshctl get agents                    # what the live registries hold

    Exit codes: 0 ok, 1 error (usage errors included), 2 changes present (plan).
    Environment: MESHCTL_MANIFESTS, MESHCTL_REGISTRIES set the default paths; NO_COLOR
    turns colour off.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(validate_cmd.validate)
cli.add_command(export_cmd.export)
cli.add_command(get_cmd.get)


def main(argv: list[str] | None = None) -> int:
    """Run meshctl; map every failure to exit 1 with a message, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="meshctl", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except MeshctlError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {error}", err=True)
        return EXIT_ERROR
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
        return EXIT_ERROR
    return int(result or 0)


def run() -> None:
    sys.exit(main())
