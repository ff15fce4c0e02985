"""Benchmark `meshctl validate` (and the floors under it) on a generated mesh.

    .venv/bin/python bench/run.py [--agents 10000] [--keep DIR] [--repeat 3] [--no-readme]

Generates a mesh with bench/generate_mesh.py into a temporary directory (or reuses/keeps it in
--keep DIR), times the CLI as a user runs it, splits the time by phase with the engine called
in-process, measures what the libraries underneath cost at best, prints markdown tables and
writes them to bench/README.md under "## Results". Every measurement runs in a fresh process,
as the CLI does. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout: import the working tree
    sys.path.insert(0, str(ROOT))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import generate_mesh  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
MESHCTL = str(VENV_BIN / "meshctl")
README = BENCH / "README.md"
RESULTS_HEADING = "## Results"
CACHE_DIR = ".meshctl-cache"
EDITED_FILES = 10
PHASES = ("read", "parse", "build", "validate", "cache")
COLD_GOAL, WARM_GOAL = 3.0, 1.0
BUSY_LOAD = 0.5  # 1-minute load average above which the machine was not idle at the start

Json = dict[str, Any]

INTRO = """\
# meshctl benchmarks

`bench/generate_mesh.py` writes a large mesh shaped like the example registries (agents,
tools, profiles, the workflow and the nine policies of `registries/` as templates, each
resource varied: ids, descriptions, tool and profile choices, output schemas, 3-8 step
workflows) as both AgentMesh registries and the manifests `meshctl export` writes from them.
It is deterministic for a seed and the mesh validates with zero errors. At 10,000 agents
it writes a ~28 MB agent_registry.json and ~22.6 MB of manifests in 12,229 files (the
example agents themselves average ~2.7 KB of indent=2 JSON and ~1.8 KB of YAML each).

```sh
.venv/bin/python bench/generate_mesh.py --agents 10000 --tools 2000 --profiles 20 \\
    --workflows 200 --out /tmp/mesh [--seed 42]
.venv/bin/python bench/run.py                 # 10,000 agents, temp dir, updates this file
.venv/bin/python bench/run.py --agents 2000 --keep /tmp/mesh2k --no-readme
```

`bench/run.py` generates the mesh (or reuses `--keep DIR`), then measures, each run in a fresh
process and reported as the median of 3:

* **meshctl validate, wall time**: `.venv/bin/meshctl validate DIR/manifests -o json` as a
  user runs it. *cold*: `.meshctl-cache/` deleted first, every file parsed and checked;
  *warm*: the cache from the previous run is present, nothing changed; *10 files edited*:
  `max_iterations` changed in 10 agent manifests before each run, so 10 cache misses.
  `meshctl --version` is the fixed cost of starting Python and importing the CLI.
* **load_desired by phase**: `reconciler.engine.load_desired` called in a fresh process,
  with its own `timings`: *read* (list, read and hash the files, look them up in the parse
  cache), *parse* (YAML + per-resource rules for the cache misses, over worker processes),
  *build* (per-file results -> one `MeshState`), *validate* (graph, references, orchestrator,
  cycles), *cache* (write changed cache shards); *wall* is the whole call. Runs: cold with
  `use_cache=False`, the same with `jobs=1`, cold writing a new cache (what the CLI's cold
  run does) and warm. The CLI's wall time minus this is start-up, imports, report and exit.
* **floors**: what the libraries cost with no meshctl logic at all: reading the files,
  libyaml (`CSafeLoader`) loading and composing every manifest, `json`/`orjson` parsing
  `agent_registry.json` with the cyclic GC on and paused, `read_live_state` on the registries,
  and import times. A phase far above its floor is where to look.

