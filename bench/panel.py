"""Benchmark the panel's list tabs at 10,000 agents (issue 27: "a tab shows its first page in
under 300 ms"), in Chromium, against a real `meshctl serve`.

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
  while (!ready()) await new Promise(resolve => setTimeout(resolve, 2));
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


def render(api: dict[str, Any], shown: dict[str, Any], agents: int, repeat: int) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime())
    lines = [HEADING, "",
             f"`bench/panel.py` ({when}; this machine, 2 cores shared with other work; "
             f"median of {repeat} unless said): the Agents tab of the panel at "
             f"{api['total']:,} agents (bench/generate_mesh.py `--agents {agents}` and the "
             "orchestrator and the generated tools, profiles and workflows), served by "
             "`meshctl serve`, in Debian's Chromium (headless, Playwright). Before issue 27 "
             "the tab drew every row: 4.4 s for its 10,002 rows (measured in the issue).", "",
             "| Chromium, the Agents tab | ms |", "|---|---:|"]
    for name in ("panel opened on the Agents tab", "Agents tab clicked", "Agents tab again",
                 "search (150 ms typing pause included)", "sort by a column", "next page"):
        lines.append(f"| {name} | {shown[name]:.0f} |")
    lines += ["", f"Each time from the click (or the input event) to the page of "
              f"{shown['rows drawn']} rows drawn and painted (the next animation frame). "
              "\"Panel opened on the Agents tab\": a fresh server, the page loaded at "
              "`/config#agents`, from the navigation's start (page, scripts and the first "
              "list request, when the server builds every agent's columns, once per "
              "revision). \"Agents tab clicked\": the panel open on another tab (opening it "
              "has the server build the list tables ahead, on a thread). A write rebuilds "
              "only the rows whose sources changed, ahead of the next request.", "",
              f"| API, `GET /registries/views/agents` ({api['rows']} rows, "
              f"{api['bytes']:,} bytes) | ms |", "|---|---:|"]
    for name in ("first request after start", "first page", "search q=gpt4",
                 "sort by model, desc", "sort by can run", "page at offset 5000",
                 "first page after a write"):
        lines.append(f"| {name} | {api[name]:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    given = parser.parse_args()
    out = mesh(given.agents, given.keep)
    work = Path(tempfile.mkdtemp(prefix="panel-serve-"))
    try:
        registries = shutil.copytree(out / "registries", work / "registries")
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
    section = render(api, shown, given.agents, given.repeat)
    print(section)
    print(json.dumps({"api": api, "chromium": shown}, indent=1), file=sys.stderr)
    if not given.no_readme:
        sys.path.insert(0, os.fspath(ROOT / "bench"))
        import readme  # bench/readme.py

        readme.replace_section(HEADING, section)


if __name__ == "__main__":
    main()
