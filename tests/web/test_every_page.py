"""Every page of the panel, each tab of the configuration page and its dialogs, at 1280
and 390 px, in Chromium against a real `meshctl serve` (issue 27's proof of quality):

- no console error, no page error and no failed request (one that fails to send, or an
  answer of 400 or more) while the page loads and is checked;
- axe-core (vendored in tests/web/vendor/axe-core/, injected into the page) finds no
  violation of impact "serious" or "critical"; each one is printed with its rule, what it
  asks for and the elements at fault;
- no page is wider than the screen, no table wider than its box (but rule tables);
- a full-page screenshot of each, `every-<page>-<width>.png` in tests/output/screenshots/.

The server runs on a copy of a whole AgentMesh checkout's registries (every tab has content)
with `--manifests` (their export) and `--watch`, and changes made through the API after
it started: the History page has revisions, the Plan page a drift to show, the header its
watch badge. A second server runs on the example registries alone (no settings documents,
no manifests, no watch loop): the pages must not fail a request there either."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect

from reconciler.web.pages import TABS
from tests.conftest import FIXTURE_REGISTRIES, FULL_REGISTRIES, copy_tree
from tests.servers import SCRIPT, Server
from tests.web.conftest import SHOTS, add_spare_tool, serving

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {1280: 900, 390: 844}  # width: height, a desktop and a phone
BLOCKING = ("serious", "critical")
# What the page's own script must have drawn before it is checked, past the generic wait
# below (every part of a tab filled, no request of the panel's under way).
DRAWN = {
    "orchestrator": "#panel-orchestrator fieldset.allowed",
    "agents": "#panel-agents table.view-table tbody tr",
    "tools": "#panel-tools table.view-table tbody tr",
    "profiles": "#panel-profiles table.view-table tbody tr",
    "workflows": "#panel-workflows table.view-table tbody tr",
    "accountability": "#panel-accountability #hitl-workflow",
    "governance": "#panel-governance details",
    "system": "#panel-system [data-form=system], #panel-system p.empty",
    "context": "#panel-context [data-part=pipeline] table",
    "integrations": "#panel-integrations [data-part=connectors] table",
}
# Third-party widgets on the API docs pages: their markup is Swagger UI's and ReDoc's
# (bundles of the fastapi-offline package), not the panel's, and cannot be fixed here
# without patching them (the contrast of their method badges and tabs, buttons nested in
# Swagger UI's summary rows). The page around each (language, title) is still checked.
NOT_OURS = {"docs": ["#swagger-ui"], "redoc": ["redoc"]}
# Tables that scroll sideways in their own box, with what is cut off: none may, but a table
# of rules whose columns are edited in place (a policy's rules, an integration's retry
# policies), which does so by design at 390 px.
CUT = """[...document.querySelectorAll("main table")]
  .filter(table => !table.closest(".field.records") && table.offsetParent !== null)
  .filter(table => table.parentElement.scrollWidth > table.parentElement.clientWidth + 1)
  .map(table => `${table.getAttribute("aria-label") || table.className}: ` +
                `${table.parentElement.scrollWidth - table.parentElement.clientWidth} px`)"""


@dataclass(frozen=True)
class View:
    """A page (and tab) to check: its name in reports and screenshots, its path, how to tell
    it is drawn, and what to do on it first (open a dialog...)."""

    name: str
    path: str
    drawn: str
    tab: str | None = None
    action: Callable[[Page], None] | None = field(default=None, compare=False)


def edit_agent(page: Page) -> None:
    page.click("#panel-agents button[aria-label='Edit fraud_agent']")
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#editor #field-allowed_tools")).to_be_visible()


def add_tool(page: Page) -> None:
    page.click("#panel-tools button.add")
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#editor .fields input").first).to_be_visible()


def edit_checkpoint(page: Page) -> None:
    page.locator("#panel-accountability button[aria-label^='Edit checkpoint']").first.click()
    expect(page.locator("#checkpoint-editor")).to_be_visible()
    expand(page, "#checkpoint-editor")


def expand(page: Page, where: str) -> None:
    """Open every <details> in `where`: what they hold is checked too."""
    page.eval_on_selector_all(f"{where} details", "all => all.forEach(d => { d.open = true; })")
    expect(page.locator(f"{where} details:not([open])")).to_have_count(0)


def save_plan(page: Page) -> None:  # a form's Save shows the plan first
    edit_agent(page)
    page.fill("#field-description", "Planned, not saved")
    page.click("#editor button.save")
    expect(page.locator("#plan-dialog")).to_be_visible()
    expect(page.locator("#plan-dialog .plan-body")).not_to_contain_text("Planning…")


def grant(page: Page) -> None:  # a denied tool, and the plan of granting it
    edit_agent(page)
    page.check("#field-allowed_tools input[value=policy_snapshot]")
    access = page.locator("#editor fieldset.access")
    expect(access.locator("li[data-tool=policy_snapshot].denied")).to_be_visible()
    access.locator("button.grant").click()
    expect(access.locator(".grant-plan .plan-change").first).to_be_visible()


def diagram(page: Page) -> None:
    page.locator("#panel-workflows button.diagram").first.click()
    expect(page.locator("#diagram-dialog")).to_be_visible()
    expect(page.locator("#diagram-dialog #workflow-title")).to_contain_text("Steps of")
    expect(page.locator("#diagram-dialog canvas").first).to_be_visible()


def delete_tool(page: Page) -> None:  # its plan first, then the question
    page.click("#panel-tools button[aria-label='Delete spare_tool']")
    expect(page.locator("#plan-dialog .summary")).to_have_text(
        "Plan: 0 to create, 0 to update, 1 to delete.")


def delete_used_tool(page: Page) -> None:  # refused: who uses it, and no failed request
    page.click("#panel-tools button[aria-label='Delete fraud_rules']")
    expect(page.locator("#confirm-text")).to_contain_text("used by")


def graph_of(page: Page) -> None:
    page.fill("#graph-search", "fraud_agent")
    expect(page.locator("#graph-suggestions [role=option]").first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#page canvas").first).to_be_visible()


def revert_plan(page: Page) -> None:
    page.locator("button[aria-label^='Revert this revision']").first.click()
    expect(page.locator("#undo-dialog .summary")).to_be_visible()


VIEWS = [
    *(View(f"config-{tab}", f"/config#{tab}", DRAWN[tab], tab=tab) for tab, _ in TABS),
    View("dialog-edit-agent", "/config#agents", DRAWN["agents"], tab="agents",
         action=edit_agent),
    View("dialog-add-tool", "/config#tools", DRAWN["tools"], tab="tools", action=add_tool),
    View("dialog-delete-tool", "/config#tools", DRAWN["tools"], tab="tools",
         action=delete_tool),
    View("dialog-delete-used-tool", "/config#tools", DRAWN["tools"], tab="tools",
         action=delete_used_tool),
    View("dialog-checkpoint", "/config#accountability", DRAWN["accountability"],
         tab="accountability", action=edit_checkpoint),
    View("dialog-save-plan", "/config#agents", DRAWN["agents"], tab="agents",
         action=save_plan),
    View("dialog-grant", "/config#agents", DRAWN["agents"], tab="agents", action=grant),
    View("dialog-diagram", "/config#workflows", DRAWN["workflows"], tab="workflows",
         action=diagram),
    *(View(f"config-{tab}-expanded", f"/config#{tab}", DRAWN[tab], tab=tab,
           action=lambda page, tab=tab: expand(page, f"#panel-{tab}"))
      for tab in ("governance", "accountability", "context", "integrations", "system")),
    View("plan", "/plan", "#page pre.plan"),
    View("history", "/history", "table.revisions"),
    View("dialog-revert", "/history", "table.revisions", action=revert_plan),
    View("graph", "/graph", "#graph-intro"),
    View("graph-neighbourhood", "/graph", "#graph-intro",
         action=lambda page: (graph_of(page), expand(page, "main"))),
    View("docs", "/docs", ".opblock-summary-path"),
    View("redoc", "/redoc", "redoc h1"),
]
# On a server with the example registries alone: what the pages do with less.
BARE = [
    *(View(f"bare-{tab}", f"/config#{tab}", DRAWN[tab], tab=tab) for tab, _ in TABS),
    View("bare-plan", "/plan", "#plan-not-configured"),
    View("bare-history", "/history", "#page > *"),
]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("every-page")
    registries = copy_tree(FULL_REGISTRIES, root / "registries")
    manifests = root / "manifests"
    subprocess.run([str(SCRIPT), "export", "--store", str(registries), "--out",
                    str(manifests)], check=True, capture_output=True)
    # No resync while the pages are checked (one would redraw the Plan and History pages).
    server = Server(registries, "--manifests", str(manifests), "--watch", "--interval", "3600")
    # The controller's first sync done (else it would undo the drift made below).
    page = browser.new_page()
    page.goto(f"{server.url}/plan")
    expect(page.locator("#watch-detail")).to_contain_text("Last sync", timeout=30_000)
    page.close()
    with server.client() as api:  # a revision, a drift from the manifests, a tool in no use
        agent = api.get("/registries/agents/fraud_agent").json()
        agent.pop("resource_version", None)
        answer = api.put("/registries/agents/fraud_agent",
                         json={**agent, "description": "Edited after the export"})
        assert answer.status_code == 200, answer.text
    add_spare_tool(server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path_factory.mktemp("bare") / "registries")
    with serving(registries) as server:
        yield server


class Watched:
    """What went wrong on a page while it was checked: console errors, page errors, requests
    that failed to send, answers of 400 or more."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.closing = False
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.note(f"page error: {error}"))
        page.on("requestfailed", self.failed)
        page.on("response", self.answered)

    def note(self, problem: str) -> None:
        if not self.closing:  # a stream cut by closing the page is no fault of the page
            self.problems.append(problem)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.note(f"console error: {message.text} ({message.location.get('url')})")

    def failed(self, request: Request) -> None:
        self.note(f"request failed: {request.method} {request.url}: {request.failure}")

    def answered(self, response: Response) -> None:
        if response.status >= 400:
            self.note(f"answer {response.status}: {response.request.method} {response.url}")


