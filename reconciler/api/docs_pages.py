"""The API's documentation pages, /docs (Swagger UI) and /redoc, with every script, style
and image served by this server; `create_app()` adds them.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an air-gapped host /docs is
a blank page. The fastapi-offline package ships the same bundles: they are served under
ASSETS. Each page also carries a Content-Security-Policy that lets it reach this server
only, so nothing it does leaves the machine. ReDoc's sidebar names its maker's logo on
their CDN, a request the policy would block (an error in the browser's console on every
visit): its bundle is served with that address replaced by an empty image, which ReDoc
leaves out as it does any logo that fails to load.

No `from __future__ import annotations`: FastAPI reads the handlers' annotations.
"""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/api-docs"
BUNDLES = Path(fastapi_offline.__file__).parent / "static"
# Inline scripts and styles: FastAPI's pages start the viewers with one; blob: workers:
# ReDoc's search runs in one; data: images: Swagger UI's icons.
PAGE_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self' 'unsafe-inline' blob:",
    "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self' data:",
    "worker-src 'self' blob:", "connect-src 'self'", "frame-ancestors 'self'"])
REDOC = "redoc.standalone.js"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


def add_pages(app: FastAPI) -> None:
    """/docs and /redoc for `app` (made with `docs_url=None, redoc_url=None`)."""
    redoc_bundle: list[bytes] = []  # read on first use

    @app.get(f"{ASSETS}/{REDOC}", include_in_schema=False)  # before the mount, which has it
    def redoc_script() -> Response:
        if not redoc_bundle:
            redoc_bundle.append((BUNDLES / REDOC).read_bytes().replace(REDOC_LOGO, b"data:,"))
        return Response(redoc_bundle[0], media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})

    app.mount(ASSETS, StaticFiles(directory=BUNDLES), name="api-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return _local(get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png"))

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _local(get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS}/{REDOC}",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False))


def _root(request: Request) -> str:
    """The path prefix a proxy serves the API under (uvicorn's --root-path), if any."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _local(page: HTMLResponse) -> HTMLResponse:
    """`page` with the policy above, and its language said (FastAPI's pages leave `<html>`
    without one, which screen readers need to pick a voice)."""
    body = bytes(page.body).replace(b"<html>", b'<html lang="en">', 1)
    return HTMLResponse(body, headers={"Content-Security-Policy": PAGE_POLICY})
