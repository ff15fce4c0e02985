"""Benchmark the panel's first open, its pickers and its list tabs at 10,000 agents (issue 27: "a
tab shows its first page in under 300 ms"), in Chromium, against a real `meshctl serve`.

    .venv/bin/python bench/panel.py [--agents 10000] [--keep DIR] [--repeat 5] [--no-readme]

The mesh: bench/generate_mesh.py's (`--agents`, its default tools, profiles and workflows),
generated into DIR (a temporary folder unless `--keep DIR`, reused when there) and served by
`meshctl serve --registries DIR/registries` (a copy, so the mesh stays as generated).

* API: `GET /registries/views/agents?limit=50` timed with a kept-alive client: the first
  request after the server started (the table of every agent's columns is built then, once
  per revision) and then warm (the median of `--repeat`): the first page, a search
  (`q=gpt4`), a sort (`sort=model&order=desc`, `sort=runs`), a page deep in the list
  (`offset=5000`), and the first page right after a write (one agent changed: the rows whose
  sources did not change are carried over).
* Chromium, the panel's first tab (Orchestrator) on a fresh server: the panel opened at
  `/config`, from the navigation's start to its allowed agents painted, with the load's
  phases and every request it made (bytes, server time) from the Resource Timing entries;
  opened again in new pages; the tab drawn afresh on a click; a search of its allowed
  agents, an agent's form opened (its pickers) and a search of its Allowed Tools.
* Chromium (Debian's, headless, driven by Playwright): the panel opened at `/config#agents`
  on the fresh server (navigation start to the first page painted); then opened on the
  Tools tab and a click on the Agents tab, timed in the page from the click to its first
  page of rows drawn and painted (the next animation frame), once and again (`--repeat`,
  switching to Tools and back each time); a search typed in the box (its 150 ms pause
  after typing included); a click on a column header to sort; Next page.

Replaces the "## Panel lists (issue 27)" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Panel lists (issue 27)"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROWS = "#panel-agents tbody tr"

# In the page: run `act` (a function of no arguments), then wait until `done()` holds, and
# answer the milliseconds from before `act` to the animation frame after `done()`.
TIMED = """async ([act, done]) => {
  const start = performance.now();
  (new Function(act))();
  const ready = new Function(`return (${done})`);
  while (!ready()) {
    if (performance.now() - start > 60000) throw new Error(`not done in 60 s: ${done}`);
    await new Promise(resolve => setTimeout(resolve, 2));
  }
  await new Promise(resolve => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mesh(agents: int, keep: Path | None) -> Path:
    out = keep or Path(tempfile.mkdtemp(prefix="panel-mesh-"))
    if not (out / "registries" / "agent_registry.json").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate_mesh.py"), "--agents",
                        str(agents), "--out", str(out)], check=True)
    return out


