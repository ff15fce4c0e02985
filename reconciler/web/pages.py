"""The panel's pages: routes that render templates; no rule of their own."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

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
_templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                         autoescape=select_autoescape(["html"]))


def page(name: str, active: str, **context: Any) -> HTMLResponse:
    body = _templates.get_template(name).render(nav=NAV, active=active, **context)
    return HTMLResponse(body)


def add_panel(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    forms = {kind.value: form_fields(kind) for kind in Kind}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/config")

    @app.get("/config", include_in_schema=False)
    def config() -> HTMLResponse:
        return page("config.html", "/config", title="Configuration", tabs=TABS, forms=forms)

    @app.get("/plan", include_in_schema=False)
    def plan_page() -> HTMLResponse:
        return page("page.html", "/plan", title="Plan", kind="plan")

    @app.get("/history", include_in_schema=False)
    def history_page() -> HTMLResponse:
        return page("page.html", "/history", title="History", kind="history")

    @app.get("/graph", include_in_schema=False)
    def graph_page() -> HTMLResponse:
        return page("page.html", "/graph", title="Graph", kind="graph")
