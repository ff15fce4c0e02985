"""Benchmark `RegistryManager` against a naive registry manager, at several mesh sizes.

    .venv/bin/python bench/library.py [--agents 1000,10000,50000] [--keep DIR] [--no-readme]

For each size, generates a mesh (bench/generate_mesh.py; tools one fifth of the agents,
workflows one fiftieth) unless DIR/<size> holds one, then measures, each part in a fresh
process so that nothing is cached from the previous one:

* cold load: a new manager's `load_all()`, and the process's peak RSS after it;
* `get_agent`: nanoseconds per call over 200,000 calls on 1,000 ids (their models built);
* `create_agent`, `update_agent`, `delete_agent`: the median of ten calls each (durable:
  journal and fsync included), after one warm-up write;
* reload after a foreign edit: the agent registry is rewritten with `json.dump` (as an
  editor or script would), then `load_all()` is timed (it re-reads that file);
* reload after another meshctl writer's commit: a second manager (another writer) creates
  an agent, then `load_all()` on the first is timed (it applies the revision).

The naive manager (`NAIVE` below, written for this comparison) does what a straightforward
implementation does: `json.load` every file and validate every entry into its pydantic
model on each load, and on each write re-serialize the whole registry with
`json.dump(indent=2)` to a temporary file, rename it into place, and load everything again.
It is timed the same way (three writes each: they take seconds). Prints a markdown table and
replaces the "## Library" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import common
import readme  # bench/readme.py, beside this script

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
HEADING = "## Library"

COMMON = """
import json, os, resource, statistics, sys, time
sys.path.insert(0, {root!r})
registries = {registries!r}
template = next(a for a in json.load(open(os.path.join(registries, "agent_registry.json")))[
    "agents"] if a["agent_id"] != "orchestrator_agent")
template = {{**template, "allowed_agents": [], "allowed_tools": []}}

def timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def measure(manager, ids, prefix, writes):
    # ns per get_agent over ids; the seconds of each create, update and delete
    started = time.perf_counter_ns()
    for _ in range(200):
        for name in ids:
            manager.get_agent(name)
    get_ns = (time.perf_counter_ns() - started) / (200 * len(ids))
    names = [f"{{prefix}}{{n}}" for n in range(writes)]
    creates = [timed(lambda n=n: manager.create_agent({{**template, "agent_id": n}}))
               for n in names]
    updates = [timed(lambda n=n: manager.update_agent(n, {{**template, "agent_id": n,
                                                           "max_iterations": 7}}))
               for n in names]
    deletes = [timed(lambda n=n: manager.delete_agent(n)) for n in names]
    return get_ns, creates, updates, deletes

def foreign_edit():
    path = os.path.join(registries, "agent_registry.json")
    data = json.load(open(path))
    data["agents"][1]["description"] += " (edited)"
    with open(path, "w") as stream:
        json.dump(data, stream, indent=2)
"""

OURS = COMMON + """
from reconciler import RegistryManager
manager = RegistryManager(registries, watch=False)
load = timed(manager.load_all)
rss = rss_mb()
import subprocess
again = subprocess.run([sys.executable, "-c", (
    "import sys, time; sys.path.insert(0, {root!r}); from reconciler import RegistryManager; "
    "import reconciler.library.manager; m = RegistryManager({registries!r}, watch=False); "
    "t = time.perf_counter(); m.load_all(); print(time.perf_counter() - t)")],
    check=True, capture_output=True, text=True)
load_again = float(again.stdout.strip())
ids = [a.agent_id for a in manager.list_agents()[:1000]]
for name in ids:
    manager.get_agent(name)
manager.create_agent({{**template, "agent_id": "warm_up"}})
get_ns, creates, updates, deletes = measure(manager, ids, "b", 10)
foreign_edit()
after_edit = timed(manager.load_all)
assert manager.get_agent(ids[1]).description.endswith("(edited)")
other = RegistryManager(registries, watch=False)  # another writer, in this process for timing
other.load_all()
other.create_agent({{**template, "agent_id": "from_another_writer"}})
del other
after_commit = timed(manager.load_all)
assert manager.get_agent("from_another_writer") is not None
print(json.dumps({{"load": load, "load_again": load_again, "rss": rss, "get_ns": get_ns,
                  "create": statistics.median(creates), "update": statistics.median(updates),
                  "delete": statistics.median(deletes), "after_commit": after_commit,
                  "after_edit": after_edit, "peak_rss": rss_mb()}}))
