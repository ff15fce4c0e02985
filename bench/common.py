"""What the benchmark scripts share: the generated mesh they measure, and measuring in a
fresh process."""

from __future__ import annotations

import compileall
import os
import subprocess
import tempfile
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
PYTHON = BENCH.parent / ".venv" / "bin" / "python"


def compiled_bytecode() -> None:
    """Measure meshctl as installed: its modules compiled to bytecode once, as pip does.
    With `PYTHONDONTWRITEBYTECODE` set (as on some CI machines) and no bytecode beside an
    editable install, every command compiled each of meshctl's modules again: 0.2-0.3 s of
    each measured start, which no installed meshctl pays."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(BENCH.parent / "reconciler", quiet=1)


def mesh(keep: Path | None, agents: int, prefix: str) -> Path:
    """The mesh in `keep` (generated there first when it holds none), else a new one in a
    temporary folder (bench/generate_mesh.py)."""
    folder = keep or Path(tempfile.mkdtemp(prefix=prefix)) / "mesh"
    if not (folder / "manifests").is_dir():
        subprocess.run([str(PYTHON), str(BENCH / "generate_mesh.py"), "--agents", str(agents),
                        "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)
    return folder


def measured_in_process(code: str, cwd: Path) -> dict[str, float]:
    """Run `code` in a fresh Python with meshctl (nothing cached in memory), in `cwd`: the
    JSON object of figures it prints."""
    done = subprocess.run([str(PYTHON), "-c", code], cwd=cwd, check=True, capture_output=True)
    found: dict[str, float] = orjson.loads(done.stdout)
    return found
