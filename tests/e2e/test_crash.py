"""`meshctl apply` killed with SIGKILL mid-way leaves the registries old or new, never mixed.

Real `meshctl` processes over real files. Two ways to kill:

- at every step of the commit protocol in turn (MESHCTL_TEST_CRASH_AT=N makes the process
  SIGKILL itself at its N-th step), over a change set touching every registry file;
- at random instants (seeded), over a generated mesh of 2,000 agents.

After each kill the store is opened again (which finishes or clears the interrupted commit),
then every registry file must parse as JSON, the registry files (and which workflow files
exist) must be exactly the old set or exactly the new one, and the history must hold no new
revision or exactly the one that commit wrote.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.store import history, journal
from reconciler.store.filestore import FileStore
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, REPO, copy_tree

SCRIPT = Path(sys.executable).parent / "meshctl"
KILLED = -signal.SIGKILL
MAX_STEPS = 100  # a step loop that has not completed by then fails
REQUIRED_KILLS = 50  # over this file, as the issue asks
STEP_KILLS_AT_LEAST = 15  # 5 files written, 1 removed, the revision record: 19 steps today
RANDOM_KILLS = 40
SEED = 20251222
# The only bytes two applies of the same plan may differ in: the refreshed file header.
LAST_UPDATED = re.compile(r'"last_updated": "[^"]*"')


def environment(crash_at: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MESHCTL_") or k == "MESHCTL_CACHE_KEY_FILE"}
    env["NO_COLOR"] = "1"
    if crash_at is not None:
        env[journal.CRASH_ENV] = crash_at
    return env


def meshctl(*args: str | Path, crash_at: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], env=environment(crash_at),
                          capture_output=True, text=True, timeout=timeout, check=False)


def start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SCRIPT), *map(str, args)], env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def applied(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    outcome: dict[str, Any] = json.loads(done.stdout)
    assert outcome["applied"] is True
    return outcome


def restore(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def bump(path: Path, field_name: str, by: int) -> None:
    """Add `by` to the first `  field_name: <int>` line of a manifest."""
    text = path.read_text()
    pattern = re.compile(rf"(?m)^(  {field_name}: )(\d+)$")
    changed = pattern.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + by}", text, count=1)
    assert changed != text, f"no {field_name} in {path}"
    path.write_text(changed)


def copy_as(source: Path, name: str) -> Path:
    """A manifest copied under another name (metadata.name, endpoint and file)."""
    old = source.stem
    text = source.read_text()
    renamed = text.replace(f"  name: {old}\n", f"  name: {name}\n", 1)
    assert renamed != text
    target = source.with_name(f"{name}.yaml")
    target.write_text(renamed.replace(f"/invoke/{old}", f"/invoke/{name}"))
    return target


# -- the state checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every file of the registries outside .meshctl (each must parse as JSON), with the
    header timestamp masked; and the revisions."""

    files: dict[str, str]
    revisions: list[int]

    @classmethod
    def of(cls, root: Path) -> Snapshot:
        files: dict[str, str] = {}
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if relative.parts[0] == ".meshctl" or path.is_dir():
                continue
            text = path.read_text(encoding="utf-8")
            try:
                json.loads(text)
            except ValueError as error:
                raise AssertionError(f"{relative} is not valid JSON: {error}") from None
            files[relative.as_posix()] = LAST_UPDATED.sub('"last_updated": "*"', text)
        return cls(files, history.numbers(root / ".meshctl"))


