"""DNS rebinding and cross-site writes as a browser makes them, against a real
`meshctl serve`: Chromium told that evil.example is 127.0.0.1 (what a rebinding DNS server
makes it believe) gets a refusal instead of the panel, a form on another site that posts a
rollback to 127.0.0.1 changes nothing, and the panel opened as localhost still loads and
saves. (The same with forged headers: tests/api/test_rebinding.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, Route, expect, sync_playwright

from tests.servers import Server
from tests.web.conftest import ARGS, CHROMIUM, commit_plan, panel_page

EVIL = "evil.example"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:  # one per thread: both browsers come from it
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def rebound_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium whose name resolution sends evil.example to this machine."""
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=[*ARGS, f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"])
    yield launched
    launched.close()


def test_a_page_rebound_to_the_server_is_refused(rebound_browser: Browser,
                                                 server: Server) -> None:
    context = rebound_browser.new_context()
    page = context.new_page()
    answer = page.goto(f"http://{EVIL}:{server.port}/config")
    assert answer is not None and answer.status == 400
    expect(page.locator("body")).to_contain_text(f"--allowed-host {EVIL}")
    # Its scripts get the same answer for a read and a write of the registries.
    statuses = page.evaluate("""async () => {
        const read = await fetch('/registries/agents');
        const write = await fetch('/registries/reload', {method: 'POST'});
        return [read.status, write.status];
    }""")
    assert statuses == [400, 400]
    context.close()
    with server.client() as api:
        assert api.get("/registries/history").json()["total_count"] == 0


def test_a_form_on_another_site_cannot_roll_back(browser: Browser, server: Server) -> None:
    with server.client() as api:
        first = api.get("/registries/tools/fraud_rules").json()
        first.pop("resource_version")
        for revision in (1, 2):
            changed = api.put("/registries/tools/fraud_rules",
                              json={**first, "description": f"revision {revision}"})
            assert changed.status_code == 200
    attack = (f'<form method="post" action="{server.url}/registries/rollback/1">'
              '<button>win a prize</button></form>')

    def attacker_site(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=attack)

    context = browser.new_context()
    page = context.new_page()
    page.route("http://attacker.example/**", attacker_site)
    page.goto("http://attacker.example/")
    with page.expect_navigation():
        page.click("button")
    expect(page.locator("body")).to_contain_text("is refused")
    context.close()
    with server.client() as api:
        assert api.get("/registries/history").json()["total_count"] == 2
        assert api.get("/registries/tools/fraud_rules").json()["description"] == "revision 2"


def test_the_panel_opened_as_localhost_loads_and_saves(browser: Browser,
                                                        server: Server) -> None:
    with panel_page(browser, f"http://localhost:{server.port}/config") as page:
        page.fill("#orch-max_iterations", "12")  # unlisting an agent a workflow runs is A002
        page.click("#panel-orchestrator button.save")
        commit_plan(page)  # the plan, then its commit: both writes from the same origin
        expect(page.locator("#status")).to_have_text("Saved the orchestrator.")
    history = httpx.get(f"{server.url}/registries/history").json()
    assert history["total_count"] == 1 and history["revisions"][0]["source"] == "api"
