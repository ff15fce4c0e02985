"""Several `meshctl apply` processes against the same registries, and the writer lock.

Real processes over real files: concurrent applies serialise on the lock, a plan made
against a state that moved on is refused as stale (and says why), nothing acknowledged is
lost; a second writer waits up to --lock-timeout and then names the holder; a lock whose
holder died is taken over; a reader never sees half of a commit whose writer died.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.store import history, journal
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, copy_tree, write
from tests.grants import TOOL_ACCESS, grant_live

SCRIPT = Path(sys.executable).parent / "meshctl"
WORKERS = 4
ROUNDS = 2  # per worker: create an agent and its tool, then update the agent
DEADLINE = 180.0  # seconds for the whole concurrent run; it takes a few

# Holds the write lock (as a writer in the middle of a commit would) until its stdin closes.
HOLD_LOCK = """
import sys
from pathlib import Path
from reconciler.store import lock
with lock.exclusive(Path(sys.argv[1]), timeout=30, purpose=sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""

# A writer that takes the lock, waits for the file `go`, then commits a new agent and a new
# tool (two registry files) and is killed after renaming the first of them.
DYING_WRITER = """
import json, os, sys, time
from pathlib import Path
from reconciler.store import journal, lock
root, go = Path(sys.argv[1]), Path(sys.argv[2])
agents = json.loads((root / "agent_registry.json").read_text())
agents["agents"].append({**agents["agents"][0], "agent_id": "dying_writer_agent"})
tools = json.loads((root / "tool_registry.json").read_text())
tools["tools"].append({**tools["tools"][0], "tool_id": "dying_writer_tool"})
ops = [journal.Op("agent_registry.json", json.dumps(agents, indent=2).encode()),
       journal.Op("tool_registry.json", json.dumps(tools, indent=2).encode())]
with lock.exclusive(root / ".meshctl", timeout=30, purpose="commit (dying writer)"):
    print("held", flush=True)
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.environ[journal.CRASH_ENV] = "renamed-0"
    journal.commit(root, root / ".meshctl", ops)
"""


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MESHCTL_") or k == "MESHCTL_CACHE_KEY_FILE"}
    env["NO_COLOR"] = "1"
    return env


def meshctl(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], env=environment(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SCRIPT), *map(str, args)], env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def python(script: str, *args: str | Path) -> subprocess.Popen[str]:
    """A helper process running `script`; it prints `held` once it holds the lock."""
    process = subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                               env=environment(), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "held":
        process.kill()
        pytest.fail(f"the helper did not take the lock: {process.communicate()[1]}")
    return process


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """Wait for a process and close its pipes; its stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return out or "", err or ""


def release(holder: subprocess.Popen[str]) -> None:
    """Let a HOLD_LOCK helper go (closing its stdin) and wait for it."""
    finish(holder)
    assert holder.returncode == 0


def waiting_on_lock(process: subprocess.Popen[str], root: Path, limit: float = 60) -> bool:
    """Wait until `process` has the registries' lock file open: it is past its check for an
    interrupted commit and waiting for (or holding) the lock. False if it ended first."""
    target = str((root / ".meshctl" / "lock").resolve())
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            for fd in os.listdir(f"/proc/{process.pid}/fd"):
                if os.readlink(f"/proc/{process.pid}/fd/{fd}") == target:
                    return True
        except OSError:
            pass  # the process opened or closed something meanwhile
        time.sleep(0.002)
    return False


def files_of(root: Path) -> dict[str, bytes]:
    """Every registry file's bytes (each must parse as JSON)."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*.json")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".meshctl":
            continue
        data = path.read_bytes()
        json.loads(data)
        found[relative.as_posix()] = data
    return found


