"""The History page that is safe (issue 27, finding 1 and the history parts of 8), in
Chromium against a real `meshctl serve`: "Revert this revision" undoes that revision alone,
"Restore to here" returns to the state right after it, both show their plan (a coloured,
labelled diff per resource) in a dialog and commit exactly that plan (no browser confirm);
a revert a later revision conflicts with is refused, naming both; the new revisions are
labelled with their target ("revert of r2", "restore to r1") across reloads; revision 0 is
the state before the first change; times are relative with the exact time on hover; and no
page requests anything that fails when the server has no manifests and no watch loop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Response, expect

from tests.servers import Server
from tests.web.conftest import SHOTS


@pytest.fixture
def server(registries: Path) -> Iterator[Server]:
    running = Server(registries)
    yield running
    running.stop()


def agent(server: Server, name: str) -> dict[str, Any]:
    with server.client() as api:
        found: dict[str, Any] = api.get(f"/registries/agents/{name}").json()
    found.pop("resource_version", None)
    return found


def put(server: Server, name: str, **fields: Any) -> int:
    """One revision through the API: agent `name` with `fields` changed; its number."""
    with server.client() as api:
        answer = api.put(f"/registries/agents/{name}", json={**agent(server, name), **fields})
        assert answer.status_code == 200, answer.text
        head: int = api.get("/health").json()["revision"]
        return head


def four(server: Server) -> dict[str, dict[str, Any]]:
    """Revisions 1-4 (fraud, severity, explainability, coverage); the agents before them."""
    names = ["fraud_agent", "severity_agent", "explainability_agent", "coverage_agent"]
    before = {name: agent(server, name) for name in names}
    put(server, "fraud_agent", description="Edited in revision 1")
    put(server, "severity_agent", max_iterations=8)
    put(server, "explainability_agent", max_iterations=7)
    put(server, "coverage_agent", description="Edited in revision 4")
    return before


def revisions(server: Server) -> list[dict[str, Any]]:
    with server.client() as api:
        found: list[dict[str, Any]] = api.get("/registries/history").json()["revisions"]
    return found


@contextmanager
def watched(browser: Browser, width: int = 1280) -> Iterator[tuple[Page, list[str]]]:
    """A page that fails the test on a page error, a console error or a browser dialog
    (confirm/alert); `failed` collects every answer of 400 or more, for the test to judge."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def dialog(opened: Dialog) -> None:
        errors.append(f"browser dialog: {opened.message}")
        opened.dismiss()

    def answered(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.request.method} {response.url} {response.status}")

    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", console)
    page.on("dialog", dialog)
    page.on("response", answered)
    try:
        yield page, failed
    finally:
        context.close()
    # A deliberately refused request (412) logs a console line; the test checks `failed`.
    assert [e for e in errors if "status of 412" not in e] == []


def open_history(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/history")
    expect(page.locator("table.revisions")).to_be_visible()


def test_revert_this_revision_shows_its_plan_then_undoes_it_alone(
        browser: Browser, server: Server) -> None:
    before = four(server)
    with watched(browser) as (page, failed):
        open_history(page, server)
        page.click("button[aria-label='Revert this revision (r2)']")
        dialog = page.locator("#undo-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("h2")).to_have_text("Revert revision 2")
        expect(dialog.locator(".summary")).to_have_text(
            "Plan: 0 to create, 1 to update, 0 to delete.")
        diff = dialog.locator("section.diff")
        expect(diff).to_have_count(1)
        expect(diff.locator("h3")).to_have_text("update Agent severity_agent")
        expect(diff.locator(".fields")).to_have_text("Fields: max_iterations")
        expect(diff.locator(".legend")).to_contain_text("− before")
        expect(diff.locator(".line.del")).to_contain_text(['"max_iterations": 8'])
        expect(diff.locator("pre .line.add")).to_contain_text(
            [f'"max_iterations": {before["severity_agent"]["max_iterations"]}'])
        # Colours: the before line red, the after line green; a long line wraps.
        assert diff.locator("pre .line.del").first.evaluate(
            "e => getComputedStyle(e).backgroundColor") == "rgb(255, 235, 233)"
        assert diff.locator("pre .line.add").first.evaluate(
            "e => getComputedStyle(e).backgroundColor") == "rgb(218, 251, 225)"
        assert diff.locator("pre").evaluate("e => getComputedStyle(e).whiteSpace") == \
            "pre-wrap"
        assert len(revisions(server)) == 4  # showing the plan wrote nothing
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "history-revert-plan-1280.png"))
        dialog.locator("button.save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Revision 5: reverted r2.")
        assert agent(server, "severity_agent") == before["severity_agent"]
        assert agent(server, "fraud_agent")["description"] == "Edited in revision 1"
        assert agent(server, "coverage_agent")["description"] == "Edited in revision 4"
        expect(page.locator("tr[data-revision='5'] .badge.undo")).to_have_text("revert of r2")
        page.reload()  # the label is the revision's own record, not the page's memory
        expect(page.locator("tr[data-revision='5'] .badge.undo")).to_have_text("revert of r2")
        assert failed == []
    assert revisions(server)[-1]["undo"] == {"action": "revert", "revision": 2}


