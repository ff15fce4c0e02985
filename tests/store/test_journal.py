"""The commit protocol (`reconciler.store.journal`) on small op lists.

Crashes are real: a child process runs `journal.commit` or `journal.recover` with
MESHCTL_TEST_CRASH_AT=N and SIGKILLs itself at its N-th step; the test then recovers and
checks that the files hold exactly the old state or exactly the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import JournalError
from reconciler.store import journal
from reconciler.store.filestore import FileStore

MAX_STEPS = 100  # far more than any op list here takes: a loop that never completes fails

# A child process: `commit ROOT SPEC` or `recover ROOT`, under whatever MESHCTL_TEST_CRASH_AT
# the test sets.
DRIVER = """
import json, sys
from pathlib import Path
from reconciler.store import journal
root = Path(sys.argv[2])
meta = root / ".meshctl"
if sys.argv[1] == "commit":
    spec = json.loads(Path(sys.argv[3]).read_text())
    ops = [journal.Op(op["target"], None if op["data"] is None else op["data"].encode(),
                      op["mode"]) for op in spec["ops"]]
    journal.commit(root, meta, ops, spec["audit"])
else:
    journal.recover(root, meta)
"""

AUDIT = {"action": "commit", "result": "ok", "revision": 1, "source": "test"}

# The old state and a commit touching several files: two rewrites (one with other permission
# bits), a removal, a new file in an existing folder, one in folders that do not exist yet,
# and the revision record under .meshctl/ as the store writes it.
OLD_FILES = {
    "agent_registry.json": '{"agents": [{"agent_id": "a"}]}\n',
    "tool_registry.json": '{"tools": []}\n',
    "workflows/old_flow.json": '{"workflow_id": "old_flow"}\n',
}
OPS: list[dict[str, Any]] = [
    {"target": "agent_registry.json", "data": '{"agents": [{"agent_id": "b"}]}\n',
     "mode": 0o644},
    {"target": "tool_registry.json", "data": '{"tools": [{"tool_id": "t"}]}\n', "mode": 0o600},
    {"target": "workflows/old_flow.json", "data": None, "mode": 0o644},
    {"target": "workflows/new_flow.json", "data": '{"workflow_id": "new_flow"}\n',
     "mode": 0o644},
    {"target": "deep/nested/extra.json", "data": "{}\n", "mode": 0o640},
    {"target": ".meshctl/history/1.json", "data": '{"revision": 1}', "mode": 0o644},
]
DATA_OPS = sum(1 for op in OPS if op["data"] is not None)
# Steps before the commit point: one per temp file, temps-synced, journal-temp-written.
STEPS_BEFORE_COMMIT_POINT = DATA_OPS + 2


def make_old(root: Path) -> Path:
    for relative, text in OLD_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    return root


def ops_of(spec: list[dict[str, Any]]) -> list[journal.Op]:
    return [journal.Op(op["target"], None if op["data"] is None else op["data"].encode(),
                       op["mode"]) for op in spec]


def state_of(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` with its permission bits, except the store's own working files
    (lock, journal, temp files, audit log), which `debris_of` and `audit_lines` check."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_dir() or relative.startswith((".meshctl/txn/", ".meshctl/journal",
                                                 ".meshctl/audit", ".meshctl/lock")):
            continue
        found[relative] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return found


def debris_of(root: Path) -> list[str]:
    meta = root / ".meshctl"
    leftovers = [p.name for p in (meta / "txn").iterdir()] if (meta / "txn").is_dir() else []
    return leftovers + [name for name in (journal.JOURNAL, journal.JOURNAL + ".tmp")
                        if (meta / name).exists()]


def audit_lines(root: Path) -> list[dict[str, Any]]:
    path = root / ".meshctl" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def child_env(crash_at: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != journal.CRASH_ENV}
    if crash_at is not None:
        env[journal.CRASH_ENV] = crash_at
    return env


def run_child(*args: str | Path, crash_at: str | None) -> int:
    done = subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)],
                          env=child_env(crash_at), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


def spec_file(tmp_path: Path, ops: list[dict[str, Any]] = OPS,
              audit: dict[str, Any] | None = AUDIT) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"ops": ops, "audit": audit}))
    return path


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return make_old(tmp_path / "old")


@pytest.fixture
def new(tmp_path: Path) -> dict[str, tuple[bytes, int]]:
    """The state a commit of OPS leaves, made once in its own folder without any crash."""
    root = make_old(tmp_path / "new")
    journal.commit(root, root / ".meshctl", ops_of(OPS), AUDIT)
    return state_of(root)


def test_a_commit_writes_every_file_and_leaves_no_debris(old: Path) -> None:
    journal.commit(old, old / ".meshctl", ops_of(OPS), AUDIT)
    for op in OPS:
        path = old / op["target"]
        if op["data"] is None:
            assert not path.exists()
        else:
            assert path.read_text() == op["data"]
            assert stat.S_IMODE(path.stat().st_mode) == op["mode"]
    assert debris_of(old) == []
    assert audit_lines(old) == [AUDIT]
    assert journal.recover(old, old / ".meshctl") is False  # nothing pending


def test_recover_with_nothing_pending_changes_nothing(old: Path) -> None:
    before = state_of(old)
    assert journal.recover(old, old / ".meshctl") is False
    assert state_of(old) == before


def test_a_kill_at_every_step_leaves_the_old_or_the_new_state(
        tmp_path: Path, old: Path, new: dict[str, tuple[bytes, int]]) -> None:
    before = state_of(old)
    assert before != new
    spec = spec_file(tmp_path)
    outcomes: list[str] = []
    for n in range(1, MAX_STEPS):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(old, work)
        if run_child("commit", work, spec, crash_at=str(n)) == 0:
            assert state_of(work) == new
            break
        pending = journal.pending(work / ".meshctl")
        assert journal.recover(work, work / ".meshctl") is pending
        after = state_of(work)
        assert after in (before, new), f"killed at step {n}: neither old nor new state"
        assert debris_of(work) == [], f"killed at step {n}"
        outcome = "new" if after == new else "old"
        outcomes.append(outcome)
        assert len(audit_lines(work)) == (1 if outcome == "new" else 0)
    else:
        pytest.fail(f"the commit never completed in {MAX_STEPS} steps")
    # Every step was killed once; the commit point (the journal's rename) splits old from new.
    assert outcomes == ["old"] * STEPS_BEFORE_COMMIT_POINT + \
        ["new"] * (len(outcomes) - STEPS_BEFORE_COMMIT_POINT)
    assert len(outcomes) >= STEPS_BEFORE_COMMIT_POINT + len(OPS) + 2


def test_debris_of_a_commit_that_never_reached_its_commit_point_is_cleared(
        tmp_path: Path, old: Path) -> None:
    before = state_of(old)
    assert run_child("commit", old, spec_file(tmp_path), crash_at="journal-temp-written") != 0
    leftovers = debris_of(old)
    assert len(leftovers) == DATA_OPS + 1  # the temp files and the journal's temp name
    assert journal.JOURNAL not in leftovers
    assert state_of(old) == before  # nothing touched yet
    assert journal.recover(old, old / ".meshctl") is False  # nothing to finish
    assert debris_of(old) == []
    assert state_of(old) == before
    assert audit_lines(old) == []
    # The next commit goes through as if nothing had happened.
    journal.commit(old, old / ".meshctl", ops_of(OPS), AUDIT)
    assert (old / "workflows/new_flow.json").exists()
    assert debris_of(old) == []


def test_a_commit_clears_the_debris_a_crashed_one_left(tmp_path: Path, old: Path,
                                                        new: dict[str, tuple[bytes, int]]) -> None:
    stray = [{"target": "tool_registry.json", "data": "half of something", "mode": 0o644}] * 3
    assert run_child("commit", old, spec_file(tmp_path, stray), crash_at="temps-synced") != 0
    assert len(debris_of(old)) == 3
    # The store recovers before every commit, under the same lock.
    assert journal.recover(old, old / ".meshctl") is False
    journal.commit(old, old / ".meshctl", ops_of(OPS), AUDIT)
    assert state_of(old) == new  # no stray temp content found its way in
    assert debris_of(old) == []


def pending_commit(tmp_path: Path, root: Path) -> None:
    """Leave `root` with a committed journal and nothing rolled forward (killed at the commit
    point, as a crash right after the journal's rename does)."""
    assert run_child("commit", root, spec_file(tmp_path), crash_at="journal-committed") != 0
    assert journal.pending(root / ".meshctl")


def test_recovery_killed_at_every_step_then_killed_again_still_finishes_the_commit(
        tmp_path: Path, old: Path, new: dict[str, tuple[bytes, int]]) -> None:
    pending_commit(tmp_path, old)
    before = state_of(old)
    kills = 0
    for n in range(1, MAX_STEPS):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(old, work)
        if run_child("recover", work, crash_at=str(n)) == 0:
            assert state_of(work) == new
            assert debris_of(work) == []
            break
        kills += 1
        # A recovery that recovers a half-recovered commit, killed at its very first step.
        if journal.pending(work / ".meshctl"):
            assert run_child("recover", work, crash_at="1") != 0
            kills += 1
        journal.recover(work, work / ".meshctl")
        journal.recover(work, work / ".meshctl")  # and once more: nothing left to do
        assert state_of(work) == new, f"recovery killed at step {n}"
        assert debris_of(work) == []
        # The audit line is written once, whether the first recovery got that far or not.
        assert audit_lines(work) == [{**AUDIT, "recovered": True}], f"step {n}"
    else:
        pytest.fail(f"recovery never completed in {MAX_STEPS} steps")
    assert state_of(old) == before  # the pending copy itself was left alone
    assert kills >= len(OPS) + 3  # one per rename, targets-synced, audit, journal removal


def test_a_recovered_commit_whose_audit_line_was_written_keeps_one_line(
        tmp_path: Path, old: Path, new: dict[str, tuple[bytes, int]]) -> None:
    assert run_child("commit", old, spec_file(tmp_path), crash_at="audit-appended") != 0
    assert journal.pending(old / ".meshctl")
    assert audit_lines(old) == [AUDIT]
    assert journal.recover(old, old / ".meshctl") is True
    assert state_of(old) == new
    assert audit_lines(old) == [AUDIT]


DAMAGED = {
    "not json": b'{"format": 1, "ops": [',
    "empty": b"",
    "not utf-8": b'{"format": 1, "ops": [{"target": "\xff.json", "temp": null}]}',
    "a list": b"[]",
    "null": b"null",
    "no ops": b'{"format": 1, "audit": null}',
    "ops not a list": b'{"format": 1, "ops": {"agent_registry.json": null}, "audit": null}',
    "op without temp": b'{"format": 1, "ops": [{"target": "agent_registry.json"}]}',
    "op not an object": b'{"format": 1, "ops": ["agent_registry.json"]}',
    "target not a string": b'{"format": 1, "ops": [{"target": 7, "temp": null}]}',
    "temp not a string": b'{"format": 1, "ops": [{"target": "tool_registry.json", "temp": 7}]}',
    "audit not an object": b'{"format": 1, "ops": [{"target": "workflows/old_flow.json", '
                           b'"temp": null}], "audit": "ok"}',
    "no format": b'{"ops": [{"target": "workflows/old_flow.json", "temp": null}]}',
    "another format": b'{"format": 99, "ops": [{"target": "workflows/old_flow.json", '
                      b'"temp": null}], "audit": null}',
    "nul in a target": b'{"format": 1, "ops": [{"target": "agent_registry.json", '
                       b'"temp": null}, {"target": "a\\u0000b", "temp": null}], "audit": null}',
}


@pytest.mark.parametrize("body", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_journal_gives_journal_error_and_touches_nothing(old: Path,
                                                                   body: bytes) -> None:
    meta = old / ".meshctl"
    meta.mkdir()
    (meta / journal.JOURNAL).write_bytes(body)
    before = state_of(old)
    with pytest.raises(JournalError, match="damaged|refusing journal target") as raised:
        journal.recover(old, meta)
    assert "journal" in str(raised.value)
    assert state_of(old) == before
    assert (meta / journal.JOURNAL).read_bytes() == body  # kept for whoever repairs it
    assert audit_lines(old) == []


def test_the_store_does_not_open_over_a_damaged_journal(old: Path) -> None:
    meta = old / ".meshctl"
    meta.mkdir()
    (meta / journal.JOURNAL).write_bytes(DAMAGED["not json"])
    with pytest.raises(JournalError, match="damaged.*remove the journal"):
        FileStore(old)
    assert journal.pending(meta)


# ABSOLUTE stands for the victim file's absolute path.
OUTSIDE = ["../victim.json", "ABSOLUTE", "workflows/../../victim.json", "", ".",
           "txn/../../../victim.json"]


@pytest.mark.parametrize("target", OUTSIDE)
@pytest.mark.parametrize("field", ["target", "temp"])
def test_a_journal_naming_a_file_outside_the_root_is_refused(tmp_path: Path, old: Path,
                                                             target: str, field: str) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    meta = old / ".meshctl"
    (meta / "txn").mkdir(parents=True)
    (meta / "txn" / "0.tmp").write_text("evil")
    target = target.replace("ABSOLUTE", str(victim))
    entry = {"target": "agent_registry.json", "temp": "txn/0.tmp", field: target}
    (meta / journal.JOURNAL).write_text(json.dumps({"format": 1, "ops": [
        {"target": "workflows/old_flow.json", "temp": None}, entry], "audit": None}))
    before = state_of(old)
    with pytest.raises(JournalError, match="refusing journal target"):
        journal.recover(old, meta)
    assert victim.read_text() == "precious"
    assert state_of(old) == before  # not even the valid first entry was rolled forward
    assert journal.pending(meta)


@pytest.mark.parametrize("target", OUTSIDE)
def test_commit_refuses_a_target_outside_the_root_and_changes_nothing(
        tmp_path: Path, old: Path, target: str) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    target = target.replace("ABSOLUTE", str(victim))
    before = state_of(old)
    ops = [journal.Op("agent_registry.json", b"{}"), journal.Op(target, b"evil")]
    with pytest.raises(JournalError, match="refusing journal target"):
        journal.commit(old, old / ".meshctl", ops)
    with pytest.raises(JournalError, match="refusing journal target"):
        journal.commit(old, old / ".meshctl", [journal.Op(target, None)])
    assert victim.read_text() == "precious"
    assert state_of(old) == before
    assert not journal.pending(old / ".meshctl")
    journal.recover(old, old / ".meshctl")
    assert debris_of(old) == []