class Serving:
    def __init__(self, registries: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "meshctl"), "serve", "--registries",
             str(registries), "--port", str(self.port)], stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"the server did not start: {self.stop()}")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.log.seek(0)
        return self.log.read()[-2000:]


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def api_times(url: str, repeat: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        def get(query: str) -> Callable[[], Any]:
            def call() -> Any:
                answer = client.get(f"/registries/views/agents?{query}")
                answer.raise_for_status()
                return answer.json()
            return call

        found["first request after start"] = timed(get("limit=50"))
        for name, query in (("first page", "limit=50"), ("search q=gpt4", "q=gpt4&limit=50"),
                            ("sort by model, desc", "sort=model&order=desc&limit=50"),
                            ("sort by can run", "sort=runs&limit=50"),
                            ("page at offset 5000", "offset=5000&limit=50")):
            found[name] = median([timed(get(query)) for _ in range(repeat)])
        answer = get("limit=50")()
        found["rows"], found["total"] = len(answer["rows"]), answer["total_count"]
        found["bytes"] = len(client.get("/registries/views/agents?limit=50").content)
        after = []
        for number in range(repeat):
            name = answer["rows"][1 + number]["id"]
            entry = client.get(f"/registries/agents/{name}").json()
            entry.pop("resource_version")
            entry["max_iterations"] = 7 + number
            client.put(f"/registries/agents/{name}", json=entry).raise_for_status()
            after.append(timed(get("limit=50")))
        found["first page after a write"] = median(after)
    return found


def in_page(page: Page, act: str, done: str) -> float:
    result: float = page.evaluate(TIMED, [act, done])
    return result


# Before the page's scripts run: note when the Orchestrator tab's first content (its
# allowed agents) is in the document and the frame after it, painted.
MARK_DRAWN = """
new MutationObserver((_, observer) => {
  if (document.querySelector('#panel-orchestrator fieldset.allowed .option')) {
    observer.disconnect();
    window.__drawn = performance.now();
    requestAnimationFrame(() => { window.__painted = performance.now(); });
  }
}).observe(document, {subtree: true, childList: true});
"""
# In the page, once painted: the navigation's phases and every request it made, from the
# Resource Timing entries (ms from the navigation's start; bytes as sent, uncompressed).
LOAD_PHASES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const requests = performance.getEntriesByType('resource').map(entry => ({
    path: entry.name.replace(location.origin, ''), start: entry.startTime,
    end: entry.responseEnd, bytes: entry.decodedBodySize,
    server: entry.responseStart - entry.requestStart}));
  return {page: nav.responseEnd, page_bytes: nav.decodedBodySize,
          dom_ready: nav.domContentLoadedEventEnd, drawn: window.__drawn,
          painted: window.__painted, requests};
}"""


def cold_open(browser: Any, url: str) -> dict[str, Any]:
    """The panel opened at /config (the Orchestrator tab first) in a new page: when its
    allowed agents are painted, and what the load did (phases, requests, bytes)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(MARK_DRAWN)
    page.goto(f"{url}/config")
    page.wait_for_function("window.__painted !== undefined", timeout=120_000)
    found: dict[str, Any] = page.evaluate(LOAD_PHASES)
    page.close()
    return found


def open_times(browser: Any, url: str, repeat: int) -> dict[str, Any]:
    """The cold open (the server's first page) and then again (`repeat` new pages)."""
    first = cold_open(browser, url)
    time.sleep(3)  # the list tables the open asked for are built meanwhile, on their thread
    again = [cold_open(browser, url) for _ in range(repeat)]
    api = [r for r in first["requests"] if "/registries/" in r["path"]
           and "/events" not in r["path"]]
    static = [r for r in first["requests"] if r["path"].startswith("/static/")]
    return {"cold": first, "again": median([load["painted"] for load in again]),
            "again dom ready": median([load["dom_ready"] for load in again]),
            "api requests": api, "static requests": static,
            "static bytes": sum(r["bytes"] for r in static),
            "api bytes": sum(r["bytes"] for r in api)}


def picker_times(page: Page, repeat: int) -> dict[str, Any]:
    """The Orchestrator tab drawn again on a click, a search of its allowed agents, an
    agent's form opened and a search of its Allowed Tools (each with the 150 ms pause)."""
    found: dict[str, Any] = {}
    allowed = "#panel-orchestrator fieldset.allowed"
    clicked = []
    for _ in range(repeat):
        in_page(page, "document.querySelector('#tab-tools').click()",
                "!document.querySelector('#panel-tools').hidden && "
                "document.querySelectorAll('#panel-tools tbody tr').length > 0")
        page.evaluate("document.querySelector('#panel-orchestrator .content')"
                      ".replaceChildren()")
        clicked.append(in_page(page, "document.querySelector('#tab-orchestrator').click()",
                               f"document.querySelector('{allowed} .option') !== null"))
    found["Orchestrator tab clicked"] = median(clicked)
    found["allowed agents search"] = median([search(page, allowed, words) for words in (
        ["motor", "fraud_0", "_0012", "pet_intake", "life"] * repeat)[:repeat]])
    page.click("#tab-agents")
    page.wait_for_selector(ROWS)
    opened = []
    for number in range(repeat):
        row = f"#panel-agents tbody tr:nth-child({number + 2}) button[aria-label^=Edit]"
        opened.append(in_page(page, f"document.querySelector({json.dumps(row)}).click()",
                              "document.querySelector('#editor[open] #field-allowed_tools "
                              ".option') !== null"))
        if number + 1 < repeat:
            page.evaluate("document.getElementById('editor').close()")
    found["agent form opened"] = median(opened)
    found["allowed tools search"] = median([search(page, "#field-allowed_tools", words)
                                            for words in (["fraud_rules_01", "similarity",
                                                           "schema_validator_1", "policy",
                                                           "rules_19"] * repeat)[:repeat]])
    return found


