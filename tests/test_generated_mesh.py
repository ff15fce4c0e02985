"""bench/generate_mesh.py writes a mesh every rule passes, the access rules included: the
benchmarks and the crash test measure valid meshes, never a failing run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler import engine
from tests.conftest import REPO, load


def test_the_generated_mesh_passes_every_rule(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "bench" / "generate_mesh.py"), "--agents", "300",
                    "--tools", "60", "--profiles", "5", "--workflows", "12", "--out",
                    str(tmp_path / "mesh")], check=True, capture_output=True)
    desired = load(tmp_path / "mesh" / "manifests")
    assert desired.diagnostics == []
    live = engine.validate_live(engine.load_live(tmp_path / "mesh" / "registries"))
    assert live == []
    result = engine.make_plan([str(tmp_path / "mesh" / "manifests")],
                              tmp_path / "mesh" / "registries", use_cache=False)
    assert result.plan is not None and not result.plan.summary.has_changes
