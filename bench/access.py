"""Benchmark what the access rules (issue 24) add to a warm `meshctl validate` and `plan`.

    .venv/bin/python bench/access.py [--keep DIR] [--before TREE] [--with TREE]
        [--patched TREE] [--rules 200] [--repeat 5] [--no-readme] [--json FILE]
    .venv/bin/python bench/access.py --render FILE    # the section again, from --json's FILE

The goal (issue 24): at 10,000 agents and 200 governance rules, the A rules, the access
changes of a plan and the matrix add under 10% to a warm `validate` and `plan`.

The mesh: bench/generate_mesh.py's 10,000 agents (in DIR/base, reused when there), made
valid under the access rules (in DIR/access): the orchestrator lists every agent a workflow
runs and its `agent_invocation_access` rule allows exactly those; `agent_tool_access` has
`--rules` rules, one per agent that asks for tools (the generator's 50 orchestrated agents
and others chosen by the seed), each allowing the agent's tools and denying five others;
every other agent asks for no tool (200 rules cannot grant 10,000 agents anything: the
runtime has no wildcard). It validates with no error and no warning, before and after.

A/B: the same mesh, copied twice (each version keeps its own parse cache and sync record),
timed with the CLI of two source trees, `--with` (default: this checkout) and `--before`
(default /tmp/wt-before: `git worktree add /tmp/wt-before ed9ce33~1`, the commit before the
access model, with this checkout's .venv linked into it), each run as
`PYTHONPATH=TREE .venv/bin/meshctl ...` in a fresh process. Runs alternate between the two
(the order swapped every round) so that other work on the machine hits both alike; each
figure is the median of `--repeat`, after one untimed warm-up run of each command.

* validate, warm: `meshctl validate DIR/manifests -o json`, nothing changed, cache present;
* validate, warm, 10 edited: 10 manifests of agents with a rule get a new `max_iterations`;
* plan, warm, no change: `meshctl plan --registries DIR/registries DIR/manifests`;
* plan, warm, 10 changed: the same 10 edits (10 updates; the access changes of 10 agents).

In-process, in fresh processes of each tree: `engine.load_desired` (warm) and
`engine.make_plan` (no change) with their phase timings; with the `--with` tree alone:
`access_rules.check` over the whole mesh (the A rules; building the governance index
included), `access.matrix` of every agent, the other mesh-wide rules (`check_graph`) for
scale, and the same A rules and matrix with a rule for every agent (10,000 rules, the base
mesh's tools). Then a cProfile of the warm validate and plan, the access functions' share.
Replaces the "## Access rules (issue 24)" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MESHCTL = str(ROOT / ".venv" / "bin" / "meshctl")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
HEADING = "## Access rules (issue 24)"
BEFORE = Path("/tmp/wt-before")
GOAL = 0.10  # at most this much added to a warm validate or plan
EDITED = 10
SPEC = {"agents": 10_000, "tools": 2_000, "profiles": 20, "workflows": 200, "seed": 42}
_SUMMARY = re.compile(r"Plan: (\d+) to create, (\d+) to update, (\d+) to delete, (\d+) refused")
_MAX_ITERATIONS = re.compile(r"(?m)^  max_iterations: (\d+)$")

Json = dict[str, Any]


# -- the mesh ----------------------------------------------------------------------------------


def _dump(path: Path, data: Any) -> None:
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def _run_agents(workflow: Json) -> list[str]:
    names = [step["agent_id"] for step in workflow.get("steps", [])]
    criteria = workflow.get("completion_criteria") or {}
    return names + list(criteria.get("required_agents_executed", []))


def derive(base: Path, out: Path, rules: int, seed: int) -> Json:
    """DIR/access from DIR/base: the orchestrator lists (and may invoke) every agent a
    workflow runs; `rules` tool rules; agents without one ask for no tool."""
    sys.path.insert(0, str(BENCH))
    import generate_mesh  # bench/, beside this script (imports this checkout's reconciler)

    from reconciler.store.registry_files import read_live_state

    if out.exists():
        shutil.rmtree(out)
    registries = out / "registries"
    shutil.copytree(base / "registries", registries)
    rng = random.Random(seed)
    agent_file = orjson.loads((registries / "agent_registry.json").read_bytes())
    agents: list[Json] = agent_file["agents"]
    orchestrator, workers = agents[0], agents[1:]
    assert orchestrator["agent_id"] == "orchestrator_agent"
    run = {name for path in sorted((registries / "workflows").glob("*.json"))
           for name in _run_agents(orjson.loads(path.read_bytes()))}
    listed = [a["agent_id"] for a in workers
              if a["agent_id"] in run or a["agent_id"] in orchestrator["allowed_agents"]]
    orchestrated = set(orchestrator["allowed_agents"])
    orchestrator["allowed_agents"] = listed
    governance = orjson.loads((registries / "governance_policies.json").read_bytes())
    invocation = governance["policies"]["agent_invocation_access"]["rules"]
    assert invocation[0]["agent_id"] == "orchestrator_agent"
    invocation[0]["allowed_agents"] = list(listed)

    tool_ids = [t["tool_id"] for t in orjson.loads(
        (registries / "tool_registry.json").read_bytes())["tools"]]
    first = [a for a in workers if a["agent_id"] in orchestrated]
    others = [a for a in workers if a["agent_id"] not in orchestrated]
    ruled = first + rng.sample(others, max(0, rules - len(first)))
    tool_rules = []
    for agent in ruled:
        denied = [t for t in rng.sample(tool_ids, 5) if t not in agent["allowed_tools"]]
        tool_rules.append({"agent_id": agent["agent_id"],
                           "allowed_tools": list(agent["allowed_tools"]),
                           "denied_tools": denied})
    rng.shuffle(tool_rules)
    governance["policies"]["agent_tool_access"]["rules"] = tool_rules
    with_rule = {a["agent_id"] for a in ruled}
    for agent in workers:
        if agent["agent_id"] not in with_rule:
            agent["allowed_tools"] = []
    _dump(registries / "agent_registry.json", agent_file)
    _dump(registries / "governance_policies.json", governance)
    live = read_live_state(registries)
    if live.diagnostics:
        raise SystemExit(f"the derived registries do not read cleanly: {live.diagnostics[:3]}")
    generate_mesh._export(list(live.state), out / "manifests")
    summary = {"base": str(base), "rules": len(tool_rules), "listed": len(listed),
               "asking_agents": sum(1 for a in workers if a["allowed_tools"]),
               "edit": sorted(a["agent_id"] for a in ruled if a["allowed_tools"])[:: max(
                   1, len(ruled) // EDITED)][:EDITED]}
    (out / "access-mesh.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    return summary


def _mesh(keep: Path, rules: int) -> tuple[Path, Json]:
    base = keep / "base"
    marker = base / "generated-mesh.json"
    spec = json.loads(marker.read_text("utf-8"))["spec"] if marker.exists() else None
    if spec != SPEC:
        subprocess.run([PYTHON, str(BENCH / "generate_mesh.py"), "--out", str(base),
                        *[f"--{name}={value}" for name, value in SPEC.items()]], check=True,
                       stdout=subprocess.DEVNULL)
    access = keep / "access"
    found = access / "access-mesh.json"
    summary = json.loads(found.read_text("utf-8")) if found.exists() else None
    if summary is None or summary.get("rules") != rules:
        print(f"deriving the access mesh in {access} ...", flush=True)
        summary = derive(base, access, rules, SPEC["seed"])
    return access, summary


# -- timing ------------------------------------------------------------------------------------


def _cli(tree: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([MESHCTL, *args], capture_output=True, text=True, env=env,
                          check=False, cwd="/tmp")
    return time.perf_counter() - started, done


def _validate(tree: Path, mesh: Path) -> float:
    seconds, done = _cli(tree, "validate", str(mesh / "manifests"), "-o", "json")
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    if done.returncode != 0 or report.get("errors") or report.get("warnings"):
        raise SystemExit(f"validate with {tree} is not clean: {done.stdout[-1500:]}"
                         f"{done.stderr[-1500:]}")
    return seconds


def _plan(tree: Path, mesh: Path, updates: int) -> float:
    seconds, done = _cli(tree, "plan", "--registries", str(mesh / "registries"),
                         str(mesh / "manifests"))
    found = _SUMMARY.search(done.stdout)
    if done.returncode != 0 or not found or [int(n) for n in found.groups()] != [
            0, updates, 0, 0]:
        raise SystemExit(f"plan with {tree} did not plan {updates} updates: "
                         f"{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return seconds


def _edit(paths: list[Path], originals: dict[Path, bytes], round_number: int) -> None:
    """A new max_iterations (11 + round: never what the registries hold) in each file."""
    for path in paths:
        text = originals[path].decode()
        path.write_text(_MAX_ITERATIONS.sub(f"  max_iterations: {11 + round_number % 40}",
                                            text, count=1), encoding="utf-8")


def _load_average() -> float:
    return os.getloadavg()[0]


def ab(trees: dict[str, Path], meshes: dict[str, Path], edit: list[str], repeat: int
       ) -> tuple[dict[str, dict[str, list[float]]], list[float]]:
    """Each case's runs by version, alternating the versions; the load averages seen."""
    cases = ("validate, warm", f"validate, warm, {EDITED} edited", "plan, warm, no change",
             f"plan, warm, {EDITED} changed")
    times: dict[str, dict[str, list[float]]] = {case: {v: [] for v in trees} for case in cases}
    loads: list[float] = []
    files = {v: [meshes[v] / "manifests" / "agents" / f"{name}.yaml" for name in edit]
             for v in trees}
    originals = {v: {p: p.read_bytes() for p in files[v]} for v in trees}

    def restore() -> None:
        for version in trees:
            for path, data in originals[version].items():
                path.write_bytes(data)

    rounds = iter(range(1000))
    try:
        for version, tree in trees.items():  # warm-up: the caches and sync records
            _validate(tree, meshes[version])
            _plan(tree, meshes[version], 0)
        for number in range(repeat):
            order = _order(list(trees), number)
            loads.append(_load_average())
            for version in order:
                tree, mesh = trees[version], meshes[version]
                times[cases[0]][version].append(_validate(tree, mesh))
                times[cases[2]][version].append(_plan(tree, mesh, 0))
            edit_round = next(rounds)
            for version in order:
                tree, mesh = trees[version], meshes[version]
                _edit(files[version], originals[version], edit_round)
                times[cases[1]][version].append(_validate(tree, mesh))
                times[cases[3]][version].append(_plan(tree, mesh, EDITED))
                restore()
            for version in trees:  # back to no change, cached, before the next round
                _plan(trees[version], meshes[version], 0)
    finally:
        restore()
    return times, loads


