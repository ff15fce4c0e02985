"""Benchmark the panel's Graph page at 10,000 agents (issue 27): from opening the page to
a resource's neighbourhood drawn, in Chromium.

    .venv/bin/python bench/panel_graph.py [--agents 10000] [--keep DIR] [--rounds 5]
        [--no-readme]

Generates a mesh (bench/generate_mesh.py) unless --keep DIR holds one, starts
`meshctl serve` on its registries, and drives Debian's Chromium (Playwright, headless,
1280 x 900). Each figure is from the start of the navigation (or of the action) to the
page marking the drawing done (`#page[data-drawn]`: Cytoscape has laid out and drawn the
neighbourhood, the list of its resources is in the page). The first opening after the
server starts is reported apart (the server builds its reverse reference index then); the
others are medians of --rounds. Prints a markdown table and replaces the
"## Panel graph (issue 27)" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common  # bench/common.py and bench/readme.py, beside this script
import httpx
import readme
from playwright.sync_api import Page, sync_playwright

BENCH = Path(__file__).resolve().parent
MESHCTL = BENCH.parent / ".venv" / "bin" / "meshctl"
CHROMIUM = "/usr/bin/chromium"
HEADING = "## Panel graph (issue 27)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(registries: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen([str(MESHCTL), "serve", "--registries", str(registries),
                                "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start")


def timed(page: Page, act: Callable[[], object], done: str) -> float:
    """Seconds from `act()` to the selector `done` in the page."""
    start = time.perf_counter()
    act()
    page.wait_for_selector(done, state="attached", timeout=60_000)
    return time.perf_counter() - start


def drawn(focus: str) -> str:
    return f"#page[data-drawn='{focus}']"


def measure(url: str, agent: str, rounds: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        focus = f"agent/{agent}"

        def deep_link() -> float:
            page.goto("about:blank")
            return timed(page, lambda: page.goto(f"{url}/graph#{focus}"), drawn(focus))

        found["first"] = deep_link()  # the server indexes who refers to whom on first use
        found["nodes"] = page.evaluate("window.meshctlGraph.cy.nodes().length")
        found["deep_link"] = statistics.median(deep_link() for _ in range(rounds))

        def open_page() -> float:
            page.goto("about:blank")
            return timed(page, lambda: page.goto(f"{url}/graph"), "#graph-intro")

        found["open"] = statistics.median(open_page() for _ in range(rounds))

        def typed() -> tuple[float, float]:
            page.goto("about:blank")
            page.goto(f"{url}/graph")
            page.wait_for_selector("#graph-intro")
            suggested = timed(page, lambda: page.fill("#graph-search", agent),
                              "#graph-suggestions [role=option]")
            picked = timed(page, lambda: page.keyboard.press("Enter"), drawn(focus))
            return suggested, picked

        pairs = [typed() for _ in range(rounds)]
        found["suggest"] = statistics.median(pair[0] for pair in pairs)
        found["pick"] = statistics.median(pair[1] for pair in pairs)
        found["search_to_drawn"] = found["open"] + found["suggest"] + found["pick"]

        # For the redraws, an agent a workflow runs: it has dependents beyond one hop.
        with httpx.Client(base_url=url, timeout=60) as api:
            workflow = api.get("/registries/graph/search", params={
                "q": "", "kinds": "workflow", "limit": 1}).json()["matches"][0]["name"]
            around = api.get("/registries/graph/neighbourhood", params={
                "kind": "workflow", "name": workflow}).json()
        busy_agent = next(n["id"] for n in around["nodes"]
                          if n["type"] == "agent" and n["role"] == "dependency")
        found["busy_agent"] = busy_agent
        found["busy_nodes"] = None
        focus = busy_agent

        def toggled() -> float:
            page.goto("about:blank")  # a new page: the same URL with a hash would not load
            page.goto(f"{url}/graph#{focus}")
            page.wait_for_selector(drawn(focus))
            page.evaluate("delete document.getElementById('page').dataset.drawn")
            return timed(page, lambda: page.check("#graph-transitive"), drawn(focus))

        found["transitive"] = statistics.median(toggled() for _ in range(rounds))
        found["busy_nodes"] = page.evaluate("window.meshctlGraph.cy.nodes().length - "
                                            "window.meshctlGraph.cy.nodes('.transitive').length")
        found["transitive_nodes"] = page.evaluate("window.meshctlGraph.cy.nodes().length")

        def hops() -> float:
            page.goto("about:blank")
            page.goto(f"{url}/graph#{focus}")
            page.wait_for_selector(drawn(focus))
            page.evaluate("delete document.getElementById('page').dataset.drawn")
            return timed(page, lambda: page.select_option("#graph-hops", "2"), drawn(focus))

        found["hops2"] = statistics.median(hops() for _ in range(rounds))
        found["hops2_nodes"] = page.evaluate("window.meshctlGraph.cy.nodes().length")

        profile, users = busiest_profile(url)
        found["profile_name"], found["profile_users"] = profile, users
        busy = f"model-profile/{profile}"

        def crowded() -> float:
            page.goto("about:blank")
            return timed(page, lambda: page.goto(f"{url}/graph#{busy}"), drawn(busy))

        found["profile"] = statistics.median(crowded() for _ in range(rounds))
        found["profile_nodes"] = page.evaluate("window.meshctlGraph.cy.nodes().length")
        browser.close()
        if errors:
            raise SystemExit(f"page errors: {errors}")
    return found


def busiest_profile(url: str) -> tuple[str, int]:
    """The model profile the most agents use, and how many."""
    with httpx.Client(base_url=url, timeout=60) as api:
        profiles = api.get("/registries/graph/search", params={
            "q": "", "kinds": "model-profile", "limit": 100}).json()["matches"]
        best = ("", -1)
        for match in profiles:
            answer = api.get("/registries/graph/neighbourhood", params={
                "kind": "model-profile", "name": match["name"], "limit": 1}).json()
            if answer["counts"]["dependents"] > best[1]:
                best = (match["name"], answer["counts"]["dependents"])
        return best


def table(found: dict[str, Any], agents: int, rounds: int, agent: str, profile: str,
          users: int) -> str:
    load = os.getloadavg()[0]
    rows = [
        ("open the page on a link to one agent's neighbourhood, first time after start "
         "(the server builds its reverse reference index)", found["first"],
         f"{found['nodes']} nodes"),
        ("open the page on a link to one agent's neighbourhood (1 hop)", found["deep_link"],
         f"{found['nodes']} nodes"),
        ("open the page: the search box ready", found["open"], ""),
        ("type the agent's id: the suggestions shown (120 ms of it the box waiting for "
         "typing to pause)", found["suggest"], ""),
        ("Enter: its neighbourhood drawn", found["pick"], f"{found['nodes']} nodes"),
        ("**open, search and pick: the neighbourhood drawn** (the three above)",
         found["search_to_drawn"], ""),
        (f"`{found['busy_agent']}` (run by a workflow, {found['busy_nodes']} nodes at 1 "
         "hop): tick \"Transitive dependents\", redrawn", found["transitive"],
         f"{found['transitive_nodes']} nodes"),
        (f"`{found['busy_agent']}`: hops 1 → 2, redrawn", found["hops2"],
         f"{found['hops2_nodes']} nodes"),
        (f"open on the busiest model profile ({users:,} direct dependents; the nearest 200 "
         "drawn, the rest counted)", found["profile"], f"{found['profile_nodes']} nodes"),
    ]
    lines = [
        HEADING, "",
        f"`python bench/panel_graph.py --agents {agents}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; "
        f"1-minute load average {load:.2f} at the end; Chromium headless, 1280 x 900; "
        f"median of {rounds} unless said). The agent: `{agent}`; the profile: `{profile}`. "
        "Each time runs from the navigation (or the action) to the page marking the drawing "
        "done (Cytoscape.js has laid out and drawn the neighbourhood with dagre, and the "
        "list of its resources is in the page). Before (issue 27's finding 9): the Graph "
        "page fetched the whole mesh and drew every resource as one SVG.",
        "",
        "| step | time | drawn |", "|---|---:|---:|",
        *(f"| {name} | {seconds * 1000:,.0f} ms | {drawn_} |" for name, seconds, drawn_ in rows),
        "",
        "The browser holds only what it draws: the search (`/registries/graph/search`) and "
        "the neighbourhood (`/registries/graph/neighbourhood`) are answered by the server "
        "from its snapshot (`graph.references` for what a resource names, the snapshot's "
        "`graph.Referrers` for who names it), never the whole mesh. The whole-mesh answer "
        "the page fetched before (`GET /registries/graph`, kept for other clients): "
        f"{found['whole_bytes'] / 1e6:.1f} MB, {found['whole_nodes']:,} nodes and "
        f"{found['whole_edges']:,} edges, {found['whole_seconds']:.2f} s to answer, before "
        "any drawing.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.compiled_bytecode()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    options = parser.parse_args()
    folder = common.mesh(options.keep, options.agents, "meshctl-graph-")
    process, url = serve(folder / "registries")
    try:
        with httpx.Client(base_url=url, timeout=60) as api:  # names only: no index built
            listed = api.get("/registries/graph/search", params={
                "q": "_agent", "kinds": "agent", "limit": 100}).json()
            agent = listed["matches"][50]["name"]
        found = measure(url, agent, options.rounds)
        profile, users = found.pop("profile_name"), found.pop("profile_users")
        with httpx.Client(base_url=url, timeout=120) as api:  # what the page used to fetch
            start = time.perf_counter()
            whole = api.get("/registries/graph")
            found["whole_seconds"] = time.perf_counter() - start
            found["whole_bytes"] = len(whole.content)
            found["whole_nodes"] = len(whole.json()["nodes"])
            found["whole_edges"] = len(whole.json()["edges"])
    finally:
        process.terminate()
        process.wait(timeout=30)
    section = table(found, options.agents, options.rounds, agent, profile, users)
    print(section)
    if not options.no_readme:
        readme.replace_section(HEADING, section)


if __name__ == "__main__":
    main()