def audit_of(root: Path) -> list[dict[str, Any]]:
    path = root / ".meshctl" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def worker_manifests(folder: Path, worker: int, iterations: int) -> Path:
    write(folder / f"worker{worker}.yaml", f"""\
        apiVersion: agentmesh.io/v1
        kind: Tool
        metadata:
          name: worker{worker}_tool
        spec:
          name: Worker {worker} tool
          description: A tool made by concurrent writer {worker}
          endpoint: /invoke/worker{worker}_tool
          input_schema: {{type: object}}
          output_schema: {{type: object}}
        ---
        apiVersion: agentmesh.io/v1
        kind: Agent
        metadata:
          name: worker{worker}_agent
        spec:
          name: Worker {worker} agent
          description: An agent made by concurrent writer {worker}
          model_profile_id: default_gpt35
          allowed_tools: [worker{worker}_tool]
          max_iterations: {iterations}
          capabilities: [work]
          output_schema: {{type: object}}
        """)
    return folder


def grant_workers(registries: Path, workers: int) -> None:
    """Let each worker's agent use its tool, live, before the workers start: governance
    denies by default (A003), and a worker applying the shared agent_tool_access policy
    would undo the others' grants."""
    for worker in range(workers):
        grant_live(registries, TOOL_ACCESS, f"worker{worker}_agent", f"worker{worker}_tool")