def _order(versions: list[str], number: int) -> list[str]:
    """Round `number`'s order: rotated, and reversed every other round."""
    turned = versions[number % len(versions):] + versions[:number % len(versions)]
    return turned if number % 2 == 0 else turned[::-1]


def _probe(tree: Path, name: str, *args: str) -> Json:
    """`access.py --probe NAME` in a fresh interpreter importing `tree`'s reconciler."""
    done = subprocess.run([PYTHON, str(Path(__file__).resolve()), "--probe", name,
                           "--tree", str(tree), *args], capture_output=True, text=True,
                          check=False, cwd="/tmp")
    if done.returncode != 0:
        raise RuntimeError(f"probe {name} with {tree} failed:\n{done.stderr[-3000:]}")
    answer: Json = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


# -- probes (a fresh process each; `--tree`'s reconciler) ---------------------------------------


def _clock(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def probe_desired(mesh: str) -> Json:
    from reconciler import engine

    started = time.perf_counter()
    desired = engine.load_desired([str(Path(mesh) / "manifests")])
    return {"wall": time.perf_counter() - started, "timings": dict(desired.timings),
            "errors": len(desired.errors)}


def probe_plan(mesh: str) -> Json:
    from reconciler import engine

    root = Path(mesh)
    started = time.perf_counter()
    result = engine.make_plan([root / "manifests"], root / "registries")
    return {"wall": time.perf_counter() - started, "timings": dict(result.timings),
            "errors": len(result.errors)}


def probe_access(mesh: str, base: str, repeat: str) -> Json:
    """The A rules, the matrix and the other mesh-wide rules over the access mesh; then the
    A rules and the matrix with a rule for every agent (the base mesh: all ask for tools)."""
    from reconciler import access, engine, graph, validate
    from reconciler.model.kinds import Kind
    from reconciler.validate import access_rules

    times = int(repeat)
    state = engine.load_desired([str(Path(mesh) / "manifests")]).state
    out: Json = {"agents": len(state.of_kind(Kind.AGENT))}

    def runs(action: Callable[[], Any]) -> list[float]:
        return [_clock(action) for _ in range(times)]

    found: Json = {}
    out["check"] = runs(lambda: found.__setitem__(
        "diagnostics", access_rules.check(state, access.Governance.of(state))))
    out["check_diagnostics"] = len(found["diagnostics"])
    out["governance_of"] = runs(lambda: access.Governance.of(state).policy(access.Verb.USE))
    nothing: frozenset[str] = frozenset()
    parts = {"A003 (each agent's allowed_tools)": access_rules.Focus(
                 orchestrator=False, workflows=nothing, policies=nothing),
             "A001 (the orchestrator's allowed_agents)": access_rules.Focus(
                 agents=nothing, workflows=nothing, policies=nothing),
             "A002, A005 (each workflow's agents)": access_rules.Focus(
                 agents=nothing, orchestrator=False, policies=nothing),
             "A004, A006 (the policies themselves)": access_rules.Focus(
                 agents=nothing, orchestrator=False, workflows=nothing)}

    def part(focus: access_rules.Focus) -> Callable[[], Any]:
        return lambda: access_rules.check(state, access.Governance.of(state), focus)

    out["parts"] = {label: runs(part(focus)) for label, focus in parts.items()}
    profile = cProfile.Profile()
    profile.runcall(access_rules.check, state, access.Governance.of(state))
    out["check_profile"] = _rows(profile)[:8]
    governance = access.Governance.of(state)
    out["matrix"] = runs(lambda: found.__setitem__("rows", access.matrix(state, governance)))
    out["matrix_rows"] = len(found["rows"])
    mesh_graph = graph.build(state)
    out["check_graph"] = runs(lambda: validate.check_graph(state, mesh_graph))

    everything = engine.load_desired([str(Path(base) / "manifests")]).state
    rules = [{"agent_id": name, "allowed_tools": list(agent.entry.get("allowed_tools", [])),
              "denied_tools": []} for name, agent in everything.of_kind(Kind.AGENT).items()]
    policies = {name: resource.entry for name, resource
                in everything.of_kind(Kind.GOVERNANCE_POLICY).items()}
    policies = {**policies, "agent_tool_access": {**policies["agent_tool_access"],
                                                  "rules": rules}}
    out["all_rules"] = len(rules)
    out["all_check"] = runs(lambda: found.__setitem__(
        "all", access_rules.check(everything, access.Governance(policies),
                                  access_rules.Focus(orchestrator=False, workflows=frozenset(),
                                                     policies=frozenset()))))
    out["all_check_diagnostics"] = len(found["all"])
    all_governance = access.Governance(policies)
    out["all_matrix"] = runs(lambda: found.__setitem__(
        "all_rows", access.matrix(everything, all_governance)))
    out["all_matrix_rows"] = len(found["all_rows"])
    return out


def probe_profile(mesh: str, what: str) -> Json:
    """cProfile of a warm validate (load_desired) or a no-change plan (make_plan): the
    total, the access functions' cumulative time, and the top functions by own time."""
    from reconciler import engine

    root = Path(mesh)
    profile = cProfile.Profile()
    if what == "validate":
        profile.runcall(engine.load_desired, [str(root / "manifests")])
    else:
        profile.runcall(engine.make_plan, [root / "manifests"], root / "registries")
    rows = _rows(profile)
    total = max(row["cumulative"] for row in rows)
    access_rows = sorted((row for row in rows if row["function"].startswith(
        ("access.py", "validate/access_rules.py")) or "_access_changes" in row["function"]),
        key=lambda row: -row["cumulative"])
    return {"total": total, "access": access_rows[:12], "top": rows[:12],
            "access_own": sum(row["own"] for row in access_rows)}


def _rows(profile: cProfile.Profile) -> list[Json]:
    """A profile's functions, by own time: name (reconciler/-relative), calls, times."""
    raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in raw.items():
        short = file.split("/reconciler/", 1)[-1] if "/reconciler/" in file else file
        where = f"{short}:{line}({name})" if line else name
        rows.append({"function": where, "calls": calls, "own": own, "cumulative": cumulative})
    rows.sort(key=lambda row: -row["own"])
    return rows


PROBES: dict[str, Callable[..., Json]] = {
    "desired": probe_desired, "plan": probe_plan, "access": probe_access,
    "profile": probe_profile}


# -- the report --------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _git(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--",
                            "reconciler"], capture_output=True, text=True, check=False)
    return done.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def render(results: Json) -> str:
    times, trees = results["times"], results["trees"]
    mesh = results["mesh"]
    lines = [
        HEADING, "",
        f"`python bench/access.py` (10,000 agents, 2,000 tools, 200 workflows; "
        f"{mesh['rules']} `agent_tool_access` rules, the orchestrator listing "
        f"{mesh['listed']:,} agents; {mesh['asking_agents']} agents ask for tools). "
        f"With: {trees['with']} ({results['commits']['with']}); before: {trees['before']} "
        f"({results['commits']['before']}, the commit before the access model). "
        f"{results['when']}; 2 CPUs; 1-minute load average {results['loads'][0]:.2f} "
        f"at the first round, {max(results['loads']):.2f} at most, "
        f"{results['load_end']:.2f} at the end" + (
            " (a quiet machine). " if max(results["loads"]) < 1.5 else
            " (other work was running: the runs alternate between the versions so that it "
            "hits all alike). ") +
        f"Median of {results['repeat']} CLI runs each. Goal: under 10% added.", "",
        "| run | before | with | added | best of each: before, with, added | runs before "
        "| runs with | goal |",
        "|---|---:|---:|---:|---|---|---|---|"]
    for case, by in times.items():
        before, after = _median(by["before"]), _median(by["with"])
        added = after / before - 1
        verdict = "met" if added < GOAL else "**missed**"
        lines.append(
            f"| {case} | {_s(before)} | {_s(after)} | {added:+.1%} | "
            f"{_s(min(by['before']))}, {_s(min(by['with']))}, "
            f"{min(by['with']) / min(by['before']) - 1:+.1%} | "
            f"{', '.join(f'{x:.2f}' for x in by['before'])} | "
            f"{', '.join(f'{x:.2f}' for x in by['with'])} | < 10%: {verdict} |")
    if "patched" in trees:
        lines += ["", f"Patched ({trees['patched']}: this checkout's code with the changes "
                  "suggested below, not committed), timed in the same rounds:", "",
                  "| run | before | patched | added | best of each: before, patched, added |",
                  "|---|---:|---:|---:|---|"]
        for case, by in times.items():
            before, after = _median(by["before"]), _median(by["patched"])
            lines.append(
                f"| {case} | {_s(before)} | {_s(after)} | {after / before - 1:+.1%} | "
                f"{_s(min(by['before']))}, {_s(min(by['patched']))}, "
                f"{min(by['patched']) / min(by['before']) - 1:+.1%} |")
    lines += ["", "In-process (fresh processes, median of "
              f"{results['repeat']}): the phases the access rules run in.", "",
              "| phase | before | with | added |" + (" patched | added |" if "patched" in trees
                                                      else ""),
              "|---|---:|---:|---:|" + ("---:|---:|" if "patched" in trees else "")]
    for label, key, phase in (("load_desired, warm: validate (mesh-wide rules)", "desired",
                               "validate"),
                              ("load_desired, warm: wall", "desired", "wall"),
                              ("make_plan, no change: validate", "plan", "validate"),
                              ("make_plan, no change: diff (with the access changes)", "plan",
                               "diff"),
                              ("make_plan, no change: wall", "plan", "wall")):
        cells = {version: _median([a["wall"] if phase == "wall"
                                   else a["timings"].get(phase, 0.0)
                                   for a in results["probes"][key][version]])
                 for version in trees}
        row = f"| {label} | {_s(cells['before'])} |"
        for version in [v for v in ("with", "patched") if v in trees]:
            row += (f" {_s(cells[version])} | {_ms(cells[version] - cells['before'])} "
                    f"({cells[version] / cells['before'] - 1:+.0%}) |")
        lines.append(row)
    probe, patched = results["access"], results.get("access_patched")

    def cell(key: str, note: str = "") -> str:
        found = f" {_ms(_median(probe[key]))} |"
        if patched is not None:
            found += f" {_ms(_median(patched[key]))} |"
        return found + f" {note} |"

    lines += ["", "The access model alone, in-process (median of "
              f"{results['repeat']} in one process):", "",
              "| what | with |" + (" patched |" if patched else "") + " note |",
              "|---|---:|" + ("---:|" if patched else "") + "---|",
              "| A rules (`access_rules.check`, whole mesh, governance index built) |"
              + cell("check", f"{probe['check_diagnostics']} diagnostics"),
              "| — of which `Governance.of` + indexing the tool rules |"
              + cell("governance_of")]
    for label in probe["parts"]:
        found = f"| — the A rules of one part: {label} | {_ms(_median(probe['parts'][label]))} |"
        if patched is not None:
            found += f" {_ms(_median(patched['parts'][label]))} |"
        lines.append(found + " |")
    lines += ["| `access.matrix`, every agent (not run by validate or plan) |"
              + cell("matrix", f"{probe['matrix_rows']:,} rows"),
              "| the other mesh-wide rules (`check_graph`), for scale |" + cell("check_graph"),
              f"| A003 with a rule for every agent ({probe['all_rules']:,} rules, every agent "
              "asking for its tools) |"
              + cell("all_check", f"{probe['all_check_diagnostics']} diagnostics"),
              f"| `access.matrix` with those {probe['all_rules']:,} rules |"
              + cell("all_matrix", f"{probe['all_matrix_rows']:,} rows")]
    base = results.get("base_validate")
    if base is not None and base["errors"]:
        lines += ["", f"bench/generate_mesh.py's own mesh (DIR/base) is not valid under the "
                  f"access rules: `meshctl validate` finds {base['errors']:,} errors there ("
                  + ", ".join(f"{count:,} {code}" for code, count in base["codes"].items())
                  + "). Hence the mesh derived here."]
    lines += ["", "### Where the time goes", ""]
    lines += results["observations"]
    lines += ["", SUGGESTIONS]
    return "\n".join(lines) + "\n"


