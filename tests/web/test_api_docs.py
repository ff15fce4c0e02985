"""The API docs on an air-gapped host: Chromium loads /docs (Swagger UI) and /redoc from a
real `meshctl serve` with every request routed through the test, and any request to another
host than the server fails the test. The pages must still render the API's operations, so
every asset they need comes from the server itself."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.servers import Server


@pytest.fixture
def offline(browser: Browser, server: Server) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests reach only the server; the others are refused and listed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    own = urlsplit(server.url).netloc

    def gate(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", gate)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, elsewhere
    context.close()
    assert errors == []


def test_swagger_ui_renders_the_operations_offline(offline: tuple[Page, list[str]],
                                                    server: Server) -> None:
    page, elsewhere = offline
    page.goto(f"{server.url}/config")
    page.click("nav >> text=API docs")
    expect(page).to_have_url(f"{server.url}/docs")
    path = page.locator(".opblock-summary-path", has_text="/registries/agents/{name}")
    expect(path.first).to_be_visible(timeout=15_000)
    assert page.locator(".opblock").count() >= 40
    page.locator(".opblock-summary", has_text="/registries/tools/{name}").first.click()
    expect(page.locator(".opblock.is-open .parameters-container").first).to_be_visible()
    assert elsewhere == []


def test_redoc_renders_the_operations_offline(offline: tuple[Page, list[str]],
                                              server: Server) -> None:
    page, elsewhere = offline
    page.goto(f"{server.url}/redoc")
    expect(page.locator("h1", has_text="meshctl").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("List agents").first).to_be_attached()
    assert elsewhere == []