"""

NAIVE = COMMON + """
import tempfile
from reconciler.model.specs import AgentMetadata, GovernancePolicies, ModelProfile
from reconciler.model.specs import ToolMetadata, WorkflowDefinition

class Naive:
    def __init__(self, root):
        self.root = root

    def load_all(self):
        def entries(name, key, model, id_field):
            data = json.load(open(os.path.join(self.root, name)))
            return {{e[id_field]: model.model_validate(e) for e in data[key]}}
        self.agents = entries("agent_registry.json", "agents", AgentMetadata, "agent_id")
        self.tools = entries("tool_registry.json", "tools", ToolMetadata, "tool_id")
        self.models = entries("model_profiles.json", "profiles", ModelProfile, "profile_id")
        folder = os.path.join(self.root, "workflows")
        self.workflows = {{}}
        for name in sorted(os.listdir(folder)):
            flow = WorkflowDefinition.model_validate(json.load(open(os.path.join(folder, name))))
            self.workflows[flow.workflow_id] = flow
        self.governance = GovernancePolicies.model_validate(
            json.load(open(os.path.join(self.root, "governance_policies.json"))))

    def get_agent(self, name):
        return self.agents.get(name)

    def _save(self):
        path = os.path.join(self.root, "agent_registry.json")
        data = {{"version": "1.0.0", "last_updated": "now",
                "agents": [a.model_dump() for a in self.agents.values()]}}
        handle, temporary = tempfile.mkstemp(dir=self.root, suffix=".json")
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2)
        os.rename(temporary, path)
        self.load_all()

    def create_agent(self, entry):
        if entry["agent_id"] in self.agents or entry["model_profile_id"] not in self.models:
            raise ValueError("rejected")
        self.agents[entry["agent_id"]] = AgentMetadata.model_validate(entry)
        self._save()

    def update_agent(self, name, entry):
        self.agents[name] = AgentMetadata.model_validate(entry)
        self._save()

    def delete_agent(self, name):
        del self.agents[name]
        self._save()

manager = Naive(registries)
load = timed(manager.load_all)
rss = rss_mb()
ids = list(manager.agents)[:1000]
get_ns, creates, updates, deletes = measure(manager, ids, "n", 3)
foreign_edit()
after_edit = timed(manager.load_all)
print(json.dumps({{"load": load, "rss": rss, "get_ns": get_ns,
                  "create": statistics.median(creates), "update": statistics.median(updates),
                  "delete": statistics.median(deletes), "after_commit": after_edit,
                  "after_edit": after_edit, "peak_rss": rss_mb()}}))