@pytest.fixture
def registries(tmp_path: Path) -> Path:
    return copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    """The example manifests with one change (a policy), to apply against `registries`."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    policy = manifests / "policies" / "iteration_limits.yaml"
    policy.write_text(policy.read_text().replace("global_max_iterations: 5",
                                                 "global_max_iterations: 6"))
    return manifests


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                reason="watches /proc/<pid>/fd to know a process is waiting")


# -- concurrent applies ---------------------------------------------------------------------


def test_concurrent_applies_serialise_and_lose_no_update(registries: Path,
                                                         tmp_path: Path) -> None:
    """4 processes at once, each creating its own agent and tool, then updating its agent,
    each planned against the state it read (--no-prune: the others' resources stay). A
    plan overtaken by another commit is refused as stale, clearly, and re-run."""
    grant_workers(registries, WORKERS)
    initial = read_live_state(registries)
    rounds = {w: [worker_manifests(tmp_path / f"w{w}r{r}", w, 3 + r) for r in range(ROUNDS)]
              for w in range(WORKERS)}
    done_rounds = dict.fromkeys(range(WORKERS), 0)
    acknowledged: list[tuple[int, int, int]] = []  # worker, round, revision
    stale = 0

    def launch(worker: int) -> subprocess.Popen[str]:
        return start("apply", rounds[worker][done_rounds[worker]], "--registries", registries,
                     "--no-prune", "--auto-approve", "-o", "json")

    running = {w: launch(w) for w in range(WORKERS)}
    deadline = time.monotonic() + DEADLINE
    while running:
        assert time.monotonic() < deadline, f"not done: {acknowledged}, {stale} stale"
        for worker, process in list(running.items()):
            if process.poll() is None:
                continue
            out, err = finish(process)
            del running[worker]
            if process.returncode == 0:
                outcome = json.loads(out)
                assert outcome["applied"] is True, outcome
                acknowledged.append((worker, done_rounds[worker], outcome["revision"]))
                done_rounds[worker] += 1
            else:
                assert process.returncode == 1, err
                assert "stale plan" in err and "re-run plan" in err, err
                assert "changed in revision" in err, err  # names what overtook it
                assert "Traceback" not in err
                stale += 1
            if done_rounds[worker] < ROUNDS:
                running[worker] = launch(worker)
        time.sleep(0.01)

    # Every acknowledged apply is one revision, in one linear history, holding its changes.
    assert len(acknowledged) == WORKERS * ROUNDS
    meta = registries / ".meshctl"
    numbers = history.numbers(meta)
    assert sorted(number for _, _, number in acknowledged) == numbers == \
        list(range(1, WORKERS * ROUNDS + 1))
    fingerprint = initial.fingerprint
    for number in numbers:
        record = history.load(meta, number)
        assert record["fingerprint_before"] == fingerprint, f"revision {number}"
        fingerprint = record["fingerprint_after"]
    final = read_live_state(registries)
    assert final.diagnostics == []
    assert final.fingerprint == fingerprint
    for worker, round_number, number in acknowledged:
        changes = {(c["kind"], c["name"], c["action"])
                   for c in history.load(meta, number)["changes"]}
        expected = ({("Tool", f"worker{worker}_tool", "create"),
                     ("Agent", f"worker{worker}_agent", "create")} if round_number == 0
                    else {("Agent", f"worker{worker}_agent", "update")})
        assert changes == expected, f"revision {number}"

    # The final state holds every writer's last change, and everything that was there.
    entries = {str(r.key): r.entry for r in final.state}
    for worker in range(WORKERS):
        assert entries[f"agent/worker{worker}_agent"]["max_iterations"] == 3 + ROUNDS - 1
        assert f"tool/worker{worker}_tool" in entries
    for resource in initial.state:
        assert entries[str(resource.key)] == resource.entry
    assert len(entries) == len(initial.state) + 2 * WORKERS
    files_of(registries)
    assert not any((meta / journal.TXN).iterdir())
    assert not journal.pending(meta)

    # The audit log has every attempt: each revision once, each stale refusal.
    audit = audit_of(registries)
    assert sorted(r["revision"] for r in audit if r.get("action") == "commit") == numbers
    failed = [r for r in audit if r.get("result") == "failed"]
    assert len(failed) == stale
    assert all("stale plan" in r["reason"] for r in failed)


def test_two_applies_of_plans_made_from_the_same_state_one_wins(registries: Path,
                                                                  tmp_path: Path) -> None:
    grant_workers(registries, 2)
    plans = []
    for worker in range(2):
        plan = tmp_path / f"plan{worker}.json"
        made = meshctl("plan", worker_manifests(tmp_path / f"w{worker}", worker, 3),
                       "--no-prune", "--registries", registries, "--out", plan)
        assert made.returncode == 0, made.stderr
        plans.append(plan)
    before = files_of(registries)
    processes = [start("apply", "--plan", plan, "--registries", registries, "-o", "json")
                 for plan in plans]
    results = [(process, *finish(process)) for process in processes]
    won = [(out, err) for process, out, err in results if process.returncode == 0]
    lost = [(out, err) for process, out, err in results if process.returncode != 0]
    assert len(won) == len(lost) == 1, [err for _, _, err in results]
    winner = json.loads(won[0][0])
    assert winner["revision"] == 1
    err = lost[0][1]
    assert "stale plan" in err and "changed in revision 1 by cli" in err
    assert "Traceback" not in err
    # Only the winner's change is there: the loser wrote nothing.
    after = files_of(registries)
    assert set(after) == set(before)
    names = {str(r.key) for r in read_live_state(registries).state}
    created = [w for w in range(2) if f"agent/worker{w}_agent" in names]
    assert len(created) == 1
    assert history.numbers(registries / ".meshctl") == [1]


# -- the writer lock ------------------------------------------------------------------------


def test_a_second_writer_gives_up_after_lock_timeout_naming_the_holder(
        registries: Path, changed: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert meshctl("plan", changed, "--registries", registries, "--out", plan).returncode == 0
    before = files_of(registries)
    purpose = "commit (held by the lock test)"
    holder = python(HOLD_LOCK, registries / ".meshctl", purpose)
    try:
        attempts: list[list[str | Path]] = [[changed, "--auto-approve"], ["--plan", plan]]
        for args in attempts:
            done = meshctl("apply", *args, "--registries", registries, "--lock-timeout", "1",
                           timeout=60)
            assert done.returncode == 1, done.stdout
            message = done.stderr
            assert f"locked by pid {holder.pid} on {socket.gethostname()} ({purpose}), " \
                   "since 20" in message, message
            assert "after 1 s" in message, message
            assert "Traceback" not in message
            assert files_of(registries) == before
            assert history.numbers(registries / ".meshctl") == []
        failed = [r for r in audit_of(registries) if r.get("result") == "failed"]
        assert len(failed) == 1 and f"pid {holder.pid}" in failed[0]["reason"]
    finally:
        release(holder)
    # Once the holder is gone, the same apply goes through.
    done = meshctl("apply", "--plan", plan, "--registries", registries, "--lock-timeout", "1")
    assert done.returncode == 0, done.stderr
    assert history.numbers(registries / ".meshctl") == [1]


@needs_proc
def test_a_second_writer_waits_for_the_holder_within_lock_timeout(
        registries: Path, changed: Path) -> None:
    holder = python(HOLD_LOCK, registries / ".meshctl", "commit (held by the lock test)")
    try:
        writer = start("apply", changed, "--registries", registries, "--auto-approve",
                       "--lock-timeout", "120", "-o", "json")
        assert waiting_on_lock(writer, registries), finish(writer)[1]
        assert writer.poll() is None  # still waiting: the lock is held
    finally:
        release(holder)
    out, err = finish(writer)
    assert writer.returncode == 0, err
    assert json.loads(out)["revision"] == 1


def test_a_lock_left_by_a_killed_holder_is_taken_over(registries: Path,
                                                      changed: Path) -> None:
    holder = python(HOLD_LOCK, registries / ".meshctl", "commit (killed holder)")
    holder.send_signal(signal.SIGKILL)
    finish(holder)
    assert holder.returncode == -signal.SIGKILL
    info = registries / ".meshctl" / "lock.info"
    assert json.loads(info.read_text())["pid"] == holder.pid  # what it left behind
    # Far shorter than the lock timeout: the writer must not wait for a dead holder.
    done = meshctl("apply", changed, "--registries", registries, "--auto-approve",
                   "--lock-timeout", "600", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Apply complete: revision 1" in done.stdout
    taken = json.loads(info.read_text())
    assert taken["pid"] != holder.pid
    assert taken["command"] == "commit (cli)"


@needs_proc
def test_a_reader_waiting_on_a_writer_that_dies_mid_commit_sees_all_of_it(
        registries: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    writer = python(DYING_WRITER, registries, go)
    reader = start("get", "all", "-o", "json", "--registries", registries)
    try:
        assert waiting_on_lock(reader, registries), finish(reader)[1]
    finally:
        go.touch()
    finish(writer)
    assert writer.returncode == -signal.SIGKILL  # killed after its first rename
    out, err = finish(reader)
    assert reader.returncode == 0, err
    listed = {entry.get("agent_id") or entry.get("tool_id") for entry in json.loads(out)}
    # The commit was finished before the read, never half of it seen.
    assert {"dying_writer_agent", "dying_writer_tool"} <= listed
    assert not journal.pending(registries / ".meshctl")
    files_of(registries)


@needs_proc
def test_a_writer_waiting_on_a_writer_that_dies_mid_commit_keeps_both_changes(
        registries: Path, changed: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    writer = python(DYING_WRITER, registries, go)
    waiting = start("apply", changed, "--registries", registries, "--auto-approve",
                    "--no-prune", "--lock-timeout", "120", "-o", "json")
    try:
        assert waiting_on_lock(waiting, registries), finish(waiting)[1]
    finally:
        go.touch()
    finish(writer)
    assert writer.returncode == -signal.SIGKILL
    out, err = finish(waiting)
    assert waiting.returncode == 0, err
    assert json.loads(out)["summary"] == {"create": 0, "update": 1, "delete": 0}
    # It planned and committed over the finished commit (not half of it): both are there.
    entries = {str(r.key): r.entry for r in read_live_state(registries).state}
    assert {"agent/dying_writer_agent", "tool/dying_writer_tool"} <= entries.keys()
    assert entries["governance-policy/iteration_limits"]["global_max_iterations"] == 6
    assert history.numbers(registries / ".meshctl") == [1]
