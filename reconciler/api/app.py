"""The REST API: AgentMesh's registry endpoints over one in-process `RegistryManager`.

`create_app()` builds the FastAPI application `meshctl serve` runs. Every write is the
library's, so the engine's rules, commit, lock and history apply to each call (source
`api`). One exception handler turns errors into status codes; a 500 never says more than
"Internal server error" (the details go to the log).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at run
# time (the orchestrator's and governance's body models, for two).

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler import store as store_
from reconciler import web
from reconciler.api import (
    access_routes,
    docs_pages,
    hosts,
    kind_paths,
    list_views,
    mesh_routes,
    resources,
    settings_routes,
    watch_routes,
)
from reconciler.api import errors as api_errors
from reconciler.api.auth import Role, role_of
from reconciler.api.errors import ApiError
from reconciler.api.offload import OffloadedRoute
from reconciler.api.shown_paths import ShownPaths
from reconciler.errors import (
    ChangeRejected,
    LockTimeout,
    PreconditionFailed,
    StoreError,
)
from reconciler.library import RegistryManager
from reconciler.manifests.layers import Layers
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.specs import (
    AgentMetadata,
    GovernancePolicies,
)
from reconciler.watch.controller import Controller

log = logging.getLogger("reconciler.api")


class Problem(BaseModel):
    """What every error answers: what went wrong and what to do (and, for 412, the
    version the resource has now)."""

    detail: str
    current_version: str | None = None


_PROBLEM = {"model": Problem}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "A rule the change breaks (the engine's message), or "
                                      "a Host header that does not name this server"},
    401: {**_PROBLEM, "description": "No valid bearer token"},
    403: {**_PROBLEM, "description": "The token's role may not do this, or a write from "
                                      "another site's page (Origin)"},
    404: {**_PROBLEM, "description": "No such resource"},
    412: {**_PROBLEM, "description": "The resource changed since the version given"},
    413: {**_PROBLEM, "description": "Request body over 1 MiB"},
    500: {**_PROBLEM, "description": "Internal server error (details in the log)"},
    503: {**_PROBLEM, "description": "The registries are locked or cannot be read"},
}
MAX_BODY = 1024 * 1024
MAX_LOGGED_SKIPPED = 20  # live entries the runtime skips, logged when the server starts
SOURCE = "api"


class _BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _too_large(send)
            return
        if length is not None:  # the server stops the body at its length
            await self.app(scope, receive, send)
            return
        # No length (chunked): read it here, at most the limit, then hand it over whole.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                await _too_large(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body over 1 MiB"}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(store: store_.Store | store_.Location, *, tokens: dict[str, Role] | None = None,
               cors_origins: tuple[str, ...] = (), watch: bool = True,
               manager: RegistryManager | None = None,
               manifests: str | Path | Layers | None = None,
               controller: Callable[[RegistryManager], Controller] | None = None,
               webhook_secret: str | None = None, deny_breaking: bool = False,
               deny_access_widening: bool = False,
               listen: str = "127.0.0.1", allowed_hosts: tuple[str, ...] = (),
               environment: str | None = None) -> FastAPI:
    """The API over the registries of `store`. Without `tokens` every caller has every
    role (`meshctl serve` allows that only on loopback). `controller` makes the watch
    controller the server runs beside it, over the same registry snapshot. `deny_breaking`
    refuses writes that break their callers (409, B001/B002), as `plan --deny-breaking`;
    `deny_access_widening` those that grant an agent more (409), as
    `plan --deny-access-widening`.
    Requests are answered only when addressed to `listen` (where the server listens), a
    loopback name or one of `allowed_hosts` (hosts.py: DNS rebinding).
    `environment` names the environment of meshctl.yaml served (`serve --env`), shown in
    /health and in the panel's header: several servers, one per environment, look alike."""
    policy = hosts.HostPolicy.serving(listen, allowed_hosts, cors_origins)
    registry = manager or RegistryManager(watch=watch, source=SOURCE,
                                          deny_breaking=deny_breaking,
                                          deny_access_widening=deny_access_widening,
                                          store=store_.open_store(store))
    registry.load_all()
    for skipped in registry.stats()["unloadable"][:MAX_LOGGED_SKIPPED]:  # L007, at start-up
        log.warning("%s: %s", skipped["file"], skipped["message"])
    running = controller(registry) if controller is not None else None
    planned = (manifests if isinstance(manifests, Layers) else [str(manifests)]) if manifests \
        else (running.paths if running else None)
    paths = ShownPaths.of([*(planned or ()), registry.store.location])  # never the disk's
    app = FastAPI(title="meshctl", version="1", responses=ERRORS,
                  description="AgentMesh registries, through meshctl's engine.",
                  lifespan=_run_beside(running), docs_url=None, redoc_url=None)
    app.router.route_class = OffloadedRoute  # one hand-off to a thread per request
    docs_pages.add_pages(app)  # FastAPI's own load their scripts from a CDN
    app.state.registry = registry
    app.add_middleware(_BodyLimit, limit=MAX_BODY)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(hosts.HostGuard, policy=policy)  # the last added runs first

    def allow(role: Role) -> Callable[[str | None], Coroutine[Any, Any, None]]:
        async def check(authorization: str | None = Header(default=None)) -> None:
            """On the event loop (no worker thread): it reads nothing but the header."""
            if tokens is None or not tokens:
                return
            found = role_of(tokens, authorization)
            if found is None:
                raise ApiError(401, "a valid bearer token is needed",
                                headers={"WWW-Authenticate": "Bearer"})
            if found < role:
                raise ApiError(403, f"this token's role ({found.name.lower()}) may not do "
                                     f"this; it needs {role.name.lower()}")
        return check

    viewer, editor, admin = (Depends(allow(role)) for role in Role)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = error.extra.pop("headers", None)
        return JSONResponse({"detail": error.detail, **error.extra}, error.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        """422 naming each field and what is wrong with it, without echoing the input back
        (a body may be large, or hold text JSON cannot encode)."""
        return JSONResponse({"detail": [
            {"type": item.get("type"), "loc": list(item.get("loc", ())),
             "msg": item.get("msg")} for item in error.errors()]}, 422)

    @app.exception_handler(ChangeRejected)
    async def rejected(_: Request, error: ChangeRejected) -> JSONResponse:
        status, body = api_errors.refusal(error)
        headers = ({"ETag": f'"{error.current_version}"'}
                   if isinstance(error, PreconditionFailed) else None)
        return JSONResponse(body, status, headers=headers)

    @app.exception_handler(LockTimeout)
    async def busy(_: Request, error: LockTimeout) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 503, headers={"Retry-After": "1"})

    @app.exception_handler(StoreError)
    async def store_error(_: Request, error: StoreError) -> JSONResponse:
        log.error("registries unavailable: %s", error)
        return JSONResponse({"detail": "the registries cannot be read or written now"}, 503)

    @app.exception_handler(Exception)
    async def internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse({"detail": "Internal server error"}, 500)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
        stats = registry.stats()
        return {"status": "ok" if stats["last_error"] is None else "degraded",
                "revision": stats["revision"], "last_error": paths.text(stats["last_error"]),
                "environment": environment}

    @app.get("/registries/stats", tags=["meta"], dependencies=[viewer])
    def stats() -> dict[str, Any]:
        return paths.stats(registry.stats())

    @app.post("/registries/reload", tags=["meta"], dependencies=[admin])
    def reload() -> dict[str, Any]:
        """As upstream answers (`success`, `message`, `timestamp`), with the stats beside."""
        stats = paths.stats(registry.reload())
        return {"success": stats["last_error"] is None,
                "message": "Registries reloaded successfully" if stats["last_error"] is None
                else f"Registries reloaded; serving the last good state: {stats['last_error']}",
                "timestamp": resources.now(), **stats}

    for listed in kind_paths.LISTED:
        resources.kind_routes(app, registry, listed.kind, listed.path, listed.list_key,
                              listed.model, viewer, editor)
    views = list_views.add_routes(app, registry, viewer=viewer)
    _orchestrator_routes(app, registry, viewer, editor)
    _governance_routes(app, registry, viewer, editor)
    settings_routes.add_routes(app, registry, viewer, editor)
    mesh_routes.add_routes(app, registry, manifests=planned, paths=paths,
                           viewer=viewer, admin=admin)
    access_routes.add_routes(app, registry, paths=paths, viewer=viewer, editor=editor)
    watch_routes.add_routes(app, running, store=registry.store, paths=paths,
                            webhook_secret=webhook_secret, viewer=viewer, editor=editor)
    web.add_panel(app, kind_paths.routes(), views=list_views.paths(),
                  environment=environment, on_open=views.warm)
    return app


