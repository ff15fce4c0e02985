"""The panel of `meshctl serve --env prod` names its environment in the header of every page
(and in the window title), in a real browser (Debian's Chromium); without --env it names
none. Two servers of one project look alike otherwise."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.environments import make_project
from tests.servers import Server
from tests.web.conftest import SHOTS, panel_page


def test_the_header_names_the_environment_served(browser: Browser, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    server = Server(None, "--env", "prod", cwd=project)
    try:
        with panel_page(browser, f"{server.url}/config") as page:
            badge = page.locator("header #environment")
            expect(badge).to_have_text("prod")
            expect(badge).to_be_visible()
            expect(page).to_have_title("Configuration · prod · meshctl")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("header").screenshot(path=str(SHOTS / "header-env-prod.png"))
            for path in ("/plan", "/history", "/graph"):
                page.goto(f"{server.url}{path}")
                expect(page.locator("header #environment")).to_have_text("prod")
    finally:
        server.stop()


def test_without_an_environment_the_header_names_none(browser: Browser,
                                                      registries: Path) -> None:
    server = Server(registries)
    try:
        with panel_page(browser, f"{server.url}/config") as page:
            expect(page.locator("header .brand")).to_have_text("meshctl")
            expect(page.locator("#environment")).to_have_count(0)
            expect(page).to_have_title("Configuration · meshctl")
    finally:
        server.stop()
