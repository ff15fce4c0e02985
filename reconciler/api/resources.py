"""Routes over the entries of a kind: list, get, create, replace, delete (the agents, tools,
model profiles, workflows, context processors and the integration fabric's lists), and the
helpers every route shares: versions from If-Match, ids checked before any file is touched.

No `from __future__ import annotations`: FastAPI reads the handlers' annotations at run time,
and the body models are passed in.
"""

import datetime
from typing import Any

from fastapi import FastAPI, Header, Query, Response
from pydantic import BaseModel

from reconciler.api.errors import ApiError
from reconciler.library import RegistryManager
from reconciler.model import ids, kinds
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind

# Kinds whose whole list has a PUT (the processor pipeline): their list answers its version.
WHOLE_LIST_WRITES = frozenset({Kind.CONTEXT_PROCESSOR})


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_wanted(if_match: str | None, body: dict[str, Any] | None) -> str | None:
    """The version a write was made from: the If-Match header, else `resource_version`."""
    if if_match:
        return if_match.strip().removeprefix("W/").strip('"')
    version = body.pop("resource_version", None) if body is not None else None
    return str(version) if version is not None else None


def checked_id(kind: Kind, name: str) -> str:
    problem = ids.id_problem(name)
    if problem is not None:  # before any file is touched (a workflow id is a file name)
        raise ApiError(400, f"{kinds.info(kind).label} id {name!r} {problem}")
    return name


def found(registry: RegistryManager, kind: Kind, name: str, response: Response
           ) -> dict[str, Any]:
    entry = registry.entry(kind, checked_id(kind, name))
    if entry is None:
        raise ApiError(404, f"{kinds.info(kind).label} '{name}' not found")
    version = registry.version(kind, name)
    response.headers["ETag"] = f'"{version}"'
    return {**entry, "resource_version": version}


def kind_routes(app: FastAPI, registry: RegistryManager, kind: Kind, path: str,
                list_key: str, model: type[BaseModel], viewer: Any, editor: Any) -> None:
    """The five routes of a kind listed by id, under `/registries/{path}`."""
    label = kinds.info(kind).label
    plural = kinds.info(kind).plural
    base = f"/registries/{path}"

    def create(entry: dict[str, Any]) -> None:
        registry.create(kind, entry)

    def update(name: str, entry: dict[str, Any], expected_version: str | None) -> None:
        registry.update(kind, name, entry, expected_version=expected_version)

    def delete(name: str, expected_version: str | None) -> None:
        registry.delete(kind, name, expected_version=expected_version)

    def listed(response: Response, capability: str | None = Query(default=None),
               exclude_orchestrator: bool = Query(default=False),
               tag: str | None = Query(default=None)) -> dict[str, Any]:
        entries = registry.entries(kind)
        if capability is not None:
            entries = [e for e in entries if capability in (e.get("capabilities") or [])]
        if exclude_orchestrator:
            entries = [e for e in entries if e.get("agent_id") != ORCHESTRATOR_ID]
        if tag is not None:
            entries = [e for e in entries if tag in (e.get("lineage_tags") or [])]
        answer = {list_key: entries, "total_count": len(entries), "timestamp": now()}
        if kind in WHOLE_LIST_WRITES:  # the list is written whole too: its version
            version = registry.kind_version(kind)
            response.headers["ETag"] = f'"{version}"'
            answer["resource_version"] = version
        return answer

    app.add_api_route(base, listed, methods=["GET"], tags=[plural], dependencies=[viewer],
                      summary=f"List {plural}")

    def get_one(name: str, response: Response) -> dict[str, Any]:
        return found(registry, kind, name, response)

    app.add_api_route(f"{base}/{{name}}", get_one, methods=["GET"], tags=[plural],
                      dependencies=[viewer], summary=f"One {label}")

    def create_one(body: model, response: Response) -> dict[str, Any]:  # type: ignore[valid-type]
        entry = body.model_dump(mode="json", exclude_unset=True,  # type: ignore[attr-defined]
                                by_alias=True)
        entry.pop("resource_version", None)
        name = str(entry.get(kinds.info(kind).id_field or "", ""))
        checked_id(kind, name)
        create(entry)
        response.status_code = 201
        return found(registry, kind, name, response)

    app.add_api_route(base, create_one, methods=["POST"], tags=[plural], status_code=201,
                      dependencies=[editor], summary=f"Create a {label}")

    def update_one(name: str, body: model, response: Response,  # type: ignore[valid-type]
                   if_match: str | None = Header(default=None)) -> dict[str, Any]:
        checked_id(kind, name)
        entry = body.model_dump(mode="json", exclude_unset=True,  # type: ignore[attr-defined]
                                by_alias=True)
        update(name, entry, version_wanted(if_match, entry))
        return found(registry, kind, name, response)

    app.add_api_route(f"{base}/{{name}}", update_one, methods=["PUT"], tags=[plural],
                      dependencies=[editor], summary=f"Replace a {label}")

    def delete_one(name: str, if_match: str | None = Header(default=None)) -> dict[str, Any]:
        checked_id(kind, name)
        delete(name, version_wanted(if_match, None))
        return {"success": True, "message": f"{label.capitalize()} '{name}' deleted",
                "timestamp": now()}

    app.add_api_route(f"{base}/{{name}}", delete_one, methods=["DELETE"], tags=[plural],
                      dependencies=[editor], summary=f"Delete a {label}")
