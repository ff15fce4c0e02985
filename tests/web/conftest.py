"""What every browser test shares: Debian's Chromium driven by Playwright (its own browser
download cannot reach the network), a page on the panel that fails the test on any page
error, and where screenshots go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from tests.servers import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=ARGS)
        yield launched
        launched.close()


@contextmanager
def panel_page(browser: Browser, url: str) -> Iterator[Page]:
    """The configuration panel at `url`, loaded (its first tab drawn); no page error may
    happen while it is open."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(url)
    expect(opened.locator("#panel-orchestrator fieldset.allowed")).to_be_visible()
    yield opened
    context.close()
    assert errors == []


def open_tab(page: Page, tab: str) -> None:
    page.click(f"#tab-{tab}")
    expect(page.locator(f"#panel-{tab}")).to_be_visible()


def choose(page: Page, checklist: str, values: list[str]) -> None:
    """Check exactly `values` in a reference checklist (`#field-allowed_tools`), unchecking
    the others."""
    expect(page.locator(checklist)).to_be_visible()  # the form is drawn
    boxes = page.locator(f"{checklist} .options input[type=checkbox]")
    for index in range(boxes.count()):
        box = boxes.nth(index)
        box.set_checked(box.get_attribute("value") in values)


def chosen(page: Page, checklist: str) -> list[str]:
    """The values a reference checklist has chosen, in its order: checked in view or not
    (a checklist shows a page of its values; panel.js keeps what is chosen in `picked`)."""
    found: list[str] = page.eval_on_selector(checklist, "box => [...box.picked]")
    return found


def commit_plan(page: Page) -> None:
    """Save in the plan a panel save shows first (plans.js): exactly that plan is committed."""
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("button.save")).to_be_enabled()
    dialog.locator("button.save").click()
    expect(dialog).to_be_hidden()


@contextmanager
def serving(registries: Path, *args: str) -> Iterator[Server]:
    """`meshctl serve` on `registries` (with `args`), stopped afterwards."""
    server = Server(registries, *args)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def served_panel(browser: Browser, registries: Path, path: str = "/") -> Iterator[Page]:
    """The panel at `path` of a server started for the block on `registries`."""
    with serving(registries) as server, panel_page(browser, f"{server.url}{path}") as page:
        yield page


def writes(page: Page) -> list[Request]:
    """Every request that would change something, recorded from now on."""
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request)
            if request.method in ("POST", "PUT", "DELETE") else None)
    return seen


def add_spare_tool(server: Server) -> None:
    """A tool nothing uses (`spare_tool`, fraud_rules' entry under another id), made
    through the API: one a delete is allowed for."""
    with server.client() as api:
        tool = api.get("/registries/tools/fraud_rules").json()
        tool.pop("resource_version", None)
        answer = api.post("/registries/tools",
                          json={**tool, "tool_id": "spare_tool", "name": "Spare tool"})
        assert answer.status_code == 201, answer.text