"""


def probe(code: str) -> dict[str, float]:
    done = subprocess.run([str(PYTHON), "-c", code], check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mesh_of(base: Path, agents: int) -> Path:
    mesh = base / f"{agents}"
    if not (mesh / "registries").is_dir():
        subprocess.run([str(PYTHON), str(BENCH / "generate_mesh.py"), "--agents", str(agents),
                        "--tools", str(max(agents // 5, 10)), "--profiles", "20",
                        "--workflows", str(max(agents // 50, 1)), "--out", str(mesh)],
                       check=True, stdout=subprocess.DEVNULL)
    return mesh


def measured(code: str, mesh: Path, base: Path) -> dict[str, float]:
    """`code` run on a fresh copy of the mesh's registries (each run starts from the same
    files), removed afterwards."""
    folder = Path(tempfile.mkdtemp(dir=base))
    try:
        subprocess.run(["cp", "-r", str(mesh / "registries"), str(folder / "registries")],
                       check=True)
        return probe(code.format(root=str(ROOT), registries=str(folder / "registries")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    common.compiled_bytecode()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1000,10000,50000")
    parser.add_argument("--keep", type=Path, default=None,
                        help="reuse (or create) the meshes under this folder")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="meshctl-library-"))
    base.mkdir(parents=True, exist_ok=True)
    sizes = [int(n) for n in args.agents.split(",")]
    results: dict[int, tuple[dict[str, float], dict[str, float], float]] = {}
    for agents in sizes:
        mesh = mesh_of(base, agents)
        megabytes = (mesh / "registries" / "agent_registry.json").stat().st_size / 1e6
        ours = measured(OURS, mesh, base)
        naive = measured(NAIVE, mesh, base)
        results[agents] = (ours, naive, megabytes)
        print(agents, json.dumps(ours), json.dumps(naive), file=sys.stderr)
    table = render(results)
    print(table)
    if not args.no_readme:
        readme.replace_section(HEADING, table)
    return 0


WHERE = (
    "Where a write's time goes at 10,000 agents (profiled): the 28 MB agent registry as the "
    'last read kept it (read again only when its stat cannot vouch for it),'
    ' writing it back as views into those bytes plus the changed entry, hashing the new bytes'
    ' (on a second thread, while they are written) and the fsyncs of the journal protocol; '
    'judging the change by the rules takes about a millisecond. So a write grows with the '
    'size of the one registry file AgentMesh keeps all agents in (linearly: 50,000 agents are'
    ' a 140 MB file), not with the number of resources. The first cold load of files no '
    'meshctl process has read decodes each file whole with orjson and makes an entry a '
    '`Resource` only when it is asked for; where each entry is (the layout a write splices '
    'with) is found after `load_all()` returns, on a thread of its own that saves those '
    'layouts beside the registries, or by the first write or reload that needs it, '
    'whichever comes first (so that first write pays it: about 0.3 s more at 10,000 '
    'agents); a cold load after that, in any process, reads the '
    'bytes and decodes an entry only when it is asked for, and who refers to whom is indexed '
    'on first use. The reload after a foreign edit decodes only the entries in the bytes that '
    'differ from the last read (after a lazy load, the others once, to compare), and '
    're-indexes those; the reload '
    "after another meshctl writer's commit hashes the files the revision wrote instead of "
    'parsing them. A model is built the first time it is asked for; `get_agent` of a built '
    'one is a dictionary lookup.'
)

ROWS = [("cold load (`load_all` in a new process)", "load", "s", "< 0.3 s at 10k"),
        ("cold load again, in another new process (the layouts the first saved)",
         "load_again", "s", "< 0.23 s at 10k (3x upstream's 0.70 s)"),
        ("`get_agent`", "get_ns", "ns", "< 2 µs"),
        ("`create_agent` (median)", "create", "ms", "< 60 ms at 10k, 40x naive"),
        ("`update_agent` (median)", "update", "ms", "< 60 ms at 10k, 40x naive"),
        ("`delete_agent` (median)", "delete", "ms", "< 60 ms at 10k, 40x naive"),
        ("reload after another meshctl writer's commit", "after_commit", "ms", "< 50 ms"),
        ("reload after a foreign edit of the agent registry", "after_edit", "s",
         "3x faster than naive"),
        ("peak RSS after the cold load", "rss", "MB", ""),
        ("peak RSS at the end", "peak_rss", "MB", "")]


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "ns":
        return f"{value:.0f} ns"
    return f"{value:,.0f} MB"


def render(results: dict[int, tuple[dict[str, float], dict[str, float], float]]) -> str:
    sizes = sorted(results)
    head = "| measurement | " + " | ".join(
        f"{n:,} agents ({results[n][2]:.0f} MB): meshctl / naive" for n in sizes) + " | goal |"
    lines = [HEADING, "",
             f"`python bench/library.py` (Python {sys.version.split()[0]}, "
             f"{os.cpu_count()} CPUs). Each cell: `RegistryManager`, then the naive manager "
             "described in the script, measured the same way in fresh processes.", "",
             head, "|---|" + "---:|" * len(sizes) + "---|"]
    for label, key, unit, goal in ROWS:
        cells = []
        for n in sizes:
            ours, naive, _ = results[n]
            naive_cell = "—" if key in ("after_commit", "load_again") \
                else _fmt(naive[key], unit)
            cells.append(f"{_fmt(ours[key], unit)} / {naive_cell}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    lines += ["", "Speed-ups at each size (naive / meshctl): " + "; ".join(
        f"{n:,} agents: create {results[n][1]['create'] / results[n][0]['create']:.0f}x, "
        f"update {results[n][1]['update'] / results[n][0]['update']:.0f}x, "
        f"delete {results[n][1]['delete'] / results[n][0]['delete']:.0f}x, reload after an "
        f"edit {results[n][1]['after_edit'] / results[n][0]['after_edit']:.1f}x, cold load "
        f"{results[n][1]['load'] / results[n][0]['load']:.1f}x" for n in sizes) + ".", "",
        WHERE, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