@dataclass
class Scenario:
    """An old state, the plan's new state (applied once in a copy), and what to compare."""

    old_root: Path
    old: Snapshot
    new: Snapshot
    fingerprint_before: str
    revision: dict[str, Any]  # the record the reference apply wrote
    outcomes: list[str] = field(default_factory=list)

    def check(self, root: Path, what: str) -> str:
        """Open the store (recovery runs), then: old or new, entirely. Returns which."""
        FileStore(root, lock_timeout=30)
        meta = root / ".meshctl"
        assert not journal.pending(meta), what
        now = Snapshot.of(root)
        if now.files == self.old.files:
            outcome = "old"
            assert now.revisions == self.old.revisions, f"{what}: old state, new revision"
            assert self._audited(meta) == 0, what
        else:
            assert now.files == self.new.files, (
                f"{what}: the registries are neither the old nor the new state; differing "
                f"from old: {sorted(_differing(now.files, self.old.files))}, from new: "
                f"{sorted(_differing(now.files, self.new.files))}")
            outcome = "new"
            number = self.revision["revision"]
            assert now.revisions == [*self.old.revisions, number], what
            record = history.load(meta, number)
            assert _changes(record) == _changes(self.revision), what
            assert record["files"] == self.revision["files"], what
            assert record["fingerprint_before"] == self.fingerprint_before, what
            assert record["fingerprint_after"] == read_live_state(root).fingerprint, what
            assert self._audited(meta) == 1, f"{what}: the revision's audit line, once"
        self.outcomes.append(outcome)
        return outcome

    def _audited(self, meta: Path) -> int:
        path = meta / "audit.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        records = [json.loads(line) for line in lines]  # every line whole
        number = self.revision["revision"]
        return sum(1 for r in records
                   if r.get("action") == "commit" and r.get("revision") == number)


def _differing(a: dict[str, str], b: dict[str, str]) -> set[str]:
    return {name for name in a.keys() | b.keys() if a.get(name) != b.get(name)}


def _changes(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(c["kind"], c["name"], c["action"], c["before"], c["after"])
            for c in record["changes"]]


def scenario(old_root: Path, reference_root: Path, apply_args: list[str | Path]) -> Scenario:
    """Apply once, undisturbed, in a copy of `old_root`: that is the new state."""
    restore(old_root, reference_root)
    outcome = applied(meshctl("apply", *apply_args, "--registries", reference_root,
                              "--auto-approve", "-o", "json"))
    revision = history.load(reference_root / ".meshctl", outcome["revision"])
    return Scenario(old_root, Snapshot.of(old_root), Snapshot.of(reference_root),
                    read_live_state(old_root).fingerprint, revision)


@pytest.fixture(scope="module")
def private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What conftest's autouse fixture does, for the module-scoped fixtures below (which run
    before any function-scoped one): the parse cache's key stays out of the home directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHCTL_CACHE_KEY_FILE",
                     str(tmp_path_factory.getbasetemp() / "meshctl-cache-key"))
        yield


# -- the kill count over the whole file ------------------------------------------------------


@pytest.fixture(scope="module")
def kills() -> Iterator[dict[str, int]]:
    counted: dict[str, int] = {}
    yield counted
    if {"steps", "random"} <= counted.keys():  # both ran (not deselected): count them
        assert sum(counted.values()) >= REQUIRED_KILLS, counted


# -- 1. every step of the commit protocol ---------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory,
            private_cache_key: None) -> tuple[Path, Path]:
    """The example registries with one more workflow applied (revision 1), and manifests
    that change every registry file: three agents updated, a tool created, an unused model
    profile deleted, a workflow created and the extra one removed, a policy changed."""
    base = tmp_path_factory.mktemp("example")
    registries = copy_tree(FIXTURE_REGISTRIES, base / "registries")
    manifests = copy_tree(FIXTURE_MANIFESTS, base / "manifests")
    legacy = copy_as(manifests / "workflows" / "claims_triage.yaml", "legacy_triage")
    applied(meshctl("apply", manifests, "--registries", registries, "--auto-approve",
                    "-o", "json"))
    legacy.unlink()
    for agent in ("intake_agent", "coverage_agent", "severity_agent"):
        bump(manifests / "agents" / f"{agent}.yaml", "iteration_timeout_seconds", 15)
    copy_as(manifests / "tools" / "similarity.yaml", "crash_probe_tool")
    (manifests / "model-profiles" / "claude_haiku_3.yaml").unlink()
    copy_as(manifests / "workflows" / "claims_triage.yaml", "fast_triage")
    bump(manifests / "policies" / "iteration_limits.yaml", "global_max_iterations", 1)
    return registries, manifests