def test_restore_to_here_shows_every_later_change_then_commits_it(
        browser: Browser, server: Server) -> None:
    before = four(server)
    with watched(browser) as (page, failed):
        open_history(page, server)
        expect(page.locator("tr[data-revision='4'] button",
                            has_text="Restore to here")).to_have_count(0)  # the newest
        page.click("button[aria-label='Restore to here (r1)']")
        dialog = page.locator("#undo-dialog")
        expect(dialog.locator("h2")).to_have_text("Restore to revision 1")
        expect(dialog.locator(".intro")).to_contain_text("right after revision 1")
        expect(dialog.locator("section.diff")).to_have_count(3)
        names = sorted(dialog.locator("section.diff h3 code").all_inner_texts())
        assert names == ["coverage_agent", "explainability_agent", "severity_agent"]
        dialog.locator("button.save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Revision 5: restored to r1.")
        expect(page.locator("tr[data-revision='5'] .badge.undo")).to_have_text("restore to r1")
        for name in ("severity_agent", "explainability_agent", "coverage_agent"):
            assert agent(server, name) == before[name]
        assert agent(server, "fraud_agent")["description"] == "Edited in revision 1"
        assert failed == []


def test_a_revert_a_later_revision_conflicts_with_is_refused_naming_both(
        browser: Browser, server: Server) -> None:
    four(server)
    put(server, "fraud_agent", description="Edited again in revision 5")
    with watched(browser) as (page, failed):
        open_history(page, server)
        page.click("button[aria-label='Revert this revision (r1)']")
        dialog = page.locator("#undo-dialog")
        expect(dialog.locator(".refusal")).to_contain_text(
            "revision 1 cannot be reverted alone: Agent fraud_agent was changed again in "
            "revision 5")
        expect(dialog.locator("button.save")).to_be_disabled()
        expect(dialog.locator("button", has_text="Close")).to_be_visible()
        dialog.locator("button", has_text="Close").click()
        expect(dialog).to_be_hidden()
        assert failed == []
    assert len(revisions(server)) == 5


def test_revision_zero_restores_the_state_before_the_first_change(
        browser: Browser, server: Server, registries: Path) -> None:
    with watched(browser) as (page, failed):
        open_history(page, server)
        expect(page.locator("tr[data-revision='0']")).to_have_count(0)  # no history yet
        files = {path.name: path.read_bytes() for path in registries.glob("*.json")}
        before = four(server)
        page.reload()
        origin = page.locator("tr[data-revision='0']")
        expect(origin).to_contain_text("the state before the first recorded change")
        expect(origin.locator("button")).to_have_text(["Restore to here"])
        origin.locator("button").click()
        dialog = page.locator("#undo-dialog")
        expect(dialog.locator("h2")).to_have_text(
            "Restore to revision 0 (before the first change)")
        expect(dialog.locator("section.diff")).to_have_count(4)
        dialog.locator("button.save").click()
        expect(page.locator("#status")).to_have_text("Revision 5: restored to r0.")
        expect(page.locator("tr[data-revision='5'] .badge.undo")).to_have_text("restore to r0")
        for name, entry in before.items():
            assert agent(server, name) == entry
        after = {path.name: path.read_bytes() for path in registries.glob("*.json")}
        assert set(after) == set(files)
        assert failed == []