def _orchestrator_routes(app: FastAPI, registry: RegistryManager, viewer: Any,
                         editor: Any) -> None:
    @app.get("/registries/orchestrator", tags=["agents"], dependencies=[viewer])
    def orchestrator(response: Response) -> dict[str, Any]:
        return resources.found(registry, Kind.AGENT, ORCHESTRATOR_ID, response)

    @app.put("/registries/orchestrator", tags=["agents"], dependencies=[editor])
    def put_orchestrator(body: AgentMetadata, response: Response,
                         if_match: str | None = Header(default=None)) -> dict[str, Any]:
        entry = body.model_dump(mode="json", exclude_unset=True)
        if entry.get("agent_id") != ORCHESTRATOR_ID:
            raise ApiError(400, f"the orchestrator's agent_id must be '{ORCHESTRATOR_ID}'; "
                                 "other agents are changed under /registries/agents")
        registry.update_agent(ORCHESTRATOR_ID, entry,
                              expected_version=resources.version_wanted(if_match, entry))
        return resources.found(registry, Kind.AGENT, ORCHESTRATOR_ID, response)


def _run_beside(controller: Controller | None) -> Callable[[FastAPI], Any]:
    """Run the watch controller on a thread for as long as the server runs; on shutdown,
    let the sync in flight finish."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = None
        if controller is not None:
            worker = threading.Thread(target=controller.run, name="meshctl-watch",
                                      daemon=True)
            worker.start()
        try:
            yield
        finally:
            if controller is not None and worker is not None:
                controller.stop()
                await asyncio.to_thread(worker.join, 60)

    return lifespan


def _governance_routes(app: FastAPI, registry: RegistryManager, viewer: Any,
                       editor: Any) -> None:
    def document(response: Response) -> dict[str, Any]:
        policies = registry.get_governance_policies()
        if policies is None:
            raise ApiError(404, "there are no governance policies")
        version = registry.governance_version()
        response.headers["ETag"] = f'"{version}"'
        return {**policies.model_dump(mode="json", exclude_unset=True),
                "policies": {name: registry.entry(Kind.GOVERNANCE_POLICY, name)
                             for name in policies.policies},
                "resource_version": version}

    @app.get("/registries/governance", tags=["governance"], dependencies=[viewer])
    def governance(response: Response) -> dict[str, Any]:
        return document(response)

    @app.put("/registries/governance", tags=["governance"], dependencies=[editor])
    def put_governance(body: GovernancePolicies, response: Response,
                       if_match: str | None = Header(default=None)) -> dict[str, Any]:
        given = body.model_dump(mode="json", exclude_unset=True)
        registry.update_governance_policies(
            given, expected_version=resources.version_wanted(if_match, given))
        return document(response)