def test_apply_killed_at_every_step_of_the_commit_leaves_old_or_new(
        example: tuple[Path, Path], tmp_path: Path, kills: dict[str, int]) -> None:
    old_root, manifests = example
    check = scenario(old_root, tmp_path / "reference", [manifests])
    assert check.revision["summary"] == {"create": 2, "update": 4, "delete": 2}
    assert sorted(check.revision["files"]) == [
        "agent_registry.json", "governance_policies.json", "model_profiles.json",
        "tool_registry.json", "workflows/fast_triage.json", "workflows/legacy_triage.json"]
    work = tmp_path / "work"
    for n in range(1, MAX_STEPS):
        restore(old_root, work)
        done = meshctl("apply", manifests, "--registries", work, "--auto-approve",
                       crash_at=str(n))
        if done.returncode == 0:
            assert "Apply complete: revision 2" in done.stdout
            assert check.check(work, "not killed") == "new"
            assert not any((work / ".meshctl" / "txn").iterdir())
            break
        assert done.returncode == KILLED, done.stderr
        kills["steps"] = kills.get("steps", 0) + 1
        # Recovery by the next command, as a user would run it.
        got = meshctl("get", "all", "-o", "json", "--registries", work)
        assert got.returncode == 0, got.stderr
        check.check(work, f"killed at step {n}")
        tools = {entry.get("tool_id") for entry in json.loads(got.stdout)}
        assert ("crash_probe_tool" in tools) is (check.outcomes[-1] == "new")
        if check.outcomes.count(check.outcomes[-1]) == 1:
            # The first time on each side: the store is usable again, and the same apply
            # then does the rest (old: all of it; new: nothing).
            again = meshctl("apply", manifests, "--registries", work, "--auto-approve")
            assert again.returncode == 0, again.stderr
            assert ("Apply complete: revision 2" if check.outcomes[-1] == "old"
                    else "No changes to apply.") in again.stdout
            assert Snapshot.of(work).files == check.new.files
    else:
        pytest.fail(f"apply was still killed at step {MAX_STEPS}")
    killed = check.outcomes[:-1]
    assert len(killed) == kills["steps"] >= STEP_KILLS_AT_LEAST
    # Old up to the commit point, new from it on. The commit point comes after one step per
    # file written (the revision record and the writer's layouts included) and two more
    # (temps synced, journal written); then the journal's rename, one step per file, and the
    # last three.
    written = sum(1 for name in check.revision["files"] if name in check.new.files) + 2
    switch = killed.index("new")
    assert killed == ["old"] * switch + ["new"] * (len(killed) - switch)
    assert switch == written + 2
    assert len(killed) - switch > len(check.revision["files"]) + 2


