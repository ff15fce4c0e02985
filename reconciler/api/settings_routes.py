"""Routes of the settings documents, at upstream's paths: the orchestrator's system config
and context strategies (`/registries/system-config`, `/registries/context/strategies`), the
integration fabric's config (upstream served the fabric from a second service; meshctl
serves it under `/registries/integration/...` beside the rest), and the PUT of the whole
processor pipeline. The settings kinds listed by id (processors, connectors, ...) get their
five routes from `kind_paths.LISTED`, as every listed kind does. Every write is the
library's: one plan through the same rules, ETag/If-Match on each document and entry.

No `from __future__ import annotations`: FastAPI reads the handlers' annotations at run time.
"""

from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Response

from reconciler.api import resources
from reconciler.api.errors import ApiError
from reconciler.library import RegistryManager
from reconciler.model import kinds
from reconciler.model.kinds import Kind

INTEGRATION = "/registries/integration"


def add_routes(app: FastAPI, registry: RegistryManager, viewer: Any, editor: Any) -> None:
    _document_routes(app, registry, Kind.SYSTEM_CONFIG, "/registries/system-config", viewer,
                     editor)
    _document_routes(app, registry, Kind.CONTEXT_STRATEGIES, "/registries/context/strategies",
                     viewer, editor)
    _document_routes(app, registry, Kind.INTEGRATION_CONFIG, f"{INTEGRATION}/system-config",
                     viewer, editor, wrapped="config")
    _pipeline_route(app, registry, editor)


def _pipeline_route(app: FastAPI, registry: RegistryManager, editor: Any) -> None:
    """PUT of the whole processor pipeline: a reorder is one plan and one revision."""

    def put_pipeline(response: Response, body: Annotated[dict[str, Any], Body()],
                     if_match: str | None = Header(default=None)) -> dict[str, Any]:
        processors = body.get("processors")
        if not isinstance(processors, list) or not all(isinstance(p, dict) for p in processors):
            raise ApiError(400, "the pipeline needs a 'processors' list of objects")
        expected = resources.version_wanted(if_match, body)
        registry.update_context_processors(processors, expected_version=expected)
        version = registry.kind_version(Kind.CONTEXT_PROCESSOR)
        response.headers["ETag"] = f'"{version}"'
        entries = registry.entries(Kind.CONTEXT_PROCESSOR)
        return {"processors": entries, "total_count": len(entries),
                "resource_version": version}

    app.add_api_route("/registries/context/processors", put_pipeline, methods=["PUT"],
                      tags=["context-processors"], dependencies=[editor],
                      summary="Replace the whole pipeline (processors not named are deleted)")


def _document_routes(app: FastAPI, registry: RegistryManager, kind: Kind, path: str,
                     viewer: Any, editor: Any, wrapped: str | None = None) -> None:
    """GET and PUT of a one-document kind. `wrapped`: the key upstream's answer puts the
    document under (the integration fabric answers `{"config": {...}}`)."""
    label = kinds.info(kind).label
    tag = kinds.info(kind).plural

    def answer(response: Response) -> dict[str, Any]:
        document = registry.document(kind)
        if document is None:
            raise ApiError(404, f"there is no {label} yet; PUT one to create it")
        version = registry.version(kind, kinds.SINGLETON_NAME)
        response.headers["ETag"] = f'"{version}"'
        if wrapped is not None:
            return {wrapped: document, "resource_version": version}
        return {**document, "resource_version": version}

    def get_document(response: Response) -> dict[str, Any]:
        return answer(response)

    app.add_api_route(path, get_document, methods=["GET"], tags=[tag], dependencies=[viewer],
                      summary=f"The {label}")

    def put_document(response: Response, body: Annotated[dict[str, Any], Body()],
                     if_match: str | None = Header(default=None)) -> dict[str, Any]:
        inner = body.get(wrapped) if wrapped is not None else None
        document: dict[str, Any] = dict(inner if isinstance(inner, dict) else body)
        expected = resources.version_wanted(if_match, document)
        if expected is None and isinstance(body.get("resource_version"), str):
            expected = body["resource_version"]
        registry.put_document(kind, document, expected_version=expected)
        return answer(response)

    app.add_api_route(path, put_document, methods=["PUT"], tags=[tag], dependencies=[editor],
                      summary=f"Replace the {label} (created when there is none)")
