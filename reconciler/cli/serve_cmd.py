"""`meshctl serve`: the REST API over the registries, on uvicorn."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from reconciler.cli import environment, listen, logs, options, watch_cmd
from reconciler.errors import UsageError
from reconciler.manifests.layers import Layers


def _webhook_secret(path: Path | None) -> str | None:
    from reconciler.api.watch_routes import WEBHOOK_SECRET_ENV

    if path is not None:
        return path.read_text(encoding="utf-8").strip() or None
    return os.environ.get(WEBHOOK_SECRET_ENV) or None


def _server(config: Any) -> Any:
    """uvicorn's server, stopped by SIGINT or SIGTERM with exit 0 as documented: uvicorn
    raises the signal again once it has shut down, which would end the process by the
    signal (SIGTERM) or as an interrupted command (SIGINT, exit 1)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            stops = (signal.SIGINT, signal.SIGTERM)
            before = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
            try:
                yield
            finally:
                for sig, handler in before.items():
                    signal.signal(sig, handler)

    return Server(config)


@click.command()
@options.store_option
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
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              envvar="MESHCTL_ALLOWED_HOSTS", show_envvar=True,
              help="Also answer requests addressed to this host name (repeatable; "
                   "localhost, loopback addresses and --host are always answered, every "
                   "address with --host 0.0.0.0). * answers any: only behind a proxy that "
                   "checks Host itself.")
@click.option("--watch", "watch", is_flag=True,
              help="Also run the watch controller (`meshctl watch`) on --manifests or "
                   "--git-repo, with its status in the API and on the panel.")
@click.option("--webhook-secret-file", type=click.Path(dir_okay=False, exists=True,
                                                       path_type=Path), default=None,
              help="Shared secret for POST /hooks/git (GitHub or GitLab push webhooks); "
                   "also $MESHCTL_WEBHOOK_SECRET.")
@click.option("--git-path", "git_paths", multiple=True, metavar="DIR",
              help="With --git-repo: the manifests' folder inside the repository "
                   "(repeatable; default: its root).")
@watch_cmd.controller_options
@environment.environment_options
def serve(location: str, manifests: Path | None, host: str, port: int,
          token_file: Path | None, insecure: bool, cors_origins: tuple[str, ...],
          allowed_hosts: tuple[str, ...], watch: bool, webhook_secret_file: Path | None,
          git_repo: str | None, branch: str,
          git_workdir: Path | None, self_heal: bool, interval: float, debounce_ms: int,
          no_prune: bool, max_deletes: int, log_format: str, max_bytes: int,
          deny_breaking: bool, deny_access_widening: bool, git_paths: tuple[str, ...]
          ) -> None:
    """Serve the registries over HTTP: AgentMesh's registry endpoints, with every write
    going through meshctl's rules, commit and history (source `api`).

    OpenAPI at /docs and /openapi.json; GET /health. Listens on 127.0.0.1:8016 by default.

    \b
    Examples:
      meshctl serve
      meshctl serve --port 9000 --store /srv/agentmesh/registries
      meshctl serve --host 0.0.0.0 --token-file tokens.txt --allowed-host mesh.example.com
      curl -s localhost:8016/registries/agents | jq .total_count
      meshctl serve --manifests manifests/ --watch --self-heal
      meshctl serve --env prod --watch          # meshctl.yaml's prod: its layers and store
      meshctl serve --watch --git-repo https://git.example.com/mesh.git \\
          --git-path manifests --webhook-secret-file hook.secret

    Exit: 0 when stopped, 1 on a usage error, when the port is in use or the address is
    not this machine's, or when the registries cannot be read.
    """
    import uvicorn

    from reconciler.api import auth, create_app, hosts

    store = options.open_store(location)  # once: the API, its panel and a controller share it
    tokens = auth.load_tokens(token_file)
    if not tokens and not auth.is_loopback(host) and not insecure:
        raise UsageError(f"refusing to serve on {host} without tokens: anyone who can reach "
                         "it could change the registries. Give --token-file (or "
                         f"${auth.TOKENS_ENV}), listen on 127.0.0.1, or pass --insecure")
    allowed = hosts.parse_allowed(allowed_hosts)
    make_controller: Any = None  # RegistryManager -> Controller, with --watch
    secret = None
    if watch:
        if manifests is None and git_repo is None:
            raise UsageError("--watch needs the desired state: --manifests DIR or --git-repo")
        logs.configure(log_format)
        secret = _webhook_secret(webhook_secret_file)
        # An environment's layers are folders of the repository with --git-repo, as
        # `watch --env` reads them (unless --git-path names others).
        layers = manifests if isinstance(manifests, Layers) else None
        paths = (git_paths or layers or ()) if git_repo is not None else \
            layers or (str(manifests),)

        def make_controller(manager: Any) -> Any:
            return watch_cmd.make_controller(
                paths, store, git_repo=git_repo, branch=branch, git_workdir=git_workdir,
                self_heal=self_heal, interval=interval, debounce_ms=debounce_ms,
                no_prune=no_prune, max_deletes=max_deletes, deny_breaking=deny_breaking,
                deny_access_widening=deny_access_widening, manager=manager,
                max_bytes=max_bytes)
    elif webhook_secret_file is not None or git_repo is not None or self_heal or git_paths:
        raise UsageError("--git-repo, --git-path, --self-heal and --webhook-secret-file "
                         "need --watch")
    sockets = listen.bind(host, port)  # before the registries load: a busy port fails fast
    chosen = environment.chosen()
    try:
        app = create_app(store, tokens=tokens or None, cors_origins=cors_origins,
                         manifests=manifests,
                         controller=make_controller, webhook_secret=secret,
                         deny_breaking=deny_breaking,
                         deny_access_widening=deny_access_widening, listen=host,
                         allowed_hosts=allowed,
                         environment=chosen.name if chosen is not None else None)
        # Open event streams never end by themselves: on SIGTERM, give them 2 s, then close.
        config = uvicorn.Config(app, host=host, port=port, log_level="info",
                                timeout_graceful_shutdown=2)
        click.echo(f"meshctl serving on {listen.url(sockets)} (the panel at /config, the API "
                   "docs at /docs); CTRL+C to stop", err=True)
        if not allowed and hosts.HostPolicy.serving(host).any_address:
            click.echo("Answering requests addressed to an IP address or localhost; name "
                       "others with --allowed-host (docs/api.md#security)", err=True)
        _server(config).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
