"""`meshctl init`, in-process: a new mesh repository is a git repository when git is there
and the folder is not inside one already, and its hint names `--store`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Run = Callable[..., CliResult]


@pytest.fixture(autouse=True)
def _outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git looks no higher than tmp_path, wherever the temporary folder lives."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def git_top(folder: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_init_makes_a_git_repository_and_says_so(tmp_path: Path, meshctl: Run) -> None:
    result = meshctl("init", "mesh")
    assert result.code == 0, result.output
    assert "Initialized a git repository there (git init)." in result.out
    assert (tmp_path / "mesh" / ".git").is_dir()
    assert git_top(tmp_path / "mesh" / "manifests") == str((tmp_path / "mesh").resolve())


def test_inside_a_repository_init_makes_no_nested_one(tmp_path: Path, meshctl: Run) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path / "outer")], check=True)
    result = meshctl("init", tmp_path / "outer" / "mesh")
    assert result.code == 0, result.output
    assert not (tmp_path / "outer" / "mesh" / ".git").exists()
    top = str((tmp_path / "outer").resolve())
    assert f"It is inside the git repository {top}: no new one made." in result.out
    assert git_top(tmp_path / "outer" / "mesh") == top


def test_without_git_init_says_it_skipped_git_init(tmp_path: Path, meshctl: Run,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert shutil.which("git") is None
    result = meshctl("init", "mesh")
    assert result.code == 0, result.output
    assert "git is not installed: skipped `git init`." in result.out
    assert not (tmp_path / "mesh" / ".git").exists()
    assert (tmp_path / "mesh" / "manifests").is_dir()


def test_the_hint_and_the_help_name_store(meshctl: Run) -> None:
    hint = meshctl("init", "mesh").out.splitlines()[-1]
    assert hint == "Next: meshctl plan --store mesh/registries mesh/manifests"
    top = meshctl("--help").out
    assert "--store LOCATION" in top and "MESHCTL_STORE" in top
    assert top.index("MESHCTL_STORE") < top.index("MESHCTL_REGISTRIES")  # an older alias
    for command in ("diff", "export", "watch", "init"):
        assert "--registries /" not in meshctl(command, "--help").out, command