def settled(page: Page, view: View) -> None:
    """Wait until the page's own script has drawn what it shows: the view's element, every
    part of the open tab filled, no call of the panel's under way, no "Loading…" left."""
    expect(page.locator(view.drawn).first).to_be_attached()
    if view.tab is not None:
        expect(page.locator(f"#panel-{view.tab}")).to_be_visible()
        page.wait_for_function(
            """tab => {
                 const box = document.querySelector(`#panel-${tab} .content`);
                 return box.children.length > 0
                   && [...box.querySelectorAll("[data-part]")].every(p => p.children.length)
                   && !document.body.classList.contains("loading")
                   && !box.textContent.includes("Loading…");
               }""", arg=view.tab)
    else:
        expect(page.locator("#page", has_text="Loading…")).to_have_count(0)


def axe(page: Page, exclude: list[str]) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is."""
    page.add_script_tag(path=str(AXE))
    found: dict[str, Any] = page.evaluate(
        """exclude => axe.run({exclude: exclude.map(selector => [selector])},
                              {resultTypes: ["violations"]})""", exclude)
    return [v for v in found["violations"] if v["impact"] in BLOCKING]


def described(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} "
                     f"({violation['helpUrl']})")
        for node in violation["nodes"][:10]:
            lines.append(f"    {' '.join(map(str, node['target']))}: "
                         f"{node['failureSummary'].splitlines()[-1].strip()}")
    return "\n".join(lines)


def check(browser: Browser, server: Server, view: View, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    page = context.new_page()
    watched = Watched(page)
    try:
        page.goto(server.url + view.path)
        settled(page, view)
        if view.action is not None:
            view.action(page)
        violations = axe(page, NOT_OURS.get(view.name, []))
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        cut = page.evaluate(CUT)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"every-{view.name}-{width}.png"), full_page=True)
        problems = list(watched.problems)
    finally:
        watched.closing = True
        context.close()
    assert not violations, f"axe, {view.name} at {width} px:\n{described(violations)}"
    assert problems == [], f"{view.name} at {width} px:\n" + "\n".join(problems)
    assert wider <= 0, f"{view.name} is {wider} px wider than the screen at {width} px"
    assert cut == [], f"{view.name} at {width} px: tables wider than their box"


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("view", VIEWS, ids=[view.name for view in VIEWS])
def test_every_page_is_clean_and_accessible(browser: Browser, full: Server, view: View,
                                            width: int) -> None:
    check(browser, full, view, width)


@pytest.mark.parametrize("view", BARE, ids=[view.name for view in BARE])
def test_every_page_is_clean_on_a_bare_server(browser: Browser, bare: Server,
                                              view: View) -> None:
    check(browser, bare, view, 1280)