SUGGESTIONS = """\
History: the first measurement (the code of 5589a7d) put the warm validate at +8% to +16%.
Its profile found three costs, since removed (cbf9b5b, 88e78ed): A002 built the
orchestrator's list once per workflow; each decision searched its rule's list for its
place (`list.index`, a scan of 1,114 names per decision), now an index kept with the rule;
A003 built a decision for every name every agent asks for, now only for a denial, and
skips agents that ask for nothing. bench/generate_mesh.py's own mesh was not valid under
the access rules then (22,782 errors: tools granted to the 50 orchestrated agents only); it
now grants what its agents ask for and lists what its workflows run (e08cf3d).
"""


def observations(results: Json) -> list[str]:
    times, probes = results["times"], results["probes"]
    found = []
    for case, by in times.items():
        before, after = _median(by["before"]), _median(by["with"])
        found.append(f"{case} {_ms(after - before)} ({after / before - 1:+.1%})")
    found = ["* The CLI, with against before (median): " + "; ".join(found) + "."]

    def phase(key: str, version: str, name: str) -> float:
        return _median([a["wall"] if name == "wall" else a["timings"].get(name, 0.0)
                        for a in probes[key][version]])

    check = _median(results["access"]["check"])
    found.append(
        f"* In-process, the warm validate's mesh-wide rules take "
        f"{_ms(phase('desired', 'with', 'validate') - phase('desired', 'before', 'validate'))}"
        f" more, the A rules alone {_ms(check)} (a fresh governance index included); a "
        f"no-change plan's validate "
        f"{_ms(phase('plan', 'with', 'validate') - phase('plan', 'before', 'validate'))} more "
        f"(the A rules over what would remain) and its diff "
        f"{_ms(phase('plan', 'with', 'diff') - phase('plan', 'before', 'diff'))} (the access "
        "changes: none to compute when no agent and no policy changed).")
    parts = results["access"]["parts"]
    found.append("* The A rules by part: " + "; ".join(
        f"{label} {_ms(_median(runs))}" for label, runs in parts.items()) + ".")
    top = results["access"]["check_profile"][:5]
    found.append("* Inside `access_rules.check` (cProfile, own time): " + "; ".join(
        f"`{row['function']}` {_ms(row['own'])} in {row['calls']:,} calls" for row in top)
        + ".")
    for what in ("validate", "plan"):
        profile = results["profiles"][what]
        found.append(
            f"* cProfile of a warm {what} in-process ({_s(profile['total'])} under the "
            f"profiler): the access functions' own time {_ms(profile['access_own'])} "
            f"({profile['access_own'] / profile['total']:.1%}); the largest by cumulative "
            "time: " + "; ".join(
                f"`{row['function']}` {_ms(row['cumulative'])} ({row['calls']:,} calls)"
                for row in profile["access"][:3]) + ".")
    return found


