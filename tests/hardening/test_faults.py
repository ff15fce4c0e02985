"""Faults around the store, through real processes: read-only registries, a commit journal
left half-written, a lock held by a process that died. Each is handled with a clear message
(or quietly, when nothing is lost), and never with a traceback or a partial write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import RegistryManager
from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from reconciler.store import history
from tests.conftest import FIXTURE_REGISTRIES, copy_tree
from tests.servers import Server

SCRIPT = Path(sys.executable).parent / "meshctl"


def meshctl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def edit(manifests: Path) -> None:
    path = manifests / "agents" / "fraud_agent.yaml"
    path.write_text(path.read_text().replace("max_iterations: 5", "max_iterations: 6"))


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """The example registries on a read-only file system (a tmpfs remounted read-only), or
    read-only by permissions when not running as root."""
    if os.geteuid() != 0:
        root = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
        for folder, _, files in os.walk(root):
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
            os.chmod(folder, 0o555)
        yield root
        for folder, _, _ in os.walk(root):
            os.chmod(folder, 0o755)
        return
    disk = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("root, and no tmpfs can be mounted: read-only cannot be made here")
    try:
        copy_tree(FIXTURE_REGISTRIES, disk / "registries")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        yield disk / "registries"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_read_only_registries_are_read_but_never_half_written(read_only: Path,
                                                              manifests: Path) -> None:
    assert meshctl("get", "agents", "--registries", read_only).returncode == 0
    assert meshctl("plan", "--registries", read_only, manifests).returncode == 0
    edit(manifests)
    done = meshctl("apply", "--auto-approve", "--registries", read_only, manifests)
    assert done.returncode == 1
    assert "cannot write to the registries" in done.stderr and "nothing changed" in done.stderr
    assert "Traceback" not in done.stderr
    manager = RegistryManager(read_only, watch=False)
    manager.load_all()  # the library reads them
    entry = manager.entry(Kind.AGENT, "fraud_agent")
    assert entry is not None
    with pytest.raises(StoreError, match="cannot write"):
        manager.update_agent("fraud_agent", {**entry, "max_iterations": 7})
    assert manager.entry(Kind.AGENT, "fraud_agent") == entry
    server = Server(read_only)
    try:
        with server.client() as client:
            answer = client.put("/registries/agents/fraud_agent",
                                json={**entry, "max_iterations": 7})
            assert answer.status_code == 503 and answer.json()["detail"]
    finally:
        assert "Traceback" not in server.stop()


def test_a_journal_half_written_before_its_commit_point_is_cleared(registries: Path,
                                                                   manifests: Path) -> None:
    meta = registries / ".meshctl"
    (meta / "txn").mkdir(parents=True)
    (meta / "txn" / "0.tmp").write_bytes(b'{"agents": [')  # a crash while writing a temp
    (meta / "journal.json.tmp").write_bytes(b'{"format": 1, "ops": [')  # and the journal
    edit(manifests)
    done = meshctl("apply", "--auto-approve", "--registries", registries, manifests)
    assert done.returncode == 0, done.stderr
    assert not (meta / "journal.json.tmp").exists() and not (meta / "txn" / "0.tmp").exists()
    assert history.numbers(meta) == [1]


def test_a_damaged_journal_after_its_commit_point_stops_every_writer(registries: Path,
                                                                     manifests: Path) -> None:
    meta = registries / ".meshctl"
    meta.mkdir(exist_ok=True)
    (meta / "journal.json").write_bytes(b'{"format": 1, "ops": [{"target": "agent_re')
    before = {p: p.read_bytes() for p in registries.glob("*.json")}
    edit(manifests)
    for command in (["apply", "--auto-approve"], ["plan"]):
        done = meshctl(*command, "--registries", registries, manifests)
        assert done.returncode == 1
        assert "the commit journal" in done.stderr and "is damaged" in done.stderr
        assert "compare them with .meshctl/history" in done.stderr
        assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in registries.glob("*.json")} == before


def test_a_lock_held_by_a_process_that_died_is_taken_over(registries: Path,
                                                          manifests: Path) -> None:
    meta = registries / ".meshctl"
    meta.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"handle = os.open({str(meta / 'lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    (meta / "lock.info").write_text(json.dumps({"pid": holder.pid, "host": "h",
                                                "command": "apply", "since": "then"}))
    busy = meshctl("apply", "--auto-approve", "--lock-timeout", "0.5", "--registries",
                   registries, manifests)
    assert busy.returncode == 0 or "gave up" in busy.stderr  # nothing to apply yet, or waits
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    edit(manifests)
    done = meshctl("apply", "--auto-approve", "--lock-timeout", "5", "--registries",
                   registries, manifests)
    assert done.returncode == 0, done.stderr
    assert history.numbers(meta) == [1]
