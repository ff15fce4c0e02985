"""A full disk during a commit: the commit fails cleanly, the old state stays intact and
readable, and the journal is recovered.

Two ways: an injected ENOSPC at every write, fsync and rename of a real `meshctl apply` in
turn (MESHCTL_TEST_ENOSPC_AT=N fails the N-th), and, where the machine lets the test mount
one, a real tmpfs too small for the commit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.store import history
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, copy_tree

SCRIPT = Path(sys.executable).parent / "meshctl"
MAX_POINTS = 300


def files_of(registries: Path) -> dict[str, bytes]:
    return {str(p.relative_to(registries)): p.read_bytes() for p in sorted(registries.rglob("*"))
            if p.is_file() and ".meshctl" not in p.parts}


def change_everything(manifests: Path) -> None:
    """One edit per registry file: the commit rewrites all of them."""
    for relative, old, new in (
            ("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 6"),
            ("tools/similarity.yaml", "default: 10", "default: 11"),
            ("model-profiles/gpt4.yaml", "timeout_seconds: 60", "timeout_seconds: 61"),
            ("workflows/claims_triage.yaml", "max_context_tokens: 4000",
             "max_context_tokens: 4001"),
            ("policies/iteration_limits.yaml", "enforcement_level: strict",
             "enforcement_level: advisory")):
        path = manifests / relative
        text = path.read_text()
        assert old in text, (relative, old)
        path.write_text(text.replace(old, new, 1))


def meshctl(*args: str | Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_enospc_at_every_io_point_of_a_commit(tmp_path: Path) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    change_everything(manifests)
    pristine = copy_tree(FIXTURE_REGISTRIES, tmp_path / "pristine")
    old = files_of(pristine)
    new: dict[str, bytes] | None = None
    failures = 0
    for point in range(1, MAX_POINTS):
        registries = tmp_path / f"r{point}"
        shutil.copytree(pristine, registries)
        done = meshctl("apply", "--auto-approve", "--registries", registries, manifests,
                       env={"MESHCTL_TEST_ENOSPC_AT": str(point)})
        if done.returncode == 0:
            new = files_of(registries)
            shutil.rmtree(registries)
            break
        failures += 1
        assert "No space left on device" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "Internal error" not in done.stderr
        committed = "the change is committed" in done.stderr
        assert committed or "nothing changed" in done.stderr
        # the next command opens the store: the journal is finished or cleared
        after = meshctl("plan", "--registries", registries, manifests, "-o", "json")
        assert after.returncode == 0, after.stderr
        changes = [c for c in json.loads(after.stdout)["changes"] if c["action"] != "noop"]
        numbers = history.numbers(registries / ".meshctl")
        if committed:
            assert changes == [] and numbers == [1]
        else:
            assert len(changes) == 5 and numbers == []
            assert files_of(registries) == old
        assert read_live_state(registries).diagnostics == []
        meta = registries / ".meshctl"
        assert not (meta / "journal.json").exists()
        assert list((meta / "txn").glob("*")) == [] if (meta / "txn").exists() else True
        shutil.rmtree(registries)
    assert new is not None and failures >= 15, failures  # every point was tried
    assert new != old
    out = Path(__file__).resolve().parents[1] / "output"
    out.mkdir(exist_ok=True)
    (out / "enospc.json").write_text(json.dumps({"io_points_failed": failures}))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, when the test may mount one (root, and a kernel that allows it)."""
    target = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the injected "
                    "ENOSPC test covers the same paths")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_real_full_disk(small_disk: Path, tmp_path: Path) -> None:
    registries = copy_tree(FIXTURE_REGISTRIES, small_disk / "registries")
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    change_everything(manifests)
    old = files_of(registries)
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(free - 48 * 1024, 0))  # less room than the commit needs
    done = meshctl("apply", "--auto-approve", "--registries", registries, manifests)
    assert done.returncode == 1
    assert "No space left on device" in done.stderr and "nothing changed" in done.stderr
    assert files_of(registries) == old
    assert read_live_state(registries).diagnostics == []
    filler.unlink()  # room again: the same apply goes through
    done = meshctl("apply", "--auto-approve", "--registries", registries, manifests)
    assert done.returncode == 0, done.stderr
    assert history.numbers(registries / ".meshctl") == [1]
