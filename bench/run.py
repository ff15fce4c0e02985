"""Benchmark `meshctl validate` and `meshctl plan` (and the floors under them) on a generated mesh.

    .venv/bin/python bench/run.py [--agents 10000] [--keep DIR] [--repeat 3] [--no-readme]

Generates a mesh with bench/generate_mesh.py into a temporary directory (or reuses/keeps it in
--keep DIR), times the CLI as a user runs it, splits the time by phase with the engine called
in-process, measures what the libraries underneath cost at best, times `meshctl plan` against the
generated registries (cold, warm, with ten edited manifests) with its own split into engine
phases and renderers, prints markdown tables and
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

import common
import readme  # bench/readme.py, beside this script

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
PLAN_COLD_GOAL, PLAN_WARM_GOAL = 4.0, 1.5  # `meshctl plan`, ten changed manifests
PLAN_RENDER_GOAL = 1.0  # rendering the no-change plan: "well under a second"
PLAN_SHORT_LINES = 5  # the no-change plan text "stays short": at most this many lines
PLAN_RENDERS = ("text", "text_print", "markdown", "json")
_PLAN_SUMMARY = re.compile(r"Plan: (\d+) to create, (\d+) to update, (\d+) to delete, "
                           r"(\d+) refused")
BUSY_LOAD = 0.5  # 1-minute load average above which the machine was not idle at the start
SETTLE_SECONDS = 180  # at most this long to wait, after generating, for the load to settle

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
* **meshctl plan, wall time**: `.venv/bin/meshctl plan --registries DIR/registries
  DIR/manifests` (text to a pipe) against the generated registries, which the manifests match.
  *cold, 10 changed*: `.meshctl-cache/` deleted and `max_iterations` changed in 10 agent
  manifests before each run; *warm, no change*: the manifests as exported, cache present;
  *warm, 10 changed*: 10 agent manifests get a new `max_iterations` each run (a value not seen
  before, so 10 cache misses and 10 updates). The edited files are restored afterwards. Every
  run's summary line is checked (0 or 10 updates, nothing else).
* **plan output size**: lines and characters the CLI prints for the no-change plan (text) and
  for the 10-change plan as text, `-o markdown` and `-o json` (the JSON lists every resource,
  noops included).
* **plan by phase**: `reconciler.engine.make_plan` in a fresh process on the warm cache, with
  its `timings`: *parse* = read + parse + build + cache of `load_desired`, *validate* (the
  mesh-wide rules over the state the plan leaves), *live* (read the registries), *diff*
  (pair, compare, order, impact); then each renderer once, as the CLI calls it:
  `text.render`, printing that text through rich as the CLI does to a pipe (markup stripped),
  `markdown.render` and `planfile.dumps` (JSON). The CLI's wall time minus these is start-up,
  imports, writing the output and exit.
* **floors**: what the libraries cost with no meshctl logic at all: reading the files,
  libyaml (`CSafeLoader`) loading and composing every manifest, `json`/`orjson` parsing
  `agent_registry.json` with the cyclic GC on and paused, `read_live_state` on the registries,
  and import times. A phase far above its floor is where to look.

Goals on this 2-core machine: `meshctl validate` of the 10,000-agent mesh under 3 s cold and
under 1 s warm; `meshctl plan` on it with ten changed manifests under 4 s cold and under 1.5 s
warm, and a plan with no change that renders in well under a second (goal here: under 1 s
for the renderers) and stays short (here: at most 5 lines of text). The OS page cache is warm
in every run (files were just written or read): "cold" means no parse cache, not a cold disk.
After generating, the benchmark flushes the writes and waits (up to 3 minutes, `--settle`) for
the 1-minute load average the generator raised to fall below 0.5; the load average at the
start of each part is printed with the results, so a part that ran beside other work shows.
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


def _plan(mesh: Path, *extra: str) -> tuple[float, Json]:
    """One `meshctl plan` run against the mesh's registries, output to a pipe: wall seconds,
    exit code, output size and the counts of its summary line."""
    seconds, done = _run([MESHCTL, "plan", "--registries", str(mesh / "registries"),
                          str(mesh / "manifests"), *extra])
    out: Json = {"exit_code": done.returncode, "chars": len(done.stdout),
                 "lines": len(done.stdout.splitlines())}
    if extra == ("-o", "json"):
        try:
            summary = json.loads(done.stdout)["summary"]
            out["counts"] = [summary[k] for k in ("create", "update", "delete", "refused")]
        except (ValueError, KeyError, TypeError):
            out["counts"] = None
    else:
        found = _PLAN_SUMMARY.search(done.stdout)
        out["counts"] = [int(n) for n in found.groups()] if found else None
    if done.returncode != 0 or out["counts"] is None:
        out["failure"] = (done.stderr or done.stdout).strip()[-2000:]
    return seconds, out


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
    cli = _clock(lambda: __import__("reconciler.cli"))
    # what a plan with a real change imports on top (compute.py imports it lazily)
    return {"cli": cli, "deepdiff": _clock(lambda: __import__("deepdiff"))}


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


def _render_plan_outputs(plan: Any) -> tuple[dict[str, float], dict[str, int]]:
    """Each renderer once, as the CLI calls it: (seconds, characters) by PLAN_RENDERS name."""
    import io

    from rich.console import Console

    from reconciler.plan import planfile
    from reconciler.plan.render import markdown, text

    outputs: dict[str, str] = {}

    def text_print() -> None:  # what `report.console(...).print(...)` does on a pipe
        sink = io.StringIO()
        Console(file=sink, highlight=False, soft_wrap=True, no_color=True,
                color_system=None).print(outputs["text"], end="")
        outputs["text_print"] = sink.getvalue()

    steps: dict[str, Callable[[], Any]] = {
        "text": lambda: outputs.__setitem__("text", text.render(plan)),
        "text_print": text_print,
        "markdown": lambda: outputs.__setitem__("markdown", markdown.render(plan)),
        "json": lambda: outputs.__setitem__("json", planfile.dumps(plan).decode()),
    }
    seconds = {name: _clock(step) for name, step in steps.items()}
    return seconds, {name: len(value) for name, value in outputs.items()}


def probe_plan(mesh: str) -> Json:
    """engine.make_plan on the mesh (cache as it is), then each renderer once, as the CLI
    calls it after make_plan (the renderers' modules imported beforehand, as the CLI's are),
    then what dropping it all costs."""
    import rich.console  # noqa: F401  (the CLI imports these before it plans)

    from reconciler import engine
    from reconciler.plan import planfile  # noqa: F401
    from reconciler.plan.render import markdown, text  # noqa: F401

    root = Path(mesh)
    started = time.perf_counter()
    result = engine.make_plan([root / "manifests"], root / "registries")
    wall = time.perf_counter() - started
    answer: Json = {"timings": dict(result.timings), "wall": wall,
                    "cache_hits": result.desired.cache_hits}
    if result.plan is None:
        answer["failure"] = [d.message for d in result.diagnostics[:10]]
        return answer
    summary = result.plan.summary
    answer["counts"] = [summary.create, summary.update, summary.delete, summary.refused]
    answer["render"], answer["render_chars"] = _render_plan_outputs(result.plan)
    # The CLI pays this too, when the command returns: dropping the plan, the desired and the
    # live state (millions of objects, freed by reference counting).
    del summary
    started = time.perf_counter()
    del result
    answer["free"] = time.perf_counter() - started
    return answer


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
    """A real edit per file and round: max_iterations 11 + round, in bounds (1-50) and never
    what the registries hold (the generator keeps it at most 10), so each edit is an update;
    consecutive rounds never repeat a value (the cache sees a new file every round)."""
    value = 11 + round_number % 40
    for path, original in originals.items():
        text = original.decode()
        edited, count = _MAX_ITERATIONS.subn(f"  max_iterations: {value}", text, count=1)
        if count == 0:  # manifest shape changed: any byte change still makes a cache miss
            edited = f"{text}# bench edit {round_number}\n"
        path.write_text(edited, encoding="utf-8")


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _settle(limit: float) -> float:
    """After generating the mesh: flush its writes and wait (at most `limit` seconds) for the
    1-minute load average, which the generator itself raised, to fall below BUSY_LOAD."""
    started = time.perf_counter()
    os.sync()
    while _load_average() > BUSY_LOAD and time.perf_counter() - started < limit:
        time.sleep(5)
    return time.perf_counter() - started


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


def benchmark(spec: generate_mesh.MeshSpec, keep: Path | None, repeat: int,
              settle: float = SETTLE_SECONDS) -> Json:
    mesh, summary, temporary = _mesh(spec, keep)
    if settle > 0:
        print(f"waiting up to {settle:.0f} s for the load to settle ...", flush=True)
    settled = _settle(settle) if settle > 0 else 0.0
    manifests = mesh / "manifests"
    cache = manifests / CACHE_DIR
    results: Json = {"spec": asdict(spec), "summary": summary, "repeat": repeat,
                     "machine": f"{_cpu()}, {os.cpu_count()} CPUs, Python "
                                f"{platform.python_version()}, {platform.system()}",
                     "code": _git_state(), "load_before": _load_average(),
                     "settled": settled, "loads": {},
                     "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        results["loads"]["validate"] = _load_average()
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

        results["loads"]["load_desired"] = _load_average()
        print("timing load_desired by phase ...", flush=True)
        desired: Json = {}
        for mode in ("cold", "cold-j1", "cold-cached", "warm"):
            desired[mode] = [_probe("desired", str(manifests), mode) for _ in range(repeat)]
        results["desired"] = desired

        results["loads"]["floors"] = _load_average()
        print("timing floors ...", flush=True)
        results["floors"] = _probe("floors", str(mesh), str(repeat))
        results["imports"] = [_probe("import") for _ in range(repeat)]
        results["schema_import"] = [_probe("schema-import") for _ in range(repeat)]

        results["loads"]["plan"] = _load_average()
        print("timing meshctl plan ...", flush=True)
        results["plan"] = _plan_benchmark(mesh, repeat)
    finally:
        if temporary:
            shutil.rmtree(mesh, ignore_errors=True)
    results["load_after"] = _load_average()
    return results


def _plan_benchmark(mesh: Path, repeat: int) -> Json:
    """`meshctl plan` as a user runs it (cold and warm, no change and 10 changed manifests),
    its output sizes, and make_plan + renderers split in-process. Restores the edited files."""
    manifests = mesh / "manifests"
    cache = manifests / CACHE_DIR
    cold = Timed(f"plan, cold (no `.meshctl-cache/`), {EDITED_FILES} changed manifests",
                 goal=PLAN_COLD_GOAL)
    still = Timed("plan, warm, no change")
    warm = Timed(f"plan, warm, {EDITED_FILES} changed manifests", goal=PLAN_WARM_GOAL)
    runs: list[Json] = []  # every CLI run, with what its summary line should say
    edited = [0, EDITED_FILES, 0, 0]  # create, update, delete, refused
    unchanged = [0, 0, 0, 0]
    outputs: Json = {}
    split: Json = {"changed": [], "no_change": []}
    targets = _edit_targets(manifests)
    originals = {path: path.read_bytes() for path in targets}
    rounds = iter(range(10 * repeat + 10))  # a new max_iterations for every edit

    def timed_plan(into: Timed, expected: list[int], *extra: str) -> Json:
        seconds, run = _plan(mesh, *extra)
        into.runs.append(seconds)
        runs.append({**run, "label": into.label, "expected": expected})
        return run

    def restore() -> None:
        for path, original in originals.items():
            path.write_bytes(original)

    try:
        for _ in range(repeat):
            _edit(originals, next(rounds))
            shutil.rmtree(cache, ignore_errors=True)
            timed_plan(cold, edited)
        restore()
        _plan(mesh)  # the restored files into the cache
        for _ in range(repeat):
            outputs["text, no change"] = timed_plan(still, unchanged)
        for _ in range(repeat):
            _edit(originals, next(rounds))
            outputs[f"text, {EDITED_FILES} changes"] = timed_plan(warm, edited)
        for output in ("markdown", "json"):  # the same plan (last edit, cache now warm)
            seconds, run = _plan(mesh, "-o", output)
            runs.append({**run, "label": f"plan -o {output}", "expected": edited})
            outputs[f"{output}, {EDITED_FILES} changes"] = {**run, "seconds": seconds}
        for _ in range(repeat):
            _edit(originals, next(rounds))
            split["changed"].append(_probe("plan", str(mesh)))
        restore()
        _plan(mesh)
        split["no_change"] = [_probe("plan", str(mesh)) for _ in range(repeat)]
    finally:
        restore()
    for answer in split["changed"]:
        runs.append({"label": "make_plan in-process", "counts": answer.get("counts"),
                     "expected": edited, "exit_code": 0, "failure": answer.get("failure")})
    for answer in split["no_change"]:
        runs.append({"label": "make_plan in-process, no change",
                     "counts": answer.get("counts"), "expected": unchanged, "exit_code": 0,
                     "failure": answer.get("failure")})
    bad = [r for r in runs if r["exit_code"] != 0 or r["counts"] != r["expected"]]
    return {"cli": [asdict(t) for t in (cold, still, warm)], "outputs": outputs,
            "split": split, "runs": len(runs), "bad_runs": bad[:5], "bad": len(bad)}


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
        f"1-minute load average {results['load_before']:.2f} before the run (after waiting "
        f"{results['settled']:.0f} s for the generator's load to settle), "
        f"{results['load_after']:.2f} after; at the start of each part: "
        + ", ".join(f"{part} {load:.2f}" for part, load in results["loads"].items())
        + " (the benchmark itself adds to these)"
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

    lines += _render_plan(results)

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
        ("`import deepdiff` (after the CLI)", _median([i["deepdiff"] for i in imports]),
         "lazy: paid by a plan with a real update"),
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
    lines += [f"* {line}" for line in _plan_observations(results)]
    return "\n".join(lines) + "\n"


def _verdict(value: float, goal: float | None, unit: str = " s") -> str:
    if goal is None:
        return ""
    return f"< {goal:g}{unit}: {'met' if value < goal else '**missed**'}"


def _plan_phases(answer: Json) -> dict[str, float]:
    """One make_plan probe's figures: its phases (parse = read+parse+build+cache), the
    renderers, and make_plan's wall."""
    timings: dict[str, float] = answer.get("timings", {})
    out = {name: timings.get(name, float("nan")) for name in ("read", "parse", "build", "cache")}
    out["parse_total"] = sum(out.values())
    for name in ("validate", "live", "diff"):
        out[name] = timings.get(name, float("nan"))
    out["wall"] = answer.get("wall", float("nan"))
    for name in PLAN_RENDERS:
        out[f"render_{name}"] = answer.get("render", {}).get(name, float("nan"))
    out["free"] = answer.get("free", float("nan"))
    return out


