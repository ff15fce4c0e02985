"""The wheel carries what the package needs at run time: the panel's templates and static
files (a checkout works without them being packaged; an installed meshctl would not)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_carries_the_panel(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(REPO)], check=True,
                   capture_output=True)
    (wheel,) = tmp_path.glob("meshctl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = REPO / "reconciler" / "web"
    shipped = {str(path.relative_to(REPO)) for folder in ("templates", "static")
               for path in (web / folder).rglob("*") if path.is_file()}
    assert shipped and shipped <= names
    # The vendored libraries ship with their licences (static/vendor/README.md).
    assert {"reconciler/web/static/vendor/cytoscape/LICENSE",
            "reconciler/web/static/vendor/cytoscape/cytoscape.min.js",
            "reconciler/web/static/vendor/cytoscape-dagre/cytoscape-dagre.min.js"} <= names


def imported_among(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter has imported once it imported `module`."""
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {names!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return list(ast.literal_eval(done.stdout.strip()))


def test_the_cli_starts_without_the_heavy_imports() -> None:
    """`meshctl --version`, `plan` and `apply` start in about 0.15 s: the CLI must not
    import pydantic, FastAPI, watchdog or the watch controller until a command needs them
    (an import in a shared module once added 0.1 s to every command)."""
    assert imported_among("reconciler.cli", (
        "pydantic", "fastapi", "watchdog", "ruamel", "reconciler.watch.controller",
        "reconciler.library")) == []


def test_validate_begins_its_scan_before_it_imports_the_engine() -> None:
    """`meshctl validate` forks the stats' copy before it imports the engine, the store
    and rich (`options.begin_scan`): its module must not import them itself."""
    assert imported_among("reconciler.cli.validate_cmd", (
        "reconciler.engine", "reconciler.loading", "reconciler.store", "rich")) == []


def test_only_the_store_names_its_own_folder() -> None:
    """Where a store keeps its bookkeeping is the store's business (import-linter checks the
    imports; this, the folder's name)."""
    package = Path(__file__).parent.parent / "reconciler"
    naming = [str(path.relative_to(package)) for path in package.rglob("*.py")
              if "store" not in path.relative_to(package).parts[:1]
              and ".meshctl" in path.read_text().replace(".meshctl-cache", "")]
    assert naming == []
