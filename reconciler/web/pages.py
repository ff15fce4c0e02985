"""The panel's pages: routes that render templates; no rule of their own."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.web.fields import form_fields

HERE = Path(__file__).parent
NAV = [("/config", "Configuration"), ("/plan", "Plan"), ("/history", "History"),
       ("/graph", "Graph"), ("/docs", "API docs")]
# Upstream's tabs, in its order (its "Controllability" and "Integration Scalability" named
# for what they hold).
TABS = [("orchestrator", "Orchestrator"), ("agents", "Agents"), ("tools", "Tools"),
        ("profiles", "Model Profiles"), ("workflows", "Workflows"),
        ("accountability", "Accountability"), ("governance", "Governance"),
        ("system", "System settings"), ("context", "Context engineering"),
        ("integrations", "Integrations")]
# The kinds the panel lists (in a tab, or a part of one), by the panel's name for each.
LISTS: dict[str, Kind] = {
    "agents": Kind.AGENT, "tools": Kind.TOOL, "profiles": Kind.MODEL_PROFILE,
    "workflows": Kind.WORKFLOW, "processors": Kind.CONTEXT_PROCESSOR,
    "connectors": Kind.CONNECTOR, "auth-profiles": Kind.AUTH_PROFILE,
    "security-policies": Kind.SECURITY_POLICY, "integration-workflows": Kind.INTEGRATION_WORKFLOW,
}
_templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                         autoescape=select_autoescape(["html"]))


def page(name: str, active: str, *, environment: str | None = None,
         **context: Any) -> HTMLResponse:
    body = _templates.get_template(name).render(nav=NAV, active=active,
                                                environment=environment, **context)
    return HTMLResponse(body)


def listed_kinds(routes: Mapping[Kind, tuple[str, str]],
                 views: Mapping[Kind, str] | None = None) -> dict[str, dict[str, str | None]]:
    """What the panel's script knows of each kind it lists, from the server's tables: the
    API's path and list key (`routes`, the API's own), where its list is served a page at a
    time with its columns (`views`, under /registries; None: no such list) and the kinds
    table's id field and label. Rendered into the page, so the script keeps no copy."""
    views = views or {}
    return {name: {"kind": kind.value, "path": routes[kind][0], "list": routes[kind][1],
                   "view": views.get(kind), "id": kinds.info(kind).id_field,
                   "label": kinds.info(kind).label}
            for name, kind in LISTS.items()}


def add_panel(app: FastAPI, routes: Mapping[Kind, tuple[str, str]], *,
              views: Mapping[Kind, str] | None = None,
              environment: str | None = None,
              on_open: Callable[[], None] | None = None) -> None:
    """The panel's pages on `app`; `routes` is where the API serves each listed kind
    (path under /registries, list key); `views`, where it serves a page of a kind's list
    (searched, sorted, with its columns); `environment`, the one served (`serve --env`),
    is named in every page's header; `on_open` is called when the configuration page is
    served (the API builds its list views ahead)."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    forms = {kind.value: form_fields(kind) for kind in Kind}
    listed = listed_kinds(routes, views)

    def show(name: str, active: str, **context: Any) -> HTMLResponse:
        return page(name, active, environment=environment, **context)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/config")

    @app.get("/config", include_in_schema=False)
    def config() -> HTMLResponse:
        if on_open is not None:
            on_open()
        return show("config.html", "/config", title="Configuration", tabs=TABS, forms=forms,
                    kinds=listed)

    @app.get("/plan", include_in_schema=False)
    def plan_page() -> HTMLResponse:
        return show("page.html", "/plan", title="Plan", kind="plan")

    @app.get("/history", include_in_schema=False)
    def history_page() -> HTMLResponse:
        return show("page.html", "/history", title="History", kind="history")

    @app.get("/graph", include_in_schema=False)
    def graph_page() -> HTMLResponse:
        return show("page.html", "/graph", title="Graph", kind="graph")