def _plan_split(results: Json, case: str) -> dict[str, float]:
    """The median of each figure over the probes of one case ("changed" or "no_change")."""
    answers = [_plan_phases(a) for a in results["plan"]["split"][case]]
    return {name: _median([a[name] for a in answers]) for name in answers[0]} if answers else {}


def _render_plan(results: Json) -> list[str]:
    plan, repeat = results["plan"], results["repeat"]
    cli = {t["label"]: t for t in plan["cli"]}
    cold, still, warm = plan["cli"]
    lines = ["", f"### meshctl plan, wall time (median of {repeat})", ""]
    if plan["bad"]:
        lines += [f"**{plan['bad']} of {plan['runs']} plan runs did not give the expected "
                  "plan** (0 or 10 updates, exit 0). First:", "", "```"]
        lines += [json.dumps(run)[:600] for run in plan["bad_runs"]]
        lines += ["```", ""]
    else:
        lines += [f"Every plan run ({plan['runs']}, CLI and in-process): exit 0, and exactly "
                  f"{EDITED_FILES} updates with edited manifests, no change without.", ""]
    lines += ["| run | median | runs | goal |", "|---|---:|---|---|"]
    for timed in cli.values():
        runs = ", ".join(f"{r:.2f}" for r in timed["runs"])
        median = _median(timed["runs"])
        lines.append(f"| {timed['label']} | {_s(median)} | {runs} | "
                     f"{_verdict(median, timed['goal'])} |")

    lines += ["", "### meshctl plan, output size (as printed to a pipe)", "",
              "| output | lines | characters | goal |", "|---|---:|---:|---|"]
    for label, run in plan["outputs"].items():
        goal = ""
        if label == "text, no change":
            goal = (f"short (at most {PLAN_SHORT_LINES} lines): "
                    + ("met" if run["lines"] <= PLAN_SHORT_LINES else "**missed**"))
        lines.append(f"| {label} | {run['lines']:,} | {run['chars']:,} | {goal} |")

    changed, still_split = _plan_split(results, "changed"), _plan_split(results, "no_change")
    edited_label = f"warm, {EDITED_FILES} changed"
    lines += ["", f"### meshctl plan by phase, in-process (median of {repeat})", "",
              f"`engine.make_plan` in a fresh process on a warm cache, then each renderer once. "
              f"*{edited_label}*: {EDITED_FILES} agent manifests given a new `max_iterations` "
              "before each run.", "",
              f"| phase | {edited_label} | warm, no change | goal |", "|---|---:|---:|---|"]
    rows: list[tuple[str, str, str]] = [
        ("parse: read + parse + build + cache of the manifests", "parse_total", ""),
        ("&nbsp;&nbsp;read (list, stat/hash, look up the cache)", "read", ""),
        ("&nbsp;&nbsp;parse (the cache misses)", "parse", ""),
        ("&nbsp;&nbsp;build (one `MeshState`)", "build", ""),
        ("&nbsp;&nbsp;cache (write changed shards)", "cache", ""),
        ("validate (mesh-wide rules over what would remain)", "validate", ""),
        ("live (read the registries)", "live", ""),
        ("diff (pair, compare, order, impact)", "diff", ""),
        ("**make_plan, wall**", "wall", ""),
        ("render text (`text.render`)", "render_text", "no change"),
        ("print text through rich, as the CLI (markup stripped)", "render_text_print",
         "no change"),
        ("render markdown (`markdown.render`)", "render_markdown", ""),
        ("render JSON (`planfile.dumps`)", "render_json", ""),
        ("free the plan and the loaded states (as the command returns)", "free", ""),
    ]
    for label, key, goal_on in rows:
        goal = ""
        if goal_on:
            goal = _verdict(still_split.get(key, float("nan")), PLAN_RENDER_GOAL)
        lines.append(f"| {label} | {_s(changed.get(key))} | {_s(still_split.get(key))} "
                     f"| {goal} |")
    hits = [a.get("cache_hits", 0) for a in plan["split"]["changed"]]
    def rest(split_: dict[str, float], timed: Json) -> float:
        return _median(timed["runs"]) - sum(
            split_.get(name, float("nan"))
            for name in ("wall", "render_text", "render_text_print", "free"))

    lines += [f"| CLI wall (the table above) | {_s(_median(warm['runs']))} | "
              f"{_s(_median(still['runs']))} | |",
              "| rest of the CLI run: start-up, imports, writing the output, exit "
              f"| {_s(rest(changed, warm))} | {_s(rest(still_split, still))} | |",
              "", f"Cache hits with {EDITED_FILES} changed manifests: "
              f"{int(_median(hits)) if hits else 0:,} of "
              f"{results['summary']['manifest_files']:,} files. Cold, for comparison: "
              f"{_s(_median(cold['runs']))} wall."]
    return lines