def search(page: Page, checklist: str, words: str) -> float:
    """Type `words` in a checklist's search box: until every row shown holds them."""
    return in_page(
        page, f"const box = document.querySelector('{checklist} .option-filter');"
              f"box.value = {json.dumps(words)}; box.dispatchEvent(new Event('input'));",
        f"(rows => rows.length > 0 && rows.every(row => row.dataset.value.includes("
        f"{json.dumps(words)})))([...document.querySelectorAll('{checklist} .option')])")


# The tabs after the first (Orchestrator, timed above).
TABS = ("agents", "tools", "profiles", "workflows", "accountability", "governance", "system",
        "context", "integrations")


def tab_times(browser: Any, url: str, repeat: int) -> dict[str, float]:
    """Each tab's first draw: the panel opened in a new page (on its Orchestrator tab), the
    tab clicked, until it shows something and no request is under way (the generated mesh
    has no settings documents: those tabs say so)."""
    found: dict[str, float] = {}
    for tab in TABS:
        times = []
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/config")
            page.wait_for_selector("#panel-orchestrator fieldset.allowed .option")
            times.append(in_page(
                page, f"document.querySelector('#tab-{tab}').click()",
                f"document.querySelector('#panel-{tab} .content').children.length > 0 && "
                f"!document.body.classList.contains('loading')"))
            page.close()
        found[tab] = median(times)
    return found