Goals on this 2-core machine: `meshctl validate` of the 10,000-agent mesh under 3 s cold and
under 1 s warm. The OS page cache is warm in every run (files were just written or read):
"cold" means no parse cache, not a cold disk.
"""


# -- measuring ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Timed:
    label: str
    runs: list[float] = field(default_factory=list)
    goal: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")


def _clock(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _run(command: Sequence[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def _validate(manifests: Path) -> tuple[float, Json]:
    """One `meshctl validate -o json` run: wall seconds and the parsed report."""
    seconds, done = _run([MESHCTL, "validate", str(manifests), "-o", "json"])
    try:
        report: Json = json.loads(done.stdout)
    except ValueError:
        report = {"valid": False, "errors": None, "diagnostics": [],
                  "failure": (done.stderr or done.stdout).strip()[-2000:]}
    report["exit_code"] = done.returncode
    return seconds, report


def _probe(name: str, *args: str) -> Json:
    """Run `run.py --probe NAME ARGS...` in a fresh interpreter; its JSON answer."""
    seconds, done = _run([PYTHON, str(Path(__file__).resolve()), "--probe", name, *args])
    if done.returncode != 0:
        raise RuntimeError(f"probe {name} failed:\n{done.stderr[-3000:]}")
    answer: Json = json.loads(done.stdout.strip().splitlines()[-1])
    answer["process_wall"] = seconds  # start to exit, as the parent saw it
    return answer


# -- probes: run in a fresh process each -------------------------------------------------------


def probe_import() -> Json:
    return {"cli": _clock(lambda: __import__("reconciler.cli"))}


def probe_schema_import() -> Json:
    """The lazy import a cold parse pays (in each worker: they fork before it happens)."""
    __import__("reconciler.engine")
    seconds = _clock(lambda: __import__("reconciler.validate.schema"))
    from reconciler.validate import schema

    first_check = _clock(lambda: schema.schema_problem({"type": "object"}))
    return {"schema": seconds, "first_check": first_check}


def probe_desired(manifests: str, mode: str) -> Json:
    from reconciler import engine

    kwargs: Json = {"use_cache": mode in ("warm", "cold-cached")}
    if mode == "cold-j1":
        kwargs["jobs"] = 1
    if mode == "cold-cached":  # what the CLI's cold run does: parse all, write a new cache
        shutil.rmtree(Path(manifests) / CACHE_DIR, ignore_errors=True)
    started = time.perf_counter()
    desired = engine.load_desired([manifests], **kwargs)
    wall = time.perf_counter() - started
    return {"timings": dict(desired.timings), "wall": wall, "cache_hits": desired.cache_hits,
            "files": len(desired.files), "errors": len(desired.errors)}


def _manifest_paths(manifests: Path) -> list[Path]:
    return sorted(p for p in manifests.rglob("*.yaml") if CACHE_DIR not in p.parts)


def _manifest_texts(manifests: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in _manifest_paths(manifests)]


_texts: list[str] = []  # what forked compose workers read


def _compose_slice(job: tuple[int, int]) -> int:
    import yaml

    start, step = job
    count = 0
    for text in _texts[start::step]:
        count += yaml.compose(text, Loader=yaml.CSafeLoader) is not None
    return count


def probe_floors(mesh: str, repeat: int) -> Json:
    import multiprocessing

    import orjson
    import yaml

    from reconciler.store.registry_files import read_live_state

    global _texts
    root = Path(mesh)
    manifests, registries = root / "manifests", root / "registries"
    out: Json = {}

    def best_of(label: str, action: Callable[[], Any], *, gc_paused: bool = False) -> None:
        runs: list[float] = []
        for _ in range(repeat):
            gc.collect()
            if gc_paused:
                gc.disable()
            try:
                runs.append(_clock(action))
            finally:
                gc.enable()
        out[label] = statistics.median(runs)

    def read_all() -> None:
        for folder, subfolders, names in os.walk(manifests):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in sorted(names):
                if name.endswith(".yaml"):
                    Path(folder, name).read_bytes()

    def read_and_hash() -> None:
        for text in _manifest_paths(manifests):
            hashlib.sha256(text.read_bytes()).hexdigest()

    shards = sorted((manifests / CACHE_DIR).rglob("*.json"))

    def load_shards() -> None:
        for shard in shards:
            orjson.loads(shard.read_bytes())

    best_of("read_files", read_all)
    best_of("read_and_hash", read_and_hash)
    out["cache_bytes"] = sum(p.stat().st_size for p in shards)
    out["cache_shards"] = len(shards)
    best_of("load_cache_shards", load_shards)
    _texts = _manifest_texts(manifests)
    out["manifest_bytes"] = sum(len(t.encode()) for t in _texts)

    def load_all() -> None:
        for text in _texts:
            yaml.load(text, Loader=yaml.CSafeLoader)

    def compose_all() -> None:
        for text in _texts:
            yaml.compose(text, Loader=yaml.CSafeLoader)

    workers = os.cpu_count() or 1

    def compose_parallel() -> None:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            pool.map(_compose_slice, [(n, workers) for n in range(workers)])

    best_of("yaml_load", load_all)
    best_of("yaml_compose", compose_all)
    best_of("yaml_compose_parallel", compose_parallel)
    out["workers"] = workers
    _texts = []

    data = (registries / "agent_registry.json").read_bytes()
    out["agent_registry_bytes"] = len(data)
    best_of("json_loads", lambda: json.loads(data))
    best_of("json_loads_gc_paused", lambda: json.loads(data), gc_paused=True)
    best_of("orjson_loads", lambda: orjson.loads(data))
    best_of("orjson_loads_gc_paused", lambda: orjson.loads(data), gc_paused=True)
    best_of("read_live_state", lambda: read_live_state(registries))
    return out


# -- the benchmark -----------------------------------------------------------------------------


def _spec(agents: int, seed: int) -> generate_mesh.MeshSpec:
    """The mesh for `agents`: the 10,000-agent proportions (tools /5, workflows /50)."""
    return generate_mesh.MeshSpec(agents=agents, tools=max(6, agents // 5), profiles=20,
                                  workflows=max(1, agents // 50), seed=seed)


def _mesh(spec: generate_mesh.MeshSpec, keep: Path | None) -> tuple[Path, Json, bool]:
    """(mesh dir, its summary, whether it is temporary)."""
    if keep is not None:
        summary = generate_mesh.existing_summary(keep)
        if summary is not None and summary.get("spec") == asdict(spec):
            print(f"reusing the mesh in {keep}")
            return keep, summary, False
        return keep, generate_mesh.generate(spec, keep), False
    folder = Path(tempfile.mkdtemp(prefix="meshctl-bench-"))
    return folder, generate_mesh.generate(spec, folder), True


def _edit_targets(manifests: Path) -> list[Path]:
    agents = sorted((manifests / "agents").glob("*.yaml"))
    step = max(1, len(agents) // EDITED_FILES)
    return agents[::step][:EDITED_FILES]


_MAX_ITERATIONS = re.compile(r"(?m)^  max_iterations: (\d+)$")


def _edit(originals: dict[Path, bytes], round_number: int) -> None:
    """A real edit per file and round (max_iterations 11 + round: in bounds, never repeated)."""
    for path, original in originals.items():
        text = original.decode()
        edited, count = _MAX_ITERATIONS.subn(f"  max_iterations: {11 + round_number}", text,
                                             count=1)
        if count == 0:  # manifest shape changed: any byte change still makes a cache miss
            edited = f"{text}# bench edit {round_number}\n"
        path.write_text(edited, encoding="utf-8")


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _git_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.rstrip("\n")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "reconciler").splitlines()]
    return f"commit {head}" + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def benchmark(spec: generate_mesh.MeshSpec, keep: Path | None, repeat: int) -> Json:
    mesh, summary, temporary = _mesh(spec, keep)
    manifests = mesh / "manifests"
    cache = manifests / CACHE_DIR
    results: Json = {"spec": asdict(spec), "summary": summary, "repeat": repeat,
                     "machine": f"{_cpu()}, {os.cpu_count()} CPUs, Python "
                                f"{platform.python_version()}, {platform.system()}",
                     "code": _git_state(), "load_before": _load_average(),
                     "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        print("timing meshctl ...", flush=True)
        startup = Timed("`meshctl --version` (start Python, import the CLI)")
        cold = Timed("validate, cold (no `.meshctl-cache/`)", goal=COLD_GOAL)
        warm = Timed("validate, warm (cache present, nothing changed)", goal=WARM_GOAL)
        edited = Timed(f"validate, warm after editing {EDITED_FILES} manifests", goal=WARM_GOAL)
        reports: list[Json] = []
        for _ in range(repeat):
            startup.runs.append(_run([MESHCTL, "--version"])[0])
        for _ in range(repeat):
            shutil.rmtree(cache, ignore_errors=True)
            seconds, report = _validate(manifests)
            cold.runs.append(seconds)
            reports.append(report)
        for _ in range(repeat):
            seconds, report = _validate(manifests)
            warm.runs.append(seconds)
            reports.append(report)
        targets = _edit_targets(manifests)
        originals = {path: path.read_bytes() for path in targets}
        try:
            for number in range(repeat):
                _edit(originals, number)
                seconds, report = _validate(manifests)
                edited.runs.append(seconds)
                reports.append(report)
        finally:
            for path, original in originals.items():
                path.write_bytes(original)
        _validate(manifests)  # re-warm the cache for the unedited files
        results["cli"] = [asdict(t) for t in (startup, cold, warm, edited)]
        results["validity"] = _validity(reports)

        print("timing load_desired by phase ...", flush=True)
        desired: Json = {}
        for mode in ("cold", "cold-j1", "cold-cached", "warm"):
            desired[mode] = [_probe("desired", str(manifests), mode) for _ in range(repeat)]
        results["desired"] = desired

        print("timing floors ...", flush=True)
        results["floors"] = _probe("floors", str(mesh), str(repeat))
        results["imports"] = [_probe("import") for _ in range(repeat)]
        results["schema_import"] = [_probe("schema-import") for _ in range(repeat)]
    finally:
        if temporary:
            shutil.rmtree(mesh, ignore_errors=True)
    results["load_after"] = _load_average()
    return results


def _validity(reports: list[Json]) -> Json:
    bad = [r for r in reports if not r.get("valid") or r.get("exit_code") != 0]
    first = bad[0] if bad else reports[0]
    return {"all_valid": not bad, "runs": len(reports), "invalid_runs": len(bad),
            "errors": first.get("errors"), "warnings": first.get("warnings"),
            "resources": first.get("resources"), "files": first.get("files"),
            "first_diagnostics": first.get("diagnostics", [])[:10],
            "failure": first.get("failure")}


# -- reporting ---------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(results: Json) -> str:
    summary, spec = results["summary"], results["spec"]
    validity = results["validity"]
    sizes = summary["registry_bytes"]
    lines: list[str] = [
        RESULTS_HEADING, "",
        f"Mesh: {spec['agents']:,} agents, {spec['tools']:,} tools, {spec['profiles']} "
        f"profiles, {spec['workflows']} workflows, 9 policies (seed {spec['seed']}): "
        f"{summary['manifest_files']:,} manifest files, "
        f"{summary['manifest_bytes'] / 1e6:.1f} MB of YAML; agent_registry.json "
        f"{sizes['agent_registry.json'] / 1e6:.1f} MB, all registries "
        f"{summary['registries_total_bytes'] / 1e6:.1f} MB.",
        f"Machine: {results['machine']}. meshctl: {results['code']}. {results['date']}.",
        f"1-minute load average {results['load_before']:.2f} before the run, "
        f"{results['load_after']:.2f} after (the benchmark itself adds to the latter)"
        + (": **other work was running, figures are noisy**."
           if results["load_before"] > BUSY_LOAD else "."),
        "",
    ]
    if validity["all_valid"]:
        lines.append(f"Every validate run: valid, {validity['errors']} errors, "
                     f"{validity['warnings']} warnings, {validity['resources']:,} resources.")
    else:
        lines.append(f"**{validity['invalid_runs']} of {validity['runs']} validate runs did "
                     f"not report the mesh valid** ({validity['errors']} errors). First "
                     "diagnostics:")
        lines.append("")
        lines.append("```")
        for diagnostic in validity["first_diagnostics"]:
            lines.append(json.dumps(diagnostic)[:300])
        if validity.get("failure"):
            lines.append(str(validity["failure"])[:1500])
        lines.append("```")
    lines += ["", f"### meshctl validate, wall time (median of {results['repeat']})", "",
              "| run | median | runs | goal |", "|---|---:|---|---|"]
    for timed in results["cli"]:
        runs = ", ".join(f"{r:.2f}" for r in timed["runs"])
        goal = timed["goal"]
        verdict = "" if goal is None else (
            f"< {goal:.0f} s: {'met' if _median(timed['runs']) < goal else '**missed**'}")
        lines.append(f"| {timed['label']} | {_s(_median(timed['runs']))} | {runs} | {verdict} |")

    lines += ["", f"### load_desired by phase, in-process (median of {results['repeat']})", "",
              "| run | " + " | ".join(PHASES) + " | wall | cache hits |",
              "|---|" + "---:|" * (len(PHASES) + 2)]
    labels = {"cold": "cold (use_cache=False)", "cold-j1": "cold, jobs=1 (one process)",
              "cold-cached": "cold, writing the cache (use_cache=True, no cache: as the CLI)",
              "warm": "warm (use_cache=True, cache present)"}
    for mode, runs in results["desired"].items():
        extra = sorted({k for r in runs for k in r["timings"]} - set(PHASES))
        cells = [_s(_median([r["timings"].get(p, float("nan")) for r in runs]))
                 for p in PHASES]
        note = f" (+ {', '.join(extra)})" if extra else ""
        lines.append(f"| {labels[mode]}{note} | " + " | ".join(cells)
                     + f" | {_s(_median([r['wall'] for r in runs]))}"
                     f" | {int(_median([r['cache_hits'] for r in runs])):,} |")

    floors = results["floors"]
    imports, schema_import = results["imports"], results["schema_import"]
    workers = floors["workers"]
    mb = floors["manifest_bytes"] / 1e6
    reg_mb = floors["agent_registry_bytes"] / 1e6
    rows = [
        ("read every manifest file (os.walk + read_bytes)", floors["read_files"],
         f"{summary['manifest_files']:,} files"),
        ("read and SHA-256 every manifest file", floors["read_and_hash"], ""),
        ("read and `orjson.loads` every parse-cache shard", floors["load_cache_shards"],
         f"{floors['cache_shards']} shards, {floors['cache_bytes'] / 1e6:.1f} MB"),
        ("libyaml `yaml.load(CSafeLoader)`, every manifest", floors["yaml_load"],
         f"{mb / floors['yaml_load']:.1f} MB/s, 1 process"),
        ("libyaml `yaml.compose(CSafeLoader)`, every manifest", floors["yaml_compose"],
         f"{mb / floors['yaml_compose']:.1f} MB/s, 1 process"),
        (f"libyaml compose, every manifest, {workers} forked workers",
         floors["yaml_compose_parallel"], "includes pool start-up"),
        ("`json.loads(agent_registry.json)`", floors["json_loads"], f"{reg_mb:.1f} MB, GC on"),
        ("`json.loads(agent_registry.json)`, GC paused", floors["json_loads_gc_paused"], ""),
        ("`orjson.loads(agent_registry.json)`", floors["orjson_loads"], "GC on"),
        ("`orjson.loads(agent_registry.json)`, GC paused", floors["orjson_loads_gc_paused"],
         ""),
        ("`read_live_state(registries/)`", floors["read_live_state"],
         "all registries, orjson, GC paused inside"),
        ("`import reconciler.cli`", _median([i["cli"] for i in imports]), "fresh process"),
        ("`import reconciler.validate.schema` (pydantic, jsonschema)",
         _median([i["schema"] for i in schema_import]),
         "lazy: paid by each process that parses"),
        ("first `schema_problem` (compile the Draft 7 meta-schema)",
         _median([i["first_check"] for i in schema_import]), "once per process"),
    ]
    lines += ["", f"### Floors (median of {results['repeat']})", "",
              "| what | time | note |", "|---|---:|---|"]
    lines += [f"| {label} | {_s(value)} | {note} |" for label, value, note in rows]
    lines += ["", "### Where the time goes", ""]
    lines += [f"* {line}" for line in _observations(results)]
    return "\n".join(lines) + "\n"


def _observations(results: Json) -> list[str]:
    cli = {t["label"]: _median(t["runs"]) for t in results["cli"]}
    startup, cold, warm, edited = list(cli.values())
    floors = results["floors"]
    desired = results["desired"]

    def phase(mode: str, name: str) -> float:
        return _median([r["timings"].get(name, float("nan")) for r in desired[mode]])

    def wall(mode: str) -> float:
        return _median([r["wall"] for r in desired[mode]])

    cold_parse, cold_wall = phase("cold-cached", "parse"), wall("cold-cached")
    out = [
        f"Cold: {_s(cold)} wall; the same run in-process (load_desired with no cache, writing "
        f"one) {_s(cold_wall)}: parse (YAML + per-resource rules + cache entries) "
        f"{_s(cold_parse)} ({cold_parse / cold_wall:.0%}), cache (write the shards) "
        f"{_s(phase('cold-cached', 'cache'))}, read {_s(phase('cold-cached', 'read'))}, "
        f"validate {_s(phase('cold-cached', 'validate'))}, build "
        f"{_s(phase('cold-cached', 'build'))}. Without the cache (use_cache=False) it takes "
        f"{_s(wall('cold'))}. " + (
            f"The rest of the wall time ({_s(cold - cold_wall)}) is process start-up, imports, "
            "the report and exit (plus any noise)." if cold > cold_wall else
            "(The CLI run was faster than the in-process one: run-to-run noise.)"),
        f"Cold parse (use_cache=False) is "
        f"{phase('cold', 'parse') / floors['yaml_compose_parallel']:.1f}x libyaml's compose "
        f"floor over the same {floors['workers']} workers ({_s(floors['yaml_compose_parallel'])})"
        f"; in one process parse takes {_s(phase('cold-j1', 'parse'))} against "
        f"{_s(floors['yaml_compose'])} for compose alone.",
        f"Warm: {_s(warm)} wall, of which {_s(startup)} is starting Python and importing the "
        f"CLI (`meshctl --version`); load_desired in-process {_s(wall('warm'))}: read "
        f"{_s(phase('warm', 'read'))} (hash every file, load the cache shards), build "
        f"{_s(phase('warm', 'build'))}, validate {_s(phase('warm', 'validate'))}, cache "
        f"{_s(phase('warm', 'cache'))}.",
        f"Editing {EDITED_FILES} files costs {_s(edited - warm)} over a no-change warm run.",
    ]
    return out


def write_readme(table: str) -> None:
    intro = INTRO
    if README.exists():
        text = README.read_text(encoding="utf-8")
        if f"\n{RESULTS_HEADING}\n" in text:
            intro = text.split(f"\n{RESULTS_HEADING}\n", 1)[0] + "\n"
    README.write_text(intro.rstrip("\n") + "\n\n" + table, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000,
                        help="agents in the mesh (tools = agents/5, workflows = agents/50)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate into DIR and keep it; reuse it if it already holds "
                             "the same mesh")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        name, *rest = args.probe
        probes: dict[str, Callable[..., Json]] = {
            "desired": probe_desired, "import": probe_import,
            "schema-import": probe_schema_import,
            "floors": lambda mesh, repeat: probe_floors(mesh, int(repeat))}
        print(json.dumps(probes[name](*rest)))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    results = benchmark(_spec(args.agents, args.seed), args.keep, args.repeat)
    table = render(results)
    print()
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_readme(table)
        print(f"written to {README.relative_to(ROOT)}")
    return 0 if results["validity"]["all_valid"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
