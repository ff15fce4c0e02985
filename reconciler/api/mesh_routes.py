"""The endpoints beyond the upstream plan: the dependency graph, history with its restore
and revert (each previewed as a plan first, committed with that plan's token), the plan
from the manifests (with `--manifests`), and a server-sent event per revision."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from reconciler import engine, graph
from reconciler import store as store_
from reconciler.api import graph_routes
from reconciler.api.errors import ApiError
from reconciler.api.plan_answer import plan_answer, refusals_of
from reconciler.api.shown_paths import ShownPaths
from reconciler.errors import PlanRefused, StalePlan, StoreError
from reconciler.library import RegistryManager
from reconciler.plan import planfile
from reconciler.plan.model import Action, Plan
from reconciler.plan.render import jsondiff

FEED_WAIT = 0.25  # how long one wait on the change feed lasts (a disconnect is seen then)
HEARTBEAT_SECONDS = 15.0
NO_MANIFESTS = ("this server has no manifests to plan from: start it with --manifests DIR "
                "(or --watch, or --env with manifest layers) to compare them with the live "
                "registries")
CONFLICT: dict[int | str, dict[str, Any]] = {409: {
    "description": "A later revision (or an edit outside meshctl) changed a resource the "
                   "revision changed: `detail` names each, `conflicts` lists "
                   "`{kind, name, revision}`; nothing was planned or written"}}
STATUS = {Action.NOOP: "in_sync", Action.UPDATE: "drifted", Action.DELETE: "not_in_git",
          Action.CREATE: "missing_live"}


def add_routes(app: FastAPI, registry: RegistryManager, *, manifests: Sequence[str] | None,
               paths: ShownPaths, viewer: Any, admin: Any) -> None:
    store = registry.store

    @app.get("/registries/graph", tags=["mesh"], dependencies=[viewer])
    def mesh_graph() -> dict[str, Any]:
        """Every resource and every typed reference between them (the live state)."""
        return graph.to_dict(graph.build(registry.live().state))

    # The Graph page's: search, one resource's neighbourhood, a workflow's steps.
    graph_routes.add_routes(app, registry, viewer=viewer)

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
        for change in record["changes"]:  # each resource's diff, and the fields it changed
            change["diff"] = jsondiff.json_diff(
                change["before"], change["after"], f"before/{change['kind']}/{change['name']}",
                f"after/{change['kind']}/{change['name']}")
            change["fields"] = changed_fields(change["before"], change["after"])
        record["diff"] = "".join(c["diff"] for c in record["changes"])  # `history show N`
        return record

    def undo_plan(action: str, number: int) -> engine.PlanResult:
        """The restore's or the revert's plan, or the answer that there is none."""
        known = store.revisions()
        if number not in known and not (action == "restore" and number == 0
                                        and known[:1] == [1]):
            there = f"{known[0]}..{known[-1]}" if known else "none yet"
            raise ApiError(404, f"no revision {number}; revisions: {there}"
                           + (" (and 0, the state before the first)"
                              if action == "restore" and known[:1] == [1] else ""))
        try:
            result = (engine.revert_plan if action == "revert" else engine.restore_plan)(
                registry.store, number, deny_breaking=registry.deny_breaking,
                deny_access_widening=registry.deny_access_widening)
        except engine.RevertConflict as error:
            raise ApiError(409, str(error), conflicts=error.conflicts) from error
        if result.plan is None:
            raise ApiError(400, f"the {action} would leave the mesh invalid; nothing was "
                                "planned: " + "; ".join(d.message for d in result.errors[:10]))
        return result

    def shown(action: str, number: int, response: Response) -> dict[str, Any]:
        try:
            result = undo_plan(action, number)
        except ApiError as error:
            if error.status == 404:
                raise
            # No plan can be made (a later revision conflicts, or the result breaks a
            # rule): that is the answer to "what would it do", so 200, not committable;
            # the POST is refused with the same detail (409 or 400).
            return {"action": action, "revision": number, "token": None,
                    "committable": False, "detail": error.detail,
                    "conflicts": error.extra.get("conflicts", []), "changes": [],
                    "plan": None}
        assert result.plan is not None
        response.headers["ETag"] = f'"{result.plan.live_fingerprint}"'
        return undo_answer(action, number, result.plan, paths)

    def commit(action: str, number: int, if_match: str | None) -> dict[str, Any]:
        result = undo_plan(action, number)
        plan = result.plan
        assert plan is not None
        given = if_match.strip().removeprefix("W/").strip('"') if if_match else None
        if given is not None and given != plan.live_fingerprint:
            raise stale(f"the registries changed since that plan was made (they are at "
                        f"revision {store.head()} now); nothing was written: look at the "
                        "new plan", plan.live_fingerprint)
        if plan.refusals:  # the server's --deny-breaking/--deny-access-widening: 409 as a write
            raise ApiError(409, paths.text(f"the {action} is refused and nothing was "
                                           f"written: {refusals_of(plan)}"),
                           codes=sorted({d.code for d in plan.warnings
                                         if d.code.startswith("B")}))
        try:
            done = engine.apply_plan(plan, registry.store, source="api", max_deletes=-1,
                                     note=engine.undo_note(plan), known=result.live)
        except StalePlan as error:
            raise stale(str(error), store.snapshot().fingerprint) from error
        except PlanRefused as error:
            raise ApiError(400, str(error)) from error
        registry.load_all()
        return {"applied": done is not None, "revision": done.number if done else None,
                "action": action, "target": number,
                "summary": planfile.to_dict(plan)["summary"]}

    @app.get("/registries/restore/{number}/plan", tags=["history"], dependencies=[viewer])
    def restore_plan(number: int, response: Response) -> dict[str, Any]:
        """What restoring the state right after revision `number` (0: before the first
        revision) would change, without changing it; `token` (also the ETag) is what
        `POST /registries/restore/{number}` takes in If-Match to commit exactly this plan.
        `committable` false, with `detail`, when it holds refusals or breaks a rule."""
        return shown("restore", number, response)

    @app.get("/registries/revert/{number}/plan", tags=["history"], dependencies=[viewer])
    def revert_plan(number: int, response: Response) -> dict[str, Any]:
        """What undoing revision `number` alone would change (each resource it changed
        back to its entry before it), without changing it. When a later revision changed
        one of them again there is no plan: `committable` false, `detail` naming the
        resource and the revision, `conflicts` each `{kind, name, revision}`."""
        return shown("revert", number, response)

    @app.post("/registries/restore/{number}", tags=["history"], dependencies=[admin])
    def restore(number: int, if_match: str | None = Header(default=None)) -> dict[str, Any]:
        """Back to the state right after revision `number` (0: before the first), as a new
        revision recorded as a restore. With If-Match (the plan's token): 412 when the
        registries changed since that plan, and nothing is written."""
        return commit("restore", number, if_match)

    @app.post("/registries/revert/{number}", tags=["history"], dependencies=[admin],
              responses=CONFLICT)
    def revert(number: int, if_match: str | None = Header(default=None)) -> dict[str, Any]:
        """Undo revision `number` alone, as a new revision recorded as its revert; 409
        when a later revision changed one of its resources again, 412 as for a restore."""
        return commit("revert", number, if_match)

    @app.post("/registries/rollback/{number}", tags=["history"], dependencies=[admin])
    def rollback(number: int, if_match: str | None = Header(default=None)) -> dict[str, Any]:
        """The earlier name of `POST /registries/restore/{number}` (the same answer)."""
        return commit("restore", number, if_match)

    @app.get("/registries/plan", tags=["mesh"], dependencies=[viewer])
    def plan() -> dict[str, Any]:
        """What applying the manifests would change, with each resource's sync status.
        A server started without manifests answers `"configured": false` and why (200:
        the endpoint is there, it has nothing to plan from)."""
        if manifests is None:
            return {"configured": False, "resources": [], "plan": None,
                    "detail": NO_MANIFESTS}
        result = engine.make_plan(manifests, registry.store)
        if result.plan is None:
            raise ApiError(400, "the manifests do not validate: " + "; ".join(
                d.message for d in result.errors[:10]))
        return {"configured": True,
                "resources": [{"kind": c.key.kind.value, "name": c.key.name,
                               "status": STATUS[c.action]} for c in result.plan.changes],
                "plan": paths.plan(planfile.to_dict(result.plan))}

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
                        for c in record["changes"]],
            **({"undo": record["undo"]} if "undo" in record else {})}  # restore, revert


def stale(detail: str, current: str) -> ApiError:
    """412: the registries moved on since the plan the client confirmed."""
    return ApiError(412, detail, current_version=current,
                    headers={"ETag": f'"{current}"'})


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The top-level fields whose values differ (every field of a create or a delete)."""
    old, new = before or {}, after or {}
    return [name for name in dict.fromkeys([*old, *new])
            if name not in old or name not in new or old[name] != new[name]]


def undo_answer(action: str, number: int, plan: Plan, paths: ShownPaths) -> dict[str, Any]:
    """A restore's or a revert's plan as the panel shows it: each resource it changes with
    its diff (before and after as indented JSON), the refusals, and the token to commit."""
    return {"action": action, "revision": number, "conflicts": [], **plan_answer(plan, paths)}
