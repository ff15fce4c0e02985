"""`meshctl watch` and `meshctl status` as real processes: SIGTERM in the middle of syncing
leaves the registries old or new (never mixed) and exits 0; JSON logs; `--once`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.model.kinds import Kind
from reconciler.store import history, open_store
from reconciler.store.registry_files import read_live_state
from reconciler.watch import status as status_file
from tests.library.test_following import eventually
from tests.watch.test_controller import set_field

SCRIPT = Path(sys.executable).parent / "meshctl"
AGENTS = ("fraud_agent", "intake_agent", "coverage_agent", "severity_agent",
          "recommendation_agent", "explainability_agent")


def start(manifests: Path, registries: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SCRIPT), "watch", str(manifests), "--registries",
                             str(registries), "--debounce-ms", "20", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ready(registries: Path) -> bool:
    found = status_file.read(open_store(registries))
    return found is not None and found.get("last_sync") is not None


def iterations(registries: Path) -> list[int]:
    agents = read_live_state(registries).state.of_kind(Kind.AGENT)
    return [agents[name].entry.get("max_iterations", 0) for name in AGENTS]


@pytest.mark.parametrize("seed", range(6))
def test_sigterm_while_syncing_leaves_old_or_new_and_exits_0(
        seed: int, manifests: Path, registries: Path) -> None:
    process = start(manifests, registries)
    try:
        assert eventually(lambda: ready(registries))
        before = iterations(registries)
        # One edit touching six agents: one revision, or none. The six files are written
        # aside first and then renamed in place one after the other, so the edit lands
        # within the 20 ms debounce even on a busy machine (written one by one, a sync
        # could rightly take the first four before the last two were saved).
        staged = []
        for name in AGENTS:
            target = manifests / "agents" / f"{name}.yaml"
            aside = target.with_name(f".{target.name}.staged")
            aside.write_text(target.read_text())
            set_field(aside, "max_iterations", "23")
            staged.append((aside, target))
        for aside, target in staged:
            os.replace(aside, target)
        time.sleep(random.Random(seed).uniform(0.0, 0.25))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 0, err
    live = read_live_state(registries)
    assert live.diagnostics == []
    assert iterations(registries) in (before, [23] * len(AGENTS))
    assert not (registries / ".meshctl" / "journal.json").exists()
    numbers = history.numbers(registries / ".meshctl")
    if iterations(registries) == before:
        assert numbers == []
    else:
        [number] = numbers
        assert f"synced rev {number}: 6 updated" in err
    status = status_file.read(open_store(registries))
    assert status is not None and status["controller"]["stopped"] is True


def test_json_logs_one_object_per_sync(manifests: Path, registries: Path) -> None:
    process = start(manifests, registries, "--log-format", "json")
    try:
        assert eventually(lambda: ready(registries))
        set_field(manifests / "agents" / "fraud_agent.yaml", "max_iterations", "8")
        assert eventually(lambda: history.numbers(registries / ".meshctl") == [1])
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines()]
    start_line, *rest = lines
    assert start_line["event"] == "start" and start_line["level"] == "info"
    first, synced = [line for line in rest if line.get("event") == "sync"]
    assert first["message"] == "in sync at rev 0" and first["trigger"] == "start"
    assert synced["message"] == "synced rev 1: 1 updated"
    assert synced["result"] == "synced" and synced["revision"] == 1
    assert synced["summary"] == {"create": 0, "update": 1, "delete": 0}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_once_and_status(manifests: Path, registries: Path) -> None:
    done = run("status", "--registries", str(registries))
    assert done.returncode == 1 and "no watch controller has run" in done.stderr
    set_field(manifests / "agents" / "fraud_agent.yaml", "max_iterations", "9")
    done = run("watch", "--once", str(manifests), "--registries", str(registries))
    assert done.returncode == 0, done.stderr
    assert "synced rev 1: 1 updated" in done.stderr
    found: dict[str, Any] = json.loads(run("status", "-o", "json", "--registries",
                                           str(registries)).stdout)
    assert found["running"] is False and found["last_sync"]["result"] == "synced"
    text = run("status", "--registries", str(registries))
    assert text.returncode == 0
    assert "Last sync:" in text.stdout and "synced rev 1: 1 updated" in text.stdout
    # an invalid manifest: --once fails, and so does status, naming the file and line
    path = manifests / "agents" / "fraud_agent.yaml"
    path.write_text(path.read_text().replace("- fraud_rules", "- nope"))
    done = run("watch", "--once", str(manifests), "--registries", str(registries))
    assert done.returncode == 1
    assert f"sync failed: {path}:" in done.stderr
    text = run("status", "--registries", str(registries))
    assert text.returncode == 1 and f"{path}:" in text.stdout


def test_max_bytes_is_the_watch_loops_as_validates(manifests: Path, registries: Path) -> None:
    """A manifest over --max-bytes fails the sync (M002), as `validate` says; a larger
    --max-bytes (a 100,000-agent access policy is 12 MB) lets it sync."""
    set_field(manifests / "agents" / "fraud_agent.yaml", "max_iterations", "9")
    size = (manifests / "agents" / "fraud_agent.yaml").stat().st_size
    done = run("watch", "--once", "--max-bytes", str(size - 1), str(manifests),
               "--registries", str(registries))
    assert done.returncode == 1 and f"over the {size - 1:,}-byte limit" in done.stderr
    done = run("watch", "--once", "--max-bytes", str(64 * 1024 * 1024), str(manifests),
               "--registries", str(registries))
    assert done.returncode == 0, done.stderr
    assert "synced rev 1: 1 updated" in done.stderr


def test_watch_help_has_examples() -> None:
    for command in ("watch", "status"):
        done = run(command, "--help")
        assert done.returncode == 0 and "Examples:" in done.stdout


def test_an_unreachable_git_repository_syncs_nothing(tmp_path: Path, registries: Path) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    done = run("watch", "--once", "--git-repo", str(tmp_path / "no-such-repo"),
               "--registries", str(registries), "manifests")
    assert done.returncode == 1
    assert "git fetch failed" in done.stderr and "nothing was synced" in done.stderr
    assert (registries / "agent_registry.json").read_bytes() == before
    assert history.numbers(registries / ".meshctl") == []