def test_a_plan_gone_stale_is_not_committed_and_the_new_one_is_offered(
        browser: Browser, server: Server) -> None:
    four(server)
    with watched(browser) as (page, failed):
        open_history(page, server)
        page.click("button[aria-label='Revert this revision (r2)']")
        dialog = page.locator("#undo-dialog")
        expect(dialog.locator("section.diff")).to_have_count(1)
        put(server, "explainability_agent", description="Meanwhile")  # revision 5
        dialog.locator("button.save").click()
        expect(dialog.locator("[role=alert]")).to_contain_text(
            "The registries changed since this plan was shown; nothing was written.")
        assert len(revisions(server)) == 5
        dialog.locator("button", has_text="Show the new plan").click()
        expect(dialog.locator("button.save")).to_be_enabled()
        dialog.locator("button.save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Revision 6: reverted r2.")
        assert [f.split()[0] + " " + f.split()[-1] for f in failed] == ["POST 412"]
    assert revisions(server)[-1]["undo"] == {"action": "revert", "revision": 2}


def test_a_revision_made_elsewhere_appears_without_a_reload(browser: Browser,
                                                           server: Server) -> None:
    put(server, "fraud_agent", description="first")
    with watched(browser) as (page, failed):
        open_history(page, server)
        page.click("button[aria-label='Changes of revision 1']")
        expect(page.locator("#revision-diff h2")).to_have_text("Revision 1")
        put(server, "severity_agent", max_iterations=8)
        expect(page.locator("tr[data-revision='2']")).to_contain_text("Agent/severity_agent")
        expect(page.locator("#page > p").first).to_have_text("2 revisions")
        expect(page.locator("#revision-diff h2")).to_have_text("Revision 1")  # still shown
        assert failed == []


def test_times_are_relative_with_the_exact_time_on_hover(browser: Browser, server: Server,
                                                         registries: Path) -> None:
    put(server, "fraud_agent", description="now")
    put(server, "fraud_agent", description="later")
    # Revision 1 made three minutes ago (its record says when it was committed).
    record = registries / ".meshctl" / "history" / "1.json"
    earlier = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 185))
    record.write_text(json.dumps({**json.loads(record.read_text()), "time": earlier}))
    with watched(browser) as (page, failed):
        open_history(page, server)
        shown = page.locator("tr[data-revision='1'] time")
        expect(shown).to_have_text("3 minutes ago")
        expect(shown).to_have_attribute("datetime", earlier)
        assert earlier in (shown.get_attribute("title") or "")
        expect(page.locator("tr[data-revision='2'] time")).to_have_text("just now")
        assert failed == []


def test_the_revision_diff_is_coloured_labelled_and_wrapped(browser: Browser,
                                                           server: Server) -> None:
    long = "A very long description " * 20
    put(server, "fraud_agent", description=long)
    with watched(browser, width=390) as (page, failed):
        open_history(page, server)
        page.click("button[aria-label='Changes of revision 1']")
        diff = page.locator("#revision-diff section.diff")
        expect(diff.locator("h3")).to_have_text("updated Agent fraud_agent")
        expect(diff.locator(".fields")).to_have_text("Fields: description")
        wide = diff.locator("pre").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        assert wide, "the diff is cut off (it scrolls sideways) instead of wrapping"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert failed == []


def test_screenshots_of_the_plan_dialog_at_1280_and_390(browser: Browser,
                                                         server: Server) -> None:
    four(server)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        with watched(browser, width=width) as (page, failed):
            open_history(page, server)
            page.screenshot(path=str(SHOTS / f"history-{width}.png"), full_page=True)
            page.click("button[aria-label='Restore to here (r1)']")
            expect(page.locator("#undo-dialog section.diff")).to_have_count(3)
            page.screenshot(path=str(SHOTS / f"history-restore-plan-{width}.png"))
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert failed == []


@pytest.mark.parametrize("path", ["/config", "/plan", "/history", "/graph"])
def test_no_page_requests_anything_that_fails_without_manifests_or_watch(
        browser: Browser, server: Server, path: str) -> None:
    with watched(browser) as (page, failed):
        page.goto(f"{server.url}{path}")
        if path == "/config":  # its lists drawn (it keeps an event stream open: never idle)
            expect(page.locator("#panel-orchestrator fieldset.allowed")).to_be_visible()
        else:
            expect(page.locator("#page")).not_to_contain_text("Loading")
        page.wait_for_timeout(1500)  # the watch badge's first poll, and any late request
        if path == "/plan":  # an explanation of what the page needs, not a red error
            expect(page.locator("#plan-not-configured")).to_be_visible()
            expect(page.locator("#page")).to_contain_text("meshctl serve --manifests")
            expect(page.locator("#page .error")).to_have_count(0)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "plan-without-manifests.png"))
        assert failed == []
    with httpx.Client(base_url=server.url) as api:
        assert json.loads(api.get("/registries/plan").text)["configured"] is False
