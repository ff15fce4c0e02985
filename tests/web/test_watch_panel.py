"""The panel with `meshctl serve --watch`: the header badge on every page and the Plan
page's controller section follow the controller, in a real browser (Debian's Chromium)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.servers import Server
from tests.watch.test_controller import set_field
from tests.web.conftest import SHOTS


def test_the_badge_and_the_plan_page_show_the_controller(browser: Browser,
                                                         manifests: Path,
                                                         registries: Path) -> None:
    server = Server(registries, "--manifests", str(manifests), "--watch", "--debounce-ms",
                    "20")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/config")
        badge = page.locator("#watch-status")
        expect(badge).to_have_text("Watch: in sync at rev 0")
        page.goto(f"{server.url}/plan")
        detail = page.locator("#watch-detail")
        # named under the folder the manifests and the registries share, never the disk's
        expect(detail).to_contain_text("Following manifests; self-heal off.")
        path = manifests / "agents" / "fraud_agent.yaml"
        path.write_text(path.read_text().replace("- fraud_rules", "- fraud_rulez"))
        expect(badge).to_have_text("Watch: sync failed · 1 pending", timeout=15_000)
        expect(detail.locator("li").first).to_contain_text("manifests/agents/fraud_agent.yaml:")
        expect(detail).not_to_contain_text(str(manifests))
        expect(detail.locator("li").first).to_contain_text("unknown tool 'fraud_rulez'")
        expect(detail).to_contain_text("Live stays at the last good sync: revision 0.")
        expect(detail).to_contain_text("Agent/fraud_agent: update")
        # the plan below follows: the manifests no longer validate
        expect(page.locator("#page")).to_contain_text("do not validate", timeout=15_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "watch-failed-1280.png"))
        path.write_text(path.read_text().replace("- fraud_rulez", "- fraud_rules"))
        set_field(path, "max_iterations", "14")
        expect(badge).to_have_text("Watch: in sync at rev 1", timeout=15_000)
        page.click("text=Sync now")
        expect(detail).to_contain_text("(api)", timeout=15_000)
    finally:
        context.close()
        server.stop()
    assert errors == []
