"""The endpoints beyond the upstream plan: the dependency graph, history and rollback, the
plan from the manifests (with `--manifests`), and a server-sent event per revision."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from reconciler import engine, graph
from reconciler import store as store_
from reconciler.api.errors import ApiError
from reconciler.errors import PlanRefused, StoreError
from reconciler.library import RegistryManager
from reconciler.plan import planfile
from reconciler.plan.model import Action
from reconciler.plan.render import jsondiff

FEED_WAIT = 0.25  # how long one wait on the change feed lasts (a disconnect is seen then)
HEARTBEAT_SECONDS = 15.0
STATUS = {Action.NOOP: "in_sync", Action.UPDATE: "drifted", Action.DELETE: "not_in_git",
          Action.CREATE: "missing_live"}


def add_routes(app: FastAPI, registry: RegistryManager, *, manifests: Sequence[str] | None,
               viewer: Any, admin: Any) -> None:
    store = registry.store

    @app.get("/registries/graph", tags=["mesh"], dependencies=[viewer])
    def mesh_graph() -> dict[str, Any]:
        """Every resource and every typed reference between them (the live state)."""
        return graph.to_dict(graph.build(registry.live().state))

    @app.get("/registries/history", tags=["history"], dependencies=[viewer])
    def revisions() -> dict[str, Any]:
        found = store_.summaries(store)
        return {"revisions": found, "total_count": len(found)}

    @app.get("/registries/history/{number}", tags=["history"], dependencies=[viewer])
    def revision(number: int) -> dict[str, Any]:
        try:
            record = store.revision(number)
        except StoreError as error:
            raise ApiError(404, str(error)) from error
        record["diff"] = "".join(  # what `meshctl history show N` prints
            jsondiff.json_diff(c["before"], c["after"], f"before/{c['kind']}/{c['name']}",
                               f"after/{c['kind']}/{c['name']}") for c in record["changes"])
        return record

    @app.post("/registries/rollback/{number}", tags=["history"], dependencies=[admin])
    def rollback(number: int) -> dict[str, Any]:
        """Back to the state right after revision `number`, as a new revision."""
        if number not in store.revisions():
            raise ApiError(404, f"no revision {number}")
        result = engine.rollback_plan(registry.store, number)
        if result.plan is None:
            raise ApiError(400, "; ".join(d.message for d in result.errors))
        try:
            done = engine.apply_plan(result.plan, registry.store, source="api",
                                     max_deletes=-1, note=f"rollback to revision {number}")
        except PlanRefused as error:
            raise ApiError(400, str(error)) from error
        registry.load_all()
        return {"applied": done is not None, "revision": done.number if done else None,
                "summary": planfile.to_dict(result.plan)["summary"]}

    @app.get("/registries/plan", tags=["mesh"], dependencies=[viewer])
    def plan() -> dict[str, Any]:
        """What applying the manifests would change, with each resource's sync status."""
        if manifests is None:
            raise ApiError(404, "the server was started without --manifests (or --watch)")
        result = engine.make_plan(manifests, registry.store)
        if result.plan is None:
            raise ApiError(400, "the manifests do not validate: " + "; ".join(
                d.message for d in result.errors[:10]))
        return {"resources": [{"kind": c.key.kind.value, "name": c.key.name,
                               "status": STATUS[c.action]} for c in result.plan.changes],
                "plan": planfile.to_dict(result.plan)}

    @app.get("/registries/events", tags=["mesh"], dependencies=[viewer])
    async def events(request: Request,
                     last_event_id: str | None = Header(default=None)) -> StreamingResponse:
        """One server-sent event per committed revision, whoever made it (`id` is the
        revision number; reconnect with Last-Event-ID to miss none)."""
        start = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
        return StreamingResponse(_revisions(request, registry, start),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


async def _revisions(request: Request, registry: RegistryManager,
                     after: int | None) -> AsyncIterator[str]:
    """The store's change feed as server-sent events: each revision once, in order."""
    store = registry.store
    last = after if after is not None else await run_in_threadpool(store.head)
    yield ": meshctl revisions\n\n"
    quiet = 0.0
    while not await request.is_disconnected():
        records = await run_in_threadpool(functools.partial(store.revisions_after, last,
                                                            wait=FEED_WAIT))
        for record in records:
            number = record["revision"]
            if registry.stats()["revision"] < number:  # so a client that reads on this
                with contextlib.suppress(StoreError):  # event already sees the change
                    await run_in_threadpool(registry.load_all)
            yield f"id: {number}\nevent: revision\ndata: {json.dumps(_event(record))}\n\n"
            last, quiet = number, 0.0
        quiet += 0.0 if records else FEED_WAIT
        if quiet >= HEARTBEAT_SECONDS:  # keeps proxies from closing an idle stream
            yield ": heartbeat\n\n"
            quiet = 0.0


def _event(record: dict[str, Any]) -> dict[str, Any]:
    return {"revision": record["revision"], "time": record["time"], "source": record["source"],
            "user": record["user"], "summary": record.get("summary", {}),
            "changes": [{"kind": c["kind"], "name": c["name"], "action": c["action"]}
                        for c in record["changes"]]}
