"""Benchmark the PostgreSQL store beside the file store, on generated meshes.

    .venv/bin/python bench/pg.py [--agents 10000,100000] [--keep DIR] [--no-readme]

Starts a throwaway PostgreSQL server (tests/pg.py: a Unix socket, fsync off, as the tests
do), imports each generated mesh into a database of its own, and measures, for both stores:

* a one-agent write through the library (`RegistryManager.update_agent`), median of 30,
  and through the API (`PUT /registries/agents/NAME` on a `meshctl serve`), median of 20;
* a commit in this process seen by another process's `RegistryManager` (p50 of 20), and,
  for the database, in the files of a `meshctl mirror` (p50 of 10);
* a cold `RegistryManager.load_all()` in a fresh process;
* `meshctl plan` and `meshctl apply` of ten changed agents (CLI processes, wall time);
* the throughput of 8 writer processes creating agents at once through the library, and
  the RSS of a following `RegistryManager`.

Prints a markdown table and replaces the "## PostgreSQL store" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import readme  # bench/readme.py, beside this script
from common import BENCH, PYTHON, mesh

REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from tests.pg import start_server  # noqa: E402

HEADING = "## PostgreSQL store"
# 8 file-store writers at 100,000 agents re-read a 280 MB file on each collision: minutes
# for one figure the issue does not ask of the file store
FILE_THROUGHPUT_UP_TO = 10_000
MESHCTL = str(REPO / ".venv" / "bin" / "meshctl")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

FOLLOWER = """
import json, os, sys, time
from reconciler import RegistryManager
from reconciler.store import open_store
manager = RegistryManager(store=open_store(sys.argv[1]), watch=True, poll_interval=0.5)
manager.load_all()
print("ready", flush=True)
for line in sys.stdin:  # the name to wait for
    name = line.strip()
    while True:
        agent = manager.get_agent("bench_agent")
        if agent is not None and agent.description == name:
            break
        time.sleep(0.001)
    print(time.time(), flush=True)
with open("/proc/self/status") as status:
    rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024
print(json.dumps({"rss_mb": rss}), flush=True)
"""

COLD = """
import sys, time
from reconciler import RegistryManager
from reconciler.store import open_store
started = time.perf_counter()
manager = RegistryManager(store=open_store(sys.argv[1]), watch=False)
manager.load_all()
print(time.perf_counter() - started)
"""

WRITER = """
import sys, json, time
from reconciler import RegistryManager
from reconciler.store import open_store
url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = json.loads(sys.stdin.readline())
manager = RegistryManager(store=open_store(url, lock_timeout=600), watch=False)
manager.load_all()
print("ready", flush=True)
sys.stdin.readline()
for n in range(count):
    manager.create_agent({**base, "agent_id": f"w{worker}_{n}"})
print("done", flush=True)
"""


def template(store: Any) -> dict[str, Any]:
    from reconciler.model.kinds import Kind

    first = next(iter(store.snapshot().state.of_kind(Kind.AGENT).values()))
    return {**first.entry, "agent_id": "bench_agent", "allowed_agents": [],
            "allowed_tools": [], "description": "start"}


def library_writes(location: str, rounds: int = 30) -> float:
    from reconciler import RegistryManager
    from reconciler.store import open_store

    store = open_store(location)
    manager = RegistryManager(store=store, watch=False)
    manager.load_all()
    entry = template(store)
    if manager.get_agent("bench_agent") is None:
        manager.create_agent(entry)
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        manager.update_agent("bench_agent", {**entry, "description": f"w{n}"})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def api_writes(location: str, rounds: int = 20) -> float:
    import httpx

    from reconciler.store import open_store

    entry = template(open_store(location))
    sys.path.insert(0, str(REPO))
    from tests.servers import Server

    server = Server(location)  # type: ignore[arg-type]
    try:
        with server.client() as api:
            times = []
            for n in range(rounds):
                started = time.perf_counter()
                answer = api.put("/registries/agents/bench_agent",
                                 json={**entry, "description": f"api{n}"})
                times.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    del httpx
    return statistics.median(times)


def visibility(location: str, rounds: int = 20) -> tuple[float, float]:
    """p50 seconds from a commit here to another process's manager serving it; its RSS."""
    from reconciler import RegistryManager
    from reconciler.store import open_store

    follower = subprocess.Popen([str(PYTHON), "-c", FOLLOWER, location], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=ENV)
    assert follower.stdin is not None and follower.stdout is not None
    assert follower.stdout.readline().strip() == "ready"
    manager = RegistryManager(store=open_store(location), watch=False)
    manager.load_all()
    entry = template(open_store(location))
    delays = []
    for n in range(rounds):
        name = f"seen{n}_{time.time()}"
        follower.stdin.write(name + "\n")
        follower.stdin.flush()
        started = time.time()
        manager.update_agent("bench_agent", {**entry, "description": name})
        delays.append(float(follower.stdout.readline()) - started)
    follower.stdin.close()
    rss = json.loads(follower.stdout.readline())["rss_mb"]
    follower.wait(timeout=60)
    return statistics.median(delays), rss


