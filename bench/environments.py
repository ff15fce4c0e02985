"""Benchmark `meshctl validate --all-envs` (issue 25) against one environment.

    .venv/bin/python bench/environments.py [--keep DIR] [--repeat 7] [--no-readme]

The goal: `validate --all-envs` of 3 environments over a 10,000-agent base with small
overlays, warm, costs under 1.5x `validate --env` of one of them.

The project (in DIR/project): bench/generate_mesh.py's 10,000-agent mesh (DIR/mesh,
reused when there) as the base layer, and three overlays of a few documents each:
dev (5 agents' `max_iterations`, one agent's model profile, one dev-only agent),
staging (3 agents, one `patches:` list edit, one tool's description), prod (2 agents and
a `$patch: delete` of the agent a shared second layer adds for every environment). Each
figure is the median of `--repeat` fresh CLI processes after one untimed warm-up (the
parse cache then holds the base); the two commands alternate, so other work on the
machine hits both alike. In-process, `loading.load_environments` of the three is timed
by phase.
Replaces the "## Environments (issue 25)" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import common, readme  # noqa: E402

MESHCTL = BENCH.parent / ".venv" / "bin" / "meshctl"
HEADING = "## Environments (issue 25)"


def _doc(kind: str, name: str, **body: object) -> dict[str, object]:
    return {"apiVersion": "agentmesh.io/v1", "kind": kind, "metadata": {"name": name}, **body}


def make_project(mesh: Path, root: Path) -> Path:
    """meshctl.yaml and the three overlays, over the generated mesh's manifests."""
    agents = sorted(p.stem for p in (mesh / "manifests" / "agents").glob("*.yaml")
                    if p.stem != "orchestrator_agent")
    tools = sorted(p.stem for p in (mesh / "manifests" / "tools").glob("*.yaml"))
    template = yaml.safe_load((mesh / "manifests" / "agents" / f"{agents[0]}.yaml")
                              .read_text(encoding="utf-8"))
    overlays = {
        "dev": [_doc("Agent", name, spec={"max_iterations": 3}) for name in agents[:5]]
        + [_doc("Agent", agents[5], spec={"model_profile_id": template["spec"]
                                          ["model_profile_id"]}),
           _doc("Agent", "dev_only_agent", spec={**template["spec"], "name": "Dev only",
                                                 "allowed_tools": []})],
        "staging": [_doc("Agent", name, spec={"iteration_timeout_seconds": 60})
                    for name in agents[10:13]]
        + [_doc("Agent", agents[13], patches=[{"op": "add", "path": "/spec/capabilities/-",
                                                "value": "staging_trial"}]),
           _doc("Tool", tools[0], spec={"description": "staging build"})],
        "prod": [_doc("Agent", name, spec={"max_iterations": 8}) for name in agents[20:22]]
        + [{**_doc("Agent", "legacy_agent"), "$patch": "delete"}],
    }
    root.mkdir(parents=True, exist_ok=True)
    shared = root / "shared"  # a second layer every environment has; prod drops its agent
    shared.mkdir(exist_ok=True)
    (shared / "legacy_agent.yaml").write_text(yaml.safe_dump(_doc(
        "Agent", "legacy_agent", spec={**template["spec"], "name": "Legacy",
                                       "allowed_tools": []}), sort_keys=False),
        encoding="utf-8")
    environments = {}
    for name, documents in overlays.items():
        folder = root / "overlays" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "overlay.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False),
                                             encoding="utf-8")
        environments[name] = {"manifests": [os.path.relpath(mesh / "manifests", root),
                                            "shared", f"overlays/{name}"]}
    (root / "meshctl.yaml").write_text(yaml.safe_dump({"environments": environments},
                                                      sort_keys=False), encoding="utf-8")
    return root


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(MESHCTL), *args], cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"meshctl {' '.join(args)} failed:\n{done.stdout.decode()[-2000:]}"
                         f"{done.stderr.decode()[-2000:]}")
    return elapsed


