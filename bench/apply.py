"""Benchmark `meshctl apply` of ten changed manifests on a generated mesh, fsync included.

    .venv/bin/python bench/apply.py [--agents 10000] [--keep DIR] [--repeat 3]

Generates a mesh (bench/generate_mesh.py) unless --keep DIR holds one, warms the parse
cache, then for each round edits ten agent manifests and times `meshctl apply --auto-approve`
as a subprocess (the user's view), and, in a fresh process, the same apply split into the plan
(engine.make_plan) and the commit (engine.apply_plan: lock, fingerprint check, splice, fsync,
journal, renames). It also measures the floors the issue names: serializing the agent registry
with json.dumps(indent=2) and with orjson, and writing it with fsync, rename and a directory
fsync. Prints a markdown table and replaces the "## Apply" section of bench/README.md.
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MESHCTL = ROOT / ".venv" / "bin" / "meshctl"
PYTHON = ROOT / ".venv" / "bin" / "python"
HEADING = "## Apply"

SPLIT = """
import json, sys, time
sys.path.insert(0, {root!r})
from reconciler import engine
started = time.perf_counter()
result = engine.make_plan([{manifests!r}], {registries!r})
planned = time.perf_counter()
revision = engine.apply_plan(result.plan, {registries!r})
done = time.perf_counter()
print(json.dumps({{"plan": planned - started, "commit": done - planned,
                  "updates": result.plan.summary.update,
                  "timings": result.timings, "revision": revision.number}}))
"""

FLOORS = """
import json, os, sys, tempfile, time
import orjson
path = {agent_registry!r}
data = json.loads(open(path, "rb").read())
started = time.perf_counter(); json.dumps(data, indent=2); stdlib = time.perf_counter() - started
started = time.perf_counter(); blob = orjson.dumps(data, option=orjson.OPT_INDENT_2)
fast = time.perf_counter() - started
folder = tempfile.mkdtemp(dir=os.path.dirname(path))
started = time.perf_counter()
handle = os.open(os.path.join(folder, "t"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(handle, blob); os.fsync(handle); os.close(handle)
os.replace(os.path.join(folder, "t"), os.path.join(folder, "u"))
directory = os.open(folder, os.O_RDONLY); os.fsync(directory); os.close(directory)
written = time.perf_counter() - started
os.unlink(os.path.join(folder, "u")); os.rmdir(folder)
print(json.dumps({{"json_dumps_indent2": stdlib, "orjson_indent2": fast,
                  "write_fsync_rename": written, "megabytes": len(blob) / 1e6}}))
"""


def edit(targets: list[Path], value: int) -> None:
    for path in targets:
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(
            f"  max_iterations: {value}\n" if line.startswith("  max_iterations:") else line
            for line in lines))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def probe(code: str) -> dict[str, float]:
    done = subprocess.run([str(PYTHON), "-c", code], check=True, capture_output=True,
                          text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None,
                        help="reuse (or create) the mesh here instead of a temp folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    mesh = args.keep or Path(tempfile.mkdtemp(prefix="meshctl-apply-")) / "mesh"
    if not (mesh / "manifests").is_dir():
        subprocess.run([str(PYTHON), str(BENCH / "generate_mesh.py"), "--agents",
                        str(args.agents), "--out", str(mesh)], check=True,
                       stdout=subprocess.DEVNULL)
    manifests, registries = str(mesh / "manifests"), str(mesh / "registries")
    targets = sorted((mesh / "manifests" / "agents").glob("*.yaml"))[:10]
    base = [str(MESHCTL), "apply", "--auto-approve", "--registries", registries, manifests]
    subprocess.run([str(MESHCTL), "validate", manifests], check=True, capture_output=True)
    wall, plans, commits = [], [], []
    for round_number in range(args.repeat):
        edit(targets, 11 + 2 * round_number)
        wall.append(timed(base))
        edit(targets, 12 + 2 * round_number)
        split = probe(SPLIT.format(root=str(ROOT), manifests=manifests, registries=registries))
        assert split["updates"] == len(targets), split
        plans.append(split["plan"])
        commits.append(split["commit"])
    floors = probe(FLOORS.format(agent_registry=str(mesh / "registries" /
                                                     "agent_registry.json")))
    load = os.getloadavg()[0]
    table = "\n".join([
        HEADING, "",
        f"`python bench/apply.py` ({args.agents:,} agents, ten changed agent manifests per "
        f"round, median of {args.repeat}, load average {load:.2f} at the end). "
        "Goal: under 1 s end to end warm, fsync included.", "",
        "| measurement | median | runs |", "|---|---:|---|",
        f"| `meshctl apply --auto-approve`, wall | {statistics.median(wall):.2f} s | "
        + ", ".join(f"{v:.2f}" for v in wall) + " |",
        f"| — plan (engine.make_plan, warm cache) | {statistics.median(plans):.2f} s | "
        + ", ".join(f"{v:.2f}" for v in plans) + " |",
        f"| — commit (lock, fingerprint, splice, fsync, journal, rename) | "
        f"{statistics.median(commits):.2f} s | " + ", ".join(f"{v:.2f}" for v in commits)
        + " |",
        f"| floor: `json.dumps(indent=2)` of the agent registry ({floors['megabytes']:.0f} MB)"
        f" | {floors['json_dumps_indent2']:.2f} s | |",
        f"| floor: orjson indent 2 of it | {floors['orjson_indent2'] * 1000:.0f} ms | |",
        f"| floor: write it, fsync, rename, fsync the folder | "
        f"{floors['write_fsync_rename'] * 1000:.0f} ms | |",
        "",
        f"Goal < 1 s: {'met' if statistics.median(wall) < 1 else '**missed**'}. The commit "
        "is a fraction of the time; planning (reading 12,000 manifests through the cache, "
        "the live registries, validating and diffing the whole mesh) is the rest.", ""])
    print(table)
    if not args.no_readme:
        readme = BENCH / "README.md"
        text = readme.read_text()
        if f"\n{HEADING}\n" in text:
            before, after = text.split(f"\n{HEADING}\n", 1)
            rest = after.split("\n## ", 1)
            text = before + "\n" + table + ("\n## " + rest[1] if len(rest) > 1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + table
        readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
