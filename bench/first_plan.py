"""Benchmark the plans no sync mark serves (issue 26): time and peak memory at scale.

    .venv/bin/python bench/first_plan.py [--sizes 10000,100000] [--keep DIR] [--no-readme]

For each size, bench/generate_mesh.py's mesh (DIR/mesh-N, reused when there, as
bench/scale.py makes it) is copied without any cache, and in fresh CLI processes, each
under `/usr/bin/time -f %M` for its peak RSS:

* `validate`, cold (no `.meshctl-cache/`: a fresh clone): not this bench's subject, the
  step before the first plan;
* the very first `plan`: registries no meshctl has read (no saved layouts), manifests
  validated but never planned;
* the first `plan` of validated manifests against registries meshctl has laid out (after
  an apply elsewhere, or after a meshctl upgrade, which starts its caches again);
* a `plan` after a foreign edit of the agent registry (a script rewriting it with
  `json.dump`): no revision says what changed;
* the next `plan` (warm: the files marked in sync).

Replaces the "## Plans no mark serves (issue 26)" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import common, readme, scale  # noqa: E402

HEADING = "## Plans no mark serves (issue 26)"
CACHE = ".meshctl-cache"


def run(folder: Path, *args: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one meshctl command in `folder`."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", str(scale.MESHCTL), *args,
                           "--max-bytes", scale.MAX_BYTES, "-o", "json"],
                          cwd=folder, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"{args} failed in {folder}:\n{done.stderr.decode()[-3000:]}")
    return elapsed, int(done.stderr.decode().strip().splitlines()[-1]) / 1024


def plan(folder: Path) -> tuple[float, float]:
    return run(folder, "plan", "manifests", "--registries", "registries")


def foreign_edit(registries: Path) -> None:
    """A script rewrites the agent registry with one description changed."""
    path = registries / "agent_registry.json"
    document = json.loads(path.read_bytes())
    document["agents"][-1]["description"] = "edited by a script"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def measure(source: Path) -> dict[str, tuple[float, float]]:
    work = Path(tempfile.mkdtemp(prefix="meshctl-first-plan-"))
    try:
        shutil.copytree(source / "manifests", work / "manifests",
                        ignore=shutil.ignore_patterns(CACHE))
        shutil.copytree(source / "registries", work / "registries",
                        ignore=shutil.ignore_patterns(".meshctl"))
        found = {"validate, cold": run(work, "validate", "manifests")}
        validated = work / "validated-cache"
        shutil.copytree(work / "manifests" / CACHE, validated)
        found["first plan, registries never laid out"] = plan(work)
        shutil.rmtree(work / "manifests" / CACHE)
        shutil.copytree(validated, work / "manifests" / CACHE)
        found["first plan, registries laid out"] = plan(work)
        foreign_edit(work / "registries")
        found["plan after a foreign edit of the agent registry"] = plan(work)
        found["the next plan (warm)"] = plan(work)
        return found
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    common.compiled_bytecode()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {size: measure(scale.mesh(args.keep, size)) for size in sizes}
    steps = list(next(iter(results.values())))
    rows = [f"| {step} | " + " | ".join(f"{results[size][step][0]:.2f} s, "
                                       f"{results[size][step][1]:.0f} MB" for size in sizes)
            + " |" for step in steps]
    part = "\n".join([
        HEADING, "",
        f"`python bench/first_plan.py --sizes {args.sizes}` "
        f"({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
        f"1-minute load average {os.getloadavg()[0]:.2f} at the end). Each step a fresh CLI "
        "run, wall time and peak RSS (`/usr/bin/time -f %M`), in order on one copy of the "
        "mesh without caches:", "",
        "| step | " + " | ".join(f"{size:,} agents" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes), *rows])
    print(part)
    if not args.no_readme:
        readme.replace_section(HEADING, part)


if __name__ == "__main__":
    main()