def mirror_visibility(url: str, rounds: int = 10) -> float:
    from reconciler import RegistryManager
    from reconciler.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="meshctl-mirror-")) / "registries"
    mirror = subprocess.Popen([MESHCTL, "mirror", "--store", url, "--to", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        agents = folder / "agent_registry.json"
        while not agents.exists():
            time.sleep(0.05)
        manager = RegistryManager(store=open_store(url), watch=False)
        manager.load_all()
        entry = template(open_store(url))
        delays = []
        for n in range(rounds):
            name = f"mirrored{n}_{time.time()}"
            started = time.time()
            manager.update_agent("bench_agent", {**entry, "description": name})
            needle = name.encode()
            while needle not in agents.read_bytes():
                time.sleep(0.002)
            delays.append(time.time() - started)
        return statistics.median(delays)
    finally:
        mirror.terminate()
        mirror.wait(timeout=30)


def cold_load(location: str) -> float:
    done = subprocess.run([str(PYTHON), "-c", COLD, location], capture_output=True, text=True,
                          check=True, env=ENV)
    return float(done.stdout.strip())


def plan_and_apply(location: str, manifests: Path) -> tuple[float, float]:
    """Wall time of `meshctl plan` and `meshctl apply` with ten agents changed."""
    changed = sorted((manifests / "agents").glob("*.yaml"))[:10]
    for path in changed:
        text = path.read_text()
        path.write_text(text.replace("description:", "description: changed", 1)
                        if "description: changed" not in text else
                        text.replace("description: changed", "description:", 1))
    started = time.perf_counter()
    subprocess.run([MESHCTL, "plan", str(manifests), "--store", location, "--no-prune"],
                   check=True, capture_output=True, env=ENV)
    plan = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([MESHCTL, "apply", str(manifests), "--store", location, "--no-prune",
                    "--auto-approve"], check=True, capture_output=True, env=ENV)
    return plan, time.perf_counter() - started


def throughput(location: str, writers: int = 8, count: int = 10) -> float:
    """Creates per second of `writers` processes creating `count` agents each at once."""
    from reconciler.store import open_store

    base = json.dumps({**template(open_store(location)), "description": "throughput"})
    tag = str(int(time.time()))
    procs = [subprocess.Popen([str(PYTHON), "-c", WRITER, location, f"{tag}_{w}", str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
             for w in range(writers)]
    for proc in procs:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(base + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=900)
    return writers * count / (time.perf_counter() - started)


def measure(agents: int, keep: Path | None, server: Any) -> dict[str, dict[str, float]]:
    from reconciler.store import import_files, init_database, open_store

    folder = mesh(keep, agents, f"meshctl-pg-{agents}-")
    url = server.database()
    init_database(url)
    import_files(open_store(url), folder / "registries")
    found: dict[str, dict[str, float]] = {}
    for label, location in (("file", str(folder / "registries")), ("postgres", url)):
        row: dict[str, float] = {}
        row["library_write"] = library_writes(location)
        row["api_write"] = api_writes(location)
        row["visible"], row["follower_rss"] = visibility(location)
        if label == "postgres":
            row["mirror_visible"] = mirror_visibility(url)
        row["cold_load"] = cold_load(location)
        row["plan"], row["apply"] = plan_and_apply(location, folder / "manifests")
        if label == "postgres" or agents <= FILE_THROUGHPUT_UP_TO:
            row["throughput"] = throughput(location)
        found[label] = row
        print(agents, label, json.dumps(row), flush=True)
    return found


def table(results: dict[int, dict[str, dict[str, float]]]) -> str:
    ms = lambda seconds: f"{seconds * 1000:.0f} ms"  # noqa: E731
    lines = [HEADING, "", "`python bench/pg.py` (PostgreSQL 15 on a Unix socket, fsync off, "
             "as the tests run it; the file store on the same machine, same run).", "",
             "| measurement | agents | file store | PostgreSQL | goal (PostgreSQL) |",
             "|---|---:|---:|---:|---|"]
    rows = [("one-agent write, library (median)", "library_write", ms, "< 15 ms, flat"),
            ("one-agent write, API (median)", "api_write", ms, "< 15 ms, flat"),
            ("commit seen by another process's manager (p50)", "visible", ms, "< 100 ms"),
            ("commit in a mirror's files (p50)", "mirror_visible", ms, "< 100 ms"),
            ("cold `load_all()` in a new process", "cold_load", ms, "< 0.5 s at 10k"),
            ("`meshctl plan`, ten agents changed", "plan", ms, "no slower than files"),
            ("`meshctl apply`, ten agents changed", "apply", ms, "no slower than files"),
            ("8 writer processes, creates per second", "throughput",
             lambda v: f"{v:.0f}/s", ""),
            ("RSS of a following manager", "follower_rss", lambda v: f"{v:.0f} MB", "")]
    for title, key, show, goal in rows:
        for agents, found in results.items():
            cells = [show(found[label][key]) if key in found[label] else "-"
                     for label in ("file", "postgres")]
            lines.append(f"| {title} | {agents:,} | {cells[0]} | {cells[1]} | {goal} |")
    return "\n".join(lines) + "\n\n" + NOTES + "\n"


NOTES = (
    "Where the time goes. A PostgreSQL write is a few round trips on one connection (the "
    "writers' turn, the head row lock, one row, the record, the audit line, NOTIFY) plus the "
    "one-object plan; at 100,000 agents it is 9 ms, not flat: planning and catching up copy "
    "the per-kind maps of the snapshot (100,000 entries), the next thing to make "
    "incremental. Another process's manager sees a commit in milliseconds (NOTIFY, then "
    "the revision's record applied, nothing re-read). A mirror is a file-store writer: it "
    "rewrites the one agent registry file AgentMesh keeps all agents in, so its lag is the "
    "file store's write (65 ms at 10,000 agents, 0.76 s for the 280 MB file at 100,000): "
    "the goal holds at 10,000 and cannot at 100,000 while the runtime reads one file. The "
    "cold load decodes every entry (one JSON array per kind) and indexes references; "
    "`plan` and `apply` at 10,000 agents are within noise of the file store (each opens a "
    "pool and imports psycopg, about 80 ms), and faster at 100,000.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="10000,100000")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep (and reuse) the generated meshes under this folder")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp(prefix="meshctl-bench-pg-")) / "pg")
    try:
        results = {}
        for agents in (int(n) for n in args.agents.split(",")):
            keep = args.keep / f"mesh{agents}" if args.keep else None
            results[agents] = measure(agents, keep, server)
    finally:
        server.stop("immediate")
    text = table(results)
    print(text)
    if not args.no_readme:
        readme.replace_section(HEADING, text)


if __name__ == "__main__":
    main()