def _plan_observations(results: Json) -> list[str]:
    plan = results["plan"]
    cold, still, warm = (_median(t["runs"]) for t in plan["cli"])
    changed, none = _plan_split(results, "changed"), _plan_split(results, "no_change")
    if not changed or not none:
        return []
    startup = _median(results["cli"][0]["runs"])
    validate_warm, validate_edited = (_median(results["cli"][i]["runs"]) for i in (2, 3))
    renders = sum(changed[f"render_{name}"] for name in ("text", "text_print"))
    wall = changed["wall"]
    rest = warm - wall - renders - changed["free"] - startup
    schema = _median([i["schema"] + i["first_check"] for i in results["schema_import"]])
    deepdiff = _median([i["deepdiff"] for i in results["imports"]])

    def share(name: str) -> str:
        return f"{_s(changed[name])} ({changed[name] / warm:.0%})"

    return [
        f"Plan, warm with {EDITED_FILES} changed manifests: {_s(warm)} wall against the "
        f"{PLAN_WARM_GOAL:g} s goal. Of it: parse (read + parse + build + cache) "
        f"{share('parse_total')}, of which read {_s(changed['read'])}; live (read the "
        f"registries) {share('live')}; validate {share('validate')}; diff {share('diff')}; "
        f"render and print the text {_s(renders)}; freeing the plan and the loaded states as the "
        f"command returns {share('free')}; start-up and imports about {_s(startup)} "
        f"(`meshctl --version`); " + (
            f"the rest ({_s(rest)}) is output, exit and noise." if rest > 0 else
            "nothing measurable is left (the parts add up to the wall time within noise)."),
        f"What {EDITED_FILES} changed manifests cost over no change, in-process: parse "
        f"{_s(changed['parse'])} against 0 (so few misses are parsed in the CLI's own process, "
        f"which first imports the rules' pydantic/jsonschema modules: {_s(schema)} in the "
        f"floors), diff {_s(changed['diff'])} against {_s(none['diff'])} (a real update "
        f"imports deepdiff: {_s(deepdiff)} in the floors); make_plan {_s(wall)} against "
        f"{_s(none['wall'])}.",
        f"Plan against validate (same mesh, same cache state): warm with {EDITED_FILES} edits "
        f"{_s(warm)} vs {_s(validate_edited)}, warm with no change {_s(still)} vs "
        f"{_s(validate_warm)}. Plan adds reading the live registries ({_s(changed['live'])}) "
        f"and the diff ({_s(changed['diff'])} with edits, {_s(none['diff'])} without).",
        f"Plan, cold with {EDITED_FILES} changed manifests: {_s(cold)} wall against the "
        f"{PLAN_COLD_GOAL:g} s goal; the parse of every manifest dominates it, as in the cold "
        "validate above.",
        f"Renderers on the {EDITED_FILES}-change plan: text {_s(changed['render_text'])} "
        f"(+ {_s(changed['render_text_print'])} through rich), markdown "
        f"{_s(changed['render_markdown'])}, JSON {_s(changed['render_json'])} (the JSON lists "
        f"every noop too); on the no-change plan text takes {_s(none['render_text'])} "
        f"(+ {_s(none['render_text_print'])} to print).",
    ]


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
    if not README.exists():
        README.write_text(INTRO, encoding="utf-8")
    readme.replace_section(RESULTS_HEADING, table)


def main(argv: Sequence[str] | None = None) -> int:
    common.compiled_bytecode()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000,
                        help="agents in the mesh (tools = agents/5, workflows = agents/50)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate into DIR and keep it; reuse it if it already holds "
                             "the same mesh")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="after generating, wait at most this many seconds for the 1-minute "
                             f"load average to fall below {BUSY_LOAD} (default %(default)s; "
                             "0: do not wait)")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        name, *rest = args.probe
        probes: dict[str, Callable[..., Json]] = {
            "desired": probe_desired, "import": probe_import,
            "schema-import": probe_schema_import, "plan": probe_plan,
            "floors": lambda mesh, repeat: probe_floors(mesh, int(repeat))}
        print(json.dumps(probes[name](*rest)))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    results = benchmark(_spec(args.agents, args.seed), args.keep, args.repeat, args.settle)
    table = render(results)
    print()
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_readme(table)
        print(f"written to {README.relative_to(ROOT)}")
    return 0 if results["validity"]["all_valid"] and not results["plan"]["bad"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
