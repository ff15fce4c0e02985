"""`meshctl serve`: the REST API over the registries, on uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import options
from reconciler.errors import UsageError


@click.command()
@options.registries_option
@click.option("--manifests", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Manifests to plan from for GET /registries/plan.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Another than loopback needs tokens (or --insecure).")
@click.option("--port", type=click.IntRange(0, 65535), default=8016, show_default=True)
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Bearer tokens, one 'TOKEN ROLE' a line (viewer, editor, "
                                 "admin); also $MESHCTL_API_TOKENS as 'TOKEN:ROLE,...'.")
@click.option("--insecure", is_flag=True,
              help="Allow listening beyond loopback without tokens (everyone is admin).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser calls from this origin (repeatable). Default: none.")
def serve(registries: str, manifests: Path | None, host: str, port: int,
          token_file: Path | None, insecure: bool, cors_origins: tuple[str, ...]) -> None:
    """Serve the registries over HTTP: AgentMesh's registry endpoints, with every write
    going through meshctl's rules, commit and history (source `api`).

    OpenAPI at /docs and /openapi.json; GET /health. Listens on 127.0.0.1:8016 by default.

    \b
    Examples:
      meshctl serve
      meshctl serve --port 9000 --registries /srv/agentmesh/registries
      meshctl serve --host 0.0.0.0 --token-file tokens.txt
      curl -s localhost:8016/registries/agents | jq .total_count

    Exit: 0 when stopped, 1 on a usage error or when the registries cannot be read.
    """
    import uvicorn

    from reconciler.api import auth, create_app

    root = options.registries_root(registries)
    tokens = auth.load_tokens(token_file)
    if not tokens and not auth.is_loopback(host) and not insecure:
        raise UsageError(f"refusing to serve on {host} without tokens: anyone who can reach "
                         "it could change the registries. Give --token-file (or "
                         f"${auth.TOKENS_ENV}), listen on 127.0.0.1, or pass --insecure")
    app = create_app(root, tokens=tokens or None, cors_origins=cors_origins,
                     manifests=manifests)
    # Open event streams never end by themselves: on SIGTERM, give them 2 s, then close.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2)
