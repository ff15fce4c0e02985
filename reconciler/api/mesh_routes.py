"""The endpoints beyond the upstream plan: the dependency graph, history and rollback, the
plan from the manifests (with `--manifests`), and a server-sent event per revision."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from reconciler import engine, graph
from reconciler.api.errors import ApiError
from reconciler.errors import PlanRefused, StoreError
from reconciler.library import RegistryManager
from reconciler.plan import planfile
from reconciler.plan.model import Action
from reconciler.plan.render import jsondiff
from reconciler.store import filestore, history

EVENT_POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
STATUS = {Action.NOOP: "in_sync", Action.UPDATE: "drifted", Action.DELETE: "not_in_git",
          Action.CREATE: "missing_live"}


def add_routes(app: FastAPI, registry: RegistryManager, *, manifests: list[str] | None,
               viewer: Any, admin: Any) -> None:
    meta = registry.registries_path / filestore.META

    @app.get("/registries/graph", tags=["mesh"], dependencies=[viewer])
    def mesh_graph() -> dict[str, Any]:
        """Every resource and every typed reference between them (the live state)."""
        return graph.to_dict(graph.build(registry.live().state))

    @app.get("/registries/history", tags=["history"], dependencies=[viewer])
    def revisions() -> dict[str, Any]:
        found = history.summaries(meta)
        return {"revisions": found, "total_count": len(found)}

    @app.get("/registries/history/{number}", tags=["history"], dependencies=[viewer])
    def revision(number: int) -> dict[str, Any]:
        try:
            record = history.load(meta, number)
        except StoreError as error:
            raise ApiError(404, str(error)) from error
        record["diff"] = "".join(  # what `meshctl history show N` prints
            jsondiff.json_diff(c["before"], c["after"], f"before/{c['kind']}/{c['name']}",
                               f"after/{c['kind']}/{c['name']}") for c in record["changes"])
        return record

    @app.post("/registries/rollback/{number}", tags=["history"], dependencies=[admin])
    def rollback(number: int) -> dict[str, Any]:
        """Back to the state right after revision `number`, as a new revision."""
        if number not in history.numbers(meta):
            raise ApiError(404, f"no revision {number}")
        result = engine.rollback_plan(registry.registries_path, number)
        if result.plan is None:
            raise ApiError(400, "; ".join(d.message for d in result.errors))
        try:
            done = engine.apply_plan(result.plan, registry.registries_path, source="api",
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
        result = engine.make_plan(manifests, registry.registries_path)
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
        return StreamingResponse(_revisions(request, registry, meta, start),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


async def _revisions(request: Request, registry: RegistryManager, meta: Path,
                     after: int | None) -> AsyncIterator[str]:
    known = await run_in_threadpool(history.numbers, meta)
    last = after if after is not None else (known[-1] if known else 0)
    yield ": meshctl revisions\n\n"
    quiet = 0.0
    while not await request.is_disconnected():
        for number in [n for n in await run_in_threadpool(history.numbers, meta) if n > last]:
            if registry.stats()["revision"] < number:  # so a client that reads on this
                with contextlib.suppress(StoreError):  # event already sees the change
                    await run_in_threadpool(registry.load_all)
            record = await run_in_threadpool(history.load, meta, number)
            yield f"id: {number}\nevent: revision\ndata: {json.dumps(_event(record))}\n\n"
            last, quiet = number, 0.0
        await asyncio.sleep(EVENT_POLL_SECONDS)
        quiet += EVENT_POLL_SECONDS
        if quiet >= HEARTBEAT_SECONDS:  # keeps proxies from closing an idle stream
            yield ": heartbeat\n\n"
            quiet = 0.0


def _event(record: dict[str, Any]) -> dict[str, Any]:
    return {"revision": record["revision"], "time": record["time"], "source": record["source"],
            "user": record["user"], "summary": record.get("summary", {}),
            "changes": [{"kind": c["kind"], "name": c["name"], "action": c["action"]}
                        for c in record["changes"]]}