# -- 2. random instants over a large mesh ---------------------------------------------------


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory,
          private_cache_key: None) -> tuple[Path, Path]:
    """A generated mesh (2,000 agents, 400 tools, 40 workflows) and manifests changing it:
    120 agents and a model profile updated, a tool and 8 workflows created, 3 unreferenced
    workflows deleted, a governance policy changed (15 registry files, and the revision)."""
    out = tmp_path_factory.mktemp("large") / "mesh"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "generate_mesh.py"), "--agents", "2000",
         "--tools", "400", "--profiles", "10", "--workflows", "40", "--out", str(out)],
        env=environment(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    manifests = out / "manifests"
    for agent in sorted((manifests / "agents").glob("*.yaml"))[:120]:
        bump(agent, "iteration_timeout_seconds", 7)
    bump(sorted((manifests / "model-profiles").glob("*.yaml"))[0], "timeout_seconds", 5)
    copy_as(sorted((manifests / "tools").glob("*.yaml"))[0], "crash_probe_tool")
    workflows = sorted((manifests / "workflows").glob("*.yaml"))
    for number, workflow in enumerate(workflows[:8]):
        copy_as(workflow, f"crash_probe_flow_{number}")
    referenced = "".join(p.read_text() for p in (manifests / "policies").glob("*.yaml"))
    for workflow in [w for w in workflows if w.stem not in referenced][:3]:
        workflow.unlink()
    bump(manifests / "policies" / "iteration_limits.yaml", "global_max_iterations", 1)
    return out / "registries", manifests


def committing(meta: Path) -> bool:
    """A commit is under way: a temp file or the journal exists."""
    try:
        return any((meta / journal.TXN).iterdir()) or (meta / journal.JOURNAL).exists()
    except FileNotFoundError:
        return False


def wait_for_commit(meta: Path, process: subprocess.Popen[str], limit: float = 60) -> bool:
    """Poll until a commit has begun; False when the process ended first (or after `limit`
    seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if committing(meta):
            return True
        time.sleep(0.0005)
    return False


def test_apply_killed_at_random_instants_over_a_large_mesh_leaves_old_or_new(
        large: tuple[Path, Path], tmp_path: Path, kills: dict[str, int]) -> None:
    old_root, manifests = large
    check = scenario(old_root, tmp_path / "reference", [manifests])
    summary = check.revision["summary"]
    assert (summary["create"], summary["update"], summary["delete"]) == (9, 122, 3)
    assert len(check.revision["files"]) == 15
    plan = tmp_path / "plan.json"
    planned = meshctl("plan", manifests, "--registries", old_root, "--out", plan)
    assert planned.returncode == 0, planned.stderr

    # How long an apply and a commit take here, to spread the kills over them (measured,
    # never asserted): two more undisturbed applies, the parse cache warm.
    reference = restore(old_root, tmp_path / "reference")
    started = time.monotonic()
    process = start("apply", manifests, "--registries", reference, "--auto-approve", "-j", "1")
    assert process.communicate(timeout=60)[1] == "" and process.returncode == 0
    whole = time.monotonic() - started
    assert check.check(reference, "calibration run") == "new"
    reference = restore(old_root, tmp_path / "reference")
    process = start("apply", "--plan", plan, "--registries", reference)
    assert wait_for_commit(reference / ".meshctl", process)
    began = time.monotonic()
    while committing(reference / ".meshctl") and process.poll() is None:
        time.sleep(0.0005)
    window = max(time.monotonic() - began, 0.005)
    assert process.communicate(timeout=60)[1] == "" and process.returncode == 0

    rng = random.Random(SEED)
    work = tmp_path / "work"
    killed = attempts = 0
    while killed < RANDOM_KILLS:
        attempts += 1
        assert attempts <= 4 * RANDOM_KILLS, f"only {killed} kills in {attempts} attempts"
        restore(old_root, work)
        if attempts % 5 == 0:  # anywhere in a whole apply, planning included
            process = start("apply", manifests, "--registries", work, "--auto-approve",
                            "-j", "1")
            delay = rng.uniform(0, whole)
            what = f"apply killed {delay:.3f} s after its start"
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
        else:  # anywhere in the commit itself
            process = start("apply", "--plan", plan, "--registries", work)
            delay = rng.uniform(0, 1.25 * window)
            what = f"apply --plan killed {delay * 1000:.1f} ms into its commit"
            if wait_for_commit(work / ".meshctl", process):
                time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        stderr = process.communicate(timeout=60)[1]
        if process.returncode == 0:
            assert check.check(work, f"{what}: finished first") == "new"
            continue
        assert process.returncode == KILLED, stderr
        killed += 1
        check.check(work, what)
    kills["random"] = killed
    assert killed == RANDOM_KILLS