def write_readme(section: str) -> None:
    sys.path.insert(0, str(BENCH))
    import readme  # bench/readme.py

    readme.replace_section(HEADING, section)


def _base_validate(tree: Path, base: Path) -> Json:
    """What `meshctl validate` says of the generator's own mesh: errors by code."""
    _, done = _cli(tree, "validate", str(base / "manifests"), "-o", "json")
    report = json.loads(done.stdout)
    codes: dict[str, int] = {}
    for diagnostic in report["diagnostics"]:
        codes[diagnostic["code"]] = codes.get(diagnostic["code"], 0) + 1
    return {"errors": report["errors"], "codes": dict(sorted(codes.items()))}


def benchmark(keep: Path, trees: dict[str, Path], rules: int, repeat: int) -> Json:
    access_mesh, summary = _mesh(keep, rules)
    meshes = {}
    for version in trees:
        copy = keep / f"access-{version}"
        if not (copy / "access-mesh.json").exists() or (copy / "access-mesh.json").read_bytes(
        ) != (access_mesh / "access-mesh.json").read_bytes():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(access_mesh, copy, ignore=shutil.ignore_patterns(".meshctl-cache"))
        meshes[version] = copy
    os.sync()
    print(f"A/B: {repeat} rounds of validate and plan, before and with ...", flush=True)
    times, loads = ab(trees, meshes, summary["edit"], repeat)
    probes: Json = {"desired": {}, "plan": {}}
    for key in probes:
        probes[key] = {version: [] for version in trees}
        for number in range(repeat):
            for version in _order(list(trees), number):
                probes[key][version].append(_probe(trees[version], key,
                                                   str(meshes[version])))
    print("the access model in-process, and profiles ...", flush=True)
    results: Json = {
        "times": times, "loads": loads, "repeat": repeat, "mesh": summary,
        "trees": {version: str(tree) for version, tree in trees.items()},
        "commits": {version: _git(tree) for version, tree in trees.items()},
        "probes": probes,
        "access": _probe(trees["with"], "access", str(meshes["with"]), str(keep / "base"),
                         str(repeat)),
        "profiles": {what: _probe(trees["with"], "profile", str(meshes["with"]), what)
                     for what in ("validate", "plan")},
        "base_validate": _base_validate(trees["with"], keep / "base"),
        "load_end": _load_average(),
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if "patched" in trees:
        results["access_patched"] = _probe(trees["patched"], "access",
                                           str(meshes["patched"]), str(keep / "base"),
                                           str(repeat))
    results["observations"] = observations(results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=Path("/tmp/meshctl-bench-access"),
                        help="where the meshes live (generated when missing)")
    parser.add_argument("--before", type=Path, default=BEFORE)
    parser.add_argument("--with", dest="with_", type=Path, default=ROOT)
    parser.add_argument("--patched", type=Path,
                        help="a third source tree timed in the same rounds (a change tried)")
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    parser.add_argument("--render", type=Path,
                        help="render the results saved by --json (no measuring)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        sys.path.insert(0, str(args.tree))
        print(json.dumps(PROBES[args.probe](*args.args)))
        return 0
    if args.render is not None:
        section = render(json.loads(args.render.read_text(encoding="utf-8")))
        print(section)
        if not args.no_readme:
            write_readme(section)
        return 0
    if not (args.before / "reconciler").is_dir():
        parser.error(f"no source tree at {args.before}: git worktree add {args.before} "
                     f"ed9ce33~1 && ln -s {ROOT / '.venv'} {args.before / '.venv'}")
    trees = {"before": args.before.resolve(), "with": args.with_.resolve()}
    if args.patched is not None:
        trees["patched"] = args.patched.resolve()
    results = benchmark(args.keep, trees, args.rules, args.repeat)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    section = render(results)
    print(section)
    if not args.no_readme:
        write_readme(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