def orchestrator_times(url: str, repeat: int) -> dict[str, Any]:
    """On a fresh server: the panel's cold open on its first tab, then its pickers."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        warm = browser.new_page()  # the browser's own first page costs (not the panel's)
        warm.goto(f"{url}/health")
        warm.close()
        found = open_times(browser, url, repeat)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/config")
        page.wait_for_selector("#panel-orchestrator fieldset.allowed .option")
        found.update(picker_times(page, repeat))
        found["tabs"] = tab_times(browser, url, repeat)
        found["page errors"] = errors
        browser.close()
    return found


def browser_times(url: str, repeat: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/config#agents")  # a fresh server: nothing built ahead
        page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 50")
        found["panel opened on the Agents tab"] = page.evaluate(
            "new Promise(resolve => requestAnimationFrame(() => resolve(performance.now())))")
        page.goto("about:blank")  # (else only the hash changes: the Agents tab stays drawn)
        page.goto(f"{url}/config#tools")
        page.wait_for_selector("#panel-tools tbody tr")
        open_agents = "document.querySelector('#tab-agents').click()"
        open_tools = "document.querySelector('#tab-tools').click()"
        drawn = (f"!document.querySelector('#panel-agents').hidden && "
                 f"document.querySelectorAll('{ROWS}').length === 50")
        found["Agents tab clicked"] = in_page(page, open_agents, drawn)
        again = []
        for _ in range(repeat):
            in_page(page, open_tools, "!document.querySelector('#panel-tools').hidden && "
                                      "document.querySelectorAll('#panel-tools tbody tr')"
                                      ".length > 0")
            page.evaluate("document.querySelector('#panel-agents .view').remove()")
            again.append(in_page(page, open_agents, drawn))
        found["Agents tab again"] = median(again)
        found["rows drawn"] = page.locator(ROWS).count()
        search = []
        for number in range(repeat):
            words = ["gpt4", "similarity", "fraud", "motor", "cannot run"][number % 5]
            search.append(in_page(
                page, f"const box = document.querySelector('#panel-agents .filter');"
                      f"box.value = {json.dumps(words)};"
                      f"box.dispatchEvent(new Event('input'));",
                f"document.querySelector('#panel-agents p.count').textContent"
                f".includes({json.dumps(words)})"))
            in_page(page, "const box = document.querySelector('#panel-agents .filter');"
                          "box.value = ''; box.dispatchEvent(new Event('input'));",
                    "!document.querySelector('#panel-agents p.count').textContent"
                    ".includes('match')")
        found["search (150 ms typing pause included)"] = median(search)
        sort = []
        for number in range(repeat):
            wanted = "ascending" if number % 2 == 0 else "descending"
            sort.append(in_page(
                page, "document.querySelector(\"#panel-agents button[aria-label='Sort by "
                      "Model']\").click()",
                f"document.querySelector(\"#panel-agents th[aria-sort={wanted}]\") !== null"))
        found["sort by a column"] = median(sort)
        pages = []
        for number in range(repeat):
            pages.append(in_page(
                page, "document.querySelector('#panel-agents button.next').click()",
                f"document.querySelector('#panel-agents .pager .at').textContent"
                f".startsWith('Page {number + 2} ')"))
        found["next page"] = median(pages)
        found["page errors"] = errors
        browser.close()
    return found


def render(api: dict[str, Any], shown: dict[str, Any], agents: int, repeat: int,
           opened: dict[str, Any], load: list[float]) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime())
    lines = [HEADING, "",
             f"`bench/panel.py` ({when}; this machine, 2 cores shared with other work: "
             f"1-minute load average {load[0]:.2f} before, {load[1]:.2f} after; median of "
             f"{repeat} unless said): the panel at {api['total']:,} agents "
             f"(bench/generate_mesh.py `--agents {agents}` and the orchestrator and the "
             "generated tools, profiles and workflows), served by `meshctl serve`, in "
             "Debian's Chromium (headless, Playwright). Before issue 27 the Agents tab drew "
             "every row: 4.4 s for its 10,002 rows (measured in the issue); the panel's "
             "first open took 1.3 s (its Orchestrator tab downloaded all 10,000 agents, "
             "15.7 MB, and every tool for its pickers).", ""]
    lines += opening(opened) + [""]
    lines += ["| Chromium, the Agents tab | ms |", "|---|---:|"]
    for name in ("panel opened on the Agents tab", "Agents tab clicked", "Agents tab again",
                 "search (150 ms typing pause included)", "sort by a column", "next page"):
        lines.append(f"| {name} | {shown[name]:.0f} |")
    lines += ["", f"Each time from the click (or the input event) to the page of "
              f"{shown['rows drawn']} rows drawn and painted (the next animation frame). "
              "\"Panel opened on the Agents tab\": a fresh server, the page loaded at "
              "`/config#agents`, from the navigation's start (page, scripts and the first "
              "list request, when the server builds every agent's columns, once per "
              "revision). \"Agents tab clicked\": the panel open on another tab (opening it "
              "has the server build the list tables ahead, on a thread, a second after the "
              "page was served). A write rebuilds only the rows whose sources changed, "
              "ahead of the next request.", "",
              f"| API, `GET /registries/views/agents` ({api['rows']} rows, "
              f"{api['bytes']:,} bytes) | ms |", "|---|---:|"]
    for name in ("first request after start", "first page", "search q=gpt4",
                 "sort by model, desc", "sort by can run", "page at offset 5000",
                 "first page after a write"):
        lines.append(f"| {name} | {api[name]:.1f} |")
    return "\n".join(lines) + "\n"


def opening(opened: dict[str, Any]) -> list[str]:
    """The panel's first open and its Orchestrator tab and pickers, with where the time
    of the cold open goes."""
    cold = opened["cold"]
    api = opened["api requests"]
    lines = ["| Chromium, the panel's first tab (Orchestrator) and its pickers | ms |",
             "|---|---:|",
             f"| panel opened, a server just started (its allowed agents painted) | "
             f"{cold['painted']:.0f} |",
             f"| panel opened again (a new page) | {opened['again']:.0f} |",
             f"| Orchestrator tab clicked (drawn afresh) | "
             f"{opened['Orchestrator tab clicked']:.0f} |",
             f"| its allowed agents searched (150 ms pause included) | "
             f"{opened['allowed agents search']:.0f} |",
             f"| an agent's form opened (its Allowed Tools and model profile pickers) | "
             f"{opened['agent form opened']:.0f} |",
             f"| its Allowed Tools searched (150 ms pause included) | "
             f"{opened['allowed tools search']:.0f} |", "",
             "| Chromium, a tab's first draw (clicked in a panel just opened) | " +
             " | ".join(TABS) + " |", "|---|" + "---:|" * len(TABS),
             "| ms | " + " | ".join(f"{opened['tabs'][tab]:.0f}" for tab in TABS) + " |", "",
             "Each from the click to the tab's content drawn with no request under way, in a "
             "panel just opened (its Orchestrator tab drawn). Governance reads the whole "
             "governance document (a rule per agent in `agent_tool_access`) and draws a "
             "policy's form when its section is opened; Accountability reads it too (the "
             "roles of `hitl_access_control`). The generated mesh has no system settings, "
             "context or integration documents: those tabs say so.", ""]
    first_api = min(r["start"] for r in api)
    last_api = max(r["end"] for r in api)
    lines.append(
        f"Where the cold open's {cold['painted']:.0f} ms go (from the navigation's start): "
        f"the page ({cold['page_bytes']:,} bytes) in {cold['page']:.0f} ms; its scripts "
        f"and styles ({len(opened['static requests'])} files, "
        f"{opened['static bytes']:,} bytes) read and run, DOMContentLoaded at "
        f"{cold['dom_ready']:.0f} ms; then {len(api)} API requests "
        f"({opened['api bytes']:,} bytes in all) from {first_api:.0f} to {last_api:.0f} ms, "
        f"the server answering each in {min(r['server'] for r in api):.0f}–"
        f"{max(r['server'] for r in api):.0f} ms; the tab drawn at {cold['drawn']:.0f} ms "
        f"and painted at {cold['painted']:.0f} ms. The requests:")
    lines += ["", "| request | bytes | server ms |", "|---|---:|---:|"]
    for request in sorted(api, key=lambda r: r["start"]):
        path = request["path"] if len(request["path"]) <= 70 else request["path"][:67] + "…"
        lines.append(f"| `{path}` | {request['bytes']:,} | {request['server']:.0f} |")
    lines += ["", "The Orchestrator tab reads the orchestrator while it asks the list views "
              "for the first page of agents (its checklist) and of tools and model profiles "
              "(its form's pickers): ids alone, answered from the snapshot's names without "
              "building any list table; once drawn, it asks which of the first 50 agents it "
              "lists exist (the chips show 50 and count the rest). The whole list of agents "
              "or tools is never downloaded (before: `GET /registries/agents`, 15.7 MB at "
              "10,000 agents). Most of the open is the page's own scripts and styles "
              "(to DOMContentLoaded, above; what any page of the panel costs on this "
              "loaded machine), which the API requests overlap. "
              "\"Clicked\": the tab's content removed, the tab clicked, until its allowed "
              "agents are painted. The searches: words typed in the checklist's box until "
              "every row shown holds them (the server finds them by id)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    given = parser.parse_args()
    out = mesh(given.agents, given.keep)
    load = [os.getloadavg()[0]]  # the 1-minute load average before and after
    work = Path(tempfile.mkdtemp(prefix="panel-serve-"))
    try:
        registries = shutil.copytree(out / "registries", work / "registries")
        serving = Serving(registries)
        try:
            opened = orchestrator_times(serving.url, given.repeat)
        finally:
            serving.stop()
        serving = Serving(registries)
        try:
            shown = browser_times(serving.url, given.repeat)
        finally:
            serving.stop()
        serving = Serving(registries)  # a fresh server: the API's first request is cold
        try:
            api = api_times(serving.url, given.repeat)
        finally:
            serving.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if given.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    load.append(os.getloadavg()[0])
    section = render(api, shown, given.agents, given.repeat, opened, load)
    print(section)
    print(json.dumps({"api": api, "chromium": shown, "orchestrator": opened}, indent=1),
          file=sys.stderr)
    if not given.no_readme:
        sys.path.insert(0, os.fspath(ROOT / "bench"))
        import readme  # bench/readme.py

        readme.replace_section(HEADING, section)


if __name__ == "__main__":
    main()
