"""The Graph page in Chromium (issue 27, "a graph that reads"): it opens on a search box,
draws one resource's neighbourhood with Cytoscape.js (counted through the page), tells
direct from transitive dependents, filters by kind, lists what it draws as buttons for the
keyboard, fits 390 px, and draws a workflow's steps. Against a real `meshctl serve` on the
full example mesh (every kind); no console error, no failed request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import FULL_REGISTRIES, copy_tree
from tests.servers import Server
from tests.web.conftest import SHOTS, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: these tests only read."""
    registries = copy_tree(FULL_REGISTRIES, tmp_path_factory.mktemp("graph") / "registries")
    with serving(registries) as running:
        yield running


@contextmanager
def graph_page(browser: Browser, server: Server, hash_: str = "",
               width: int = 1280) -> Iterator[tuple[Page, list[str]]]:
    """The Graph page (at `#hash_`, drawn), and the requests it made; afterwards, no
    console error, page error or failed request may have happened."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.on("request", lambda r: requests.append(r.url.removeprefix(server.url)))
    page.goto(f"{server.url}/graph" + (f"#{hash_}" if hash_ else ""))
    if hash_:
        drawn(page, hash_)
    else:
        expect(page.locator("#graph-intro")).to_be_visible()
    yield page, requests
    context.close()
    assert problems == []


def drawn(page: Page, focus: str) -> None:
    expect(page.locator(f"#page[data-drawn='{focus}']")).to_have_count(1)


def count(page: Page, selector: str = "node") -> int:
    found: int = page.evaluate(f"window.meshctlGraph.cy.elements({selector!r}).length")
    return found


def shown(page: Page) -> set[str]:
    found: list[str] = page.evaluate("window.meshctlGraph.cy.nodes().map(n => n.id())")
    return set(found)


def neighbourhood(server: Server, **params: Any) -> dict[str, Any]:
    with server.client() as api:
        answer: dict[str, Any] = api.get("/registries/graph/neighbourhood",
                                         params=params).json()
        return answer


def test_it_opens_on_a_search_box_and_draws_what_is_picked(browser: Browser,
                                                            server: Server) -> None:
    with graph_page(browser, server) as (page, requests):
        search = page.locator("#graph-search")
        expect(search).to_be_focused()
        expect(page.locator("#graph-canvas")).to_have_count(0)
        page.keyboard.type("fraud_a")
        options = page.locator("#graph-suggestions [role=option]")
        expect(options).to_have_count(1)
        expect(options.first).to_contain_text("fraud_agent")
        expect(search).to_have_attribute("aria-expanded", "true")
        expect(search).to_have_attribute("aria-activedescendant", "graph-option-0")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "graph-search-1280.png"))
        page.keyboard.press("Enter")
        drawn(page, "agent/fraud_agent")
        assert page.url.endswith("/graph#agent/fraud_agent")
        expected = neighbourhood(server, kind="agent", name="fraud_agent", hops=1)
        assert count(page) == len(expected["nodes"]) == 10
        assert shown(page) == {node["id"] for node in expected["nodes"]}
        assert count(page, "node.focus") == 1
        # The whole mesh is never asked for: the search and the neighbourhood are served.
        assert not [url for url in requests if url.split("?")[0] == "/registries/graph"]
        assert any(url.startswith("/registries/graph/search?") for url in requests)
        # Edges are labelled with the field that refers.
        labels: list[str] = page.evaluate(
            "window.meshctlGraph.cy.edges().map(e => e.data('label'))")
        assert "allowed_tools" in labels and "model_profile_id" in labels
        page.screenshot(path=str(SHOTS / "graph-neighbourhood-1280.png"), full_page=True)
        # Typing a kind's name with arrows and Enter picks the one chosen.
        search.fill("")
        search.type("gw_")
        expect(options).to_have_count(1)
        expect(options.first).to_contain_text("gw_oauth")
        page.keyboard.press("ArrowDown")  # wraps around the one option
        page.keyboard.press("Enter")
        drawn(page, "auth-profile/gw_oauth")


def test_direct_and_transitive_dependents_are_told_apart(browser: Browser,
                                                         server: Server) -> None:
    with graph_page(browser, server, "tool/fraud_rules") as (page, _):
        direct = shown(page)
        assert "agent/fraud_agent" in direct and "workflow/claims_triage" not in direct
        assert count(page, "node.transitive") == 0
        expect(page.locator("#graph-summary")).to_contain_text("direct dependent")
        page.check("#graph-transitive")
        expect(page.locator("#graph-nodes .transitive-dependents li")).not_to_have_count(0)
        drawn(page, "tool/fraud_rules")
        every = shown(page)
        expected = neighbourhood(server, kind="tool", name="fraud_rules", transitive="true")
        assert every == {node["id"] for node in expected["nodes"]} and every > direct
        assert "workflow/claims_triage" in every
        transitive = {n["id"] for n in expected["nodes"] if not n["direct"]}
        assert set(page.evaluate("window.meshctlGraph.cy.nodes('.transitive')"
                                 ".map(n => n.id())")) == transitive
        assert count(page, "edge.transitive") > 0 and count(page, "edge.direct") > 0
        dashed = page.evaluate("window.meshctlGraph.cy.edges('.transitive')[0]"
                               ".style('line-style')")
        assert dashed == "dashed"
        expect(page.locator("#graph-nodes .transitive-dependents")).to_contain_text(
            "claims_triage")
        expect(page.locator("#graph-summary")).to_contain_text("transitive dependent")
        page.uncheck("#graph-transitive")
        expect(page.locator("#graph-nodes .transitive-dependents")).to_have_count(0)
        assert shown(page) == direct
        # More hops reach further, marked as not direct.
        page.select_option("#graph-hops", "2")
        expect(page.locator("#graph-nodes .transitive-dependents li")).not_to_have_count(0)
        assert shown(page) > direct


def test_the_kind_filter(browser: Browser, server: Server) -> None:
    with graph_page(browser, server, "agent/fraud_agent") as (page, _):
        assert any(id_.startswith("governance-policy/") for id_ in shown(page))
        page.click("#graph-controls details.graph-kinds summary")
        boxes = page.locator("#graph-kinds input[name=kind]")
        expect(boxes).to_have_count(13)
        expect(page.locator("#graph-kinds")).to_contain_text("governance policy")
        page.uncheck("#graph-kinds input[value=governance-policy]")
        expect(page.locator("#graph-nodes")).not_to_contain_text("governance policy")
        drawn(page, "agent/fraud_agent")
        assert not any(id_.startswith("governance-policy/") for id_ in shown(page))
        assert "tool/fraud_rules" in shown(page)
        page.uncheck("#graph-kinds input[value=tool]")
        expect(page.locator("#graph-nodes")).not_to_contain_text("fraud_rules")
        assert not any(id_.startswith("tool/") for id_ in shown(page))


def test_the_list_of_shown_resources_is_how_the_keyboard_moves(browser: Browser,
                                                                server: Server) -> None:
    with graph_page(browser, server, "agent/fraud_agent") as (page, _):
        buttons = page.locator("#graph-nodes button")
        expect(buttons).to_have_count(count(page) - 1)  # all but the focus
        tool = page.locator("#graph-nodes button[data-id='tool/fraud_rules']")
        expect(tool).to_have_accessible_name("Show the neighbourhood of tool fraud_rules")
        expect(page.locator("#graph-nodes li[data-id='tool/fraud_rules']")).to_contain_text(
            "via allowed_tools")
        tool.focus()
        page.keyboard.press("Enter")
        drawn(page, "tool/fraud_rules")
        expect(page.locator("#graph-nodes")).to_contain_text("fraud_agent")
        page.go_back()
        drawn(page, "agent/fraud_agent")
        canvas = page.locator("#graph-canvas")
        expect(canvas).to_have_attribute("role", "img")
        assert "the list below" in (canvas.get_attribute("aria-label") or "")


def test_at_390_px_the_canvas_fits_and_the_controls_wrap(browser: Browser,
                                                         server: Server) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for focus in ("agent/fraud_agent", "workflow/claims_triage"):
        with graph_page(browser, server, focus, width=390) as (page, _):
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            box = page.locator("#graph-canvas").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            for control in ("#graph-search", "#graph-hops", "#graph-transitive"):
                place = page.locator(control).bounding_box()
                assert place is not None and place["x"] + place["width"] <= 390, control
            # Every node is drawn inside the canvas.
            inside = page.evaluate("""() => {
              const cy = window.meshctlGraph.cy, b = cy.elements().renderedBoundingBox();
              return b.x1 >= -1 && b.x2 <= cy.width() + 1 && b.y1 >= -1 && b.y2 <= cy.height() + 1;
            }""")
            assert inside
            name = "neighbourhood" if focus.startswith("agent") else "workflow"
            page.screenshot(path=str(SHOTS / f"graph-{name}-390.png"), full_page=True)
    with graph_page(browser, server, width=390) as (page, _):
        expect(page.locator("#graph-search")).to_be_focused()  # typing goes there
        page.keyboard.type("claim")
        expect(page.locator("#graph-suggestions [role=option]")).not_to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(SHOTS / "graph-search-390.png"))


def test_a_workflows_steps_and_transitions_are_drawn(browser: Browser,
                                                     server: Server) -> None:
    with graph_page(browser, server, "workflow/claims_triage") as (page, _):
        section = page.locator("#workflow-diagram")
        expect(section.locator("h2")).to_have_text("Steps of Claims Triage Workflow (advisory)")
        # start, 6 steps, 3 ends, 3 HITL checkpoints
        nodes = page.evaluate("window.meshctlGraph.flow.nodes().length")
        assert nodes == 1 + 6 + 3 + 3
        moves: list[list[str]] = page.evaluate(
            "window.meshctlGraph.flow.edges().map(e => [e.source().id(), e.target().id(), "
            "e.data('label')])")
        assert ["step:intake", "step:coverage", "success"] in moves
        assert ["step:intake", "end:terminate_with_error", "failure"] in moves
        assert ["step:intake", "hitl:2", "after"] in moves
        failure = page.evaluate("window.meshctlGraph.flow.edges('.failure')[0]"
                                ".style('line-style')")
        assert failure == "dashed"
        steps = section.locator("ol.workflow-steps > li")
        expect(steps).to_have_count(6)
        expect(steps.nth(0)).to_contain_text("on success → coverage")
        expect(section.locator(".workflow-checkpoints")).to_contain_text(
            "final_approval (approval, role approver), before complete")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "graph-workflow-1280.png"), full_page=True)
        # A step's agent is a button to its neighbourhood.
        section.get_by_role("button", name="Show the neighbourhood of agent fraud_agent").click()
        drawn(page, "agent/fraud_agent")
        expect(page.locator("#workflow-diagram")).to_have_count(0)
    with graph_page(browser, server, "integration-workflow/claim_fnol_sync") as (page, _):
        expect(page.locator("#workflow-diagram ol.workflow-steps > li")).to_have_count(3)
        assert page.evaluate("window.meshctlGraph.flow.nodes().length") == 1 + 3 + 1


def test_the_vendored_libraries_are_served_with_their_licences(server: Server) -> None:
    with httpx.Client(base_url=server.url) as api:
        for path in ("/static/vendor/cytoscape/cytoscape.min.js",
                     "/static/vendor/cytoscape-dagre/cytoscape-dagre.min.js",
                     "/static/vendor/cytoscape/LICENSE",
                     "/static/vendor/cytoscape-dagre/LICENSE",
                     "/static/vendor/cytoscape-dagre/LICENSE.dagrejs-dagre"):
            assert api.get(path).status_code == 200, path
    vendor = Path(__file__).resolve().parents[2] / "reconciler" / "web" / "static" / "vendor"
    readme = (vendor / "README.md").read_text()
    assert "| 3.35.0 |" in readme and "| 4.0.1 |" in readme