def in_process(project: Path) -> dict[str, float]:
    code = (
        "import time, json, os\n"
        "from reconciler import loading\n"
        "from reconciler.manifests import project\n"
        "from reconciler.manifests.layers import Layers\n"
        "p = project.load(project.find(__import__('pathlib').Path.cwd()))\n"
        "stacks = [Layers(e.manifests) for e in p.environments.values()]\n"
        "t = time.perf_counter(); found = loading.load_environments(stacks)\n"
        "wall = time.perf_counter() - t\n"
        "t = time.perf_counter(); one = loading.load_environments(stacks[:1])\n"
        "single = time.perf_counter() - t\n"
        "print(json.dumps({'wall, 3 environments': wall, 'wall, 1 environment': single,"
        " **{'3 envs: ' + k: v for k, v in found[0].timings.items()},"
        " **{'layers, ' + n: d.timings['layers'] for n, d in zip(p.environments, found)}}))\n")
    return common.measured_in_process(code, project)


def main() -> None:
    common.compiled_bytecode()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    keep = args.keep
    mesh = common.mesh(keep / "mesh" if keep else None, 10_000, "meshctl-envs-")
    project = make_project(mesh, (keep or mesh.parent) / "project")
    commands = {"validate --env dev (one environment)": ["validate", "--env", "dev", "-o",
                                                          "json"],
                "validate --all-envs (3 environments)": ["validate", "--all-envs", "-o",
                                                         "json"]}
    for command in commands.values():
        timed(command, project)  # warm: the parse cache holds the base
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(args.repeat):
        order = list(commands.items())
        if round_ % 2:
            order.reverse()
        for name, command in order:
            runs[name].append(timed(command, project))
    medians = {name: statistics.median(times) for name, times in runs.items()}
    one, three = medians.values()
    phases = in_process(project)
    load = os.getloadavg()[0]
    rows = [f"| {name} | {median:.2f} s | {', '.join(f'{t:.2f}' for t in runs[name])} |"
            for name, median in medians.items()]
    section = "\n".join([
        HEADING, "",
        "`python bench/environments.py` (bench/generate_mesh.py's 10,000 agents as the base "
        "layer; a shared layer of one agent, then dev, staging and prod overlays of 7, 5 "
        "and 3 documents). "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
        f"1-minute load average {load:.2f} at the end. Median of {args.repeat} CLI runs, warm. "
        "Goal: `--all-envs` of 3 under 1.5x one environment.", "",
        "| run | median | runs |", "|---|---:|---|", *rows, "",
        f"Ratio: **{three / one:.2f}x** ({'met' if three / one < 1.5 else 'NOT met'}).", "",
        "In-process (`loading.load_environments`, one fresh process, warm):", "",
        "| phase | time |", "|---|---:|",
        *[f"| {name} | {value * 1000:.0f} ms |" for name, value in phases.items()], "",
        "### Where the time goes", "",
        "* The base layer is read once (the parse cache) and its mesh-wide rules run once "
        "(`validate.check_mesh`); each environment then merges its overlays "
        "(`layers.apply`, re-reading the few base files they patch) and re-checks only "
        "what they change (`validate.changes.check_mesh_changed`: the changed resources, "
        "their referrers, the access rules' focus, the cheap whole-mesh rules). The "
        "`layers` rows above are that per-environment cost.",
        "* The first environment's overlay pass carries a one-time cost: checking the "
        "merged resources imports the schema models (`validate/schema.py` and the pydantic "
        "models, about 0.15-0.3 s), which a warm run of the base alone never needs (its "
        "results come from the parse cache). One environment with overlays pays it too; "
        "the later environments' passes take milliseconds.",
        "* One environment pays the same base read and base check, so three cost one "
        "plus three small overlay passes, plus printing three reports.", ""])
    print(section)
    if not args.no_readme:
        readme.replace_section(HEADING, section)


if __name__ == "__main__":
    main()
