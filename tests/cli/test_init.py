"""`meshctl init`, in-process: a new mesh repository is a git repository when git is there
and the folder is not inside one already, and its hint names `--store`; with --envs, the
environment layout (meshctl.yaml, base, overlays, a store each, CI over every environment)
that validates and plans in each environment at once."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from reconciler.cli import init_cmd
from reconciler.manifests import project
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


# --envs: the environment layout (issue 25)

def test_init_envs_lays_out_one_base_an_overlay_and_a_store_per_environment(
        tmp_path: Path, meshctl: Run) -> None:
    result = meshctl("init", "mesh", "--envs", "dev,staging,prod")
    assert result.code == 0, result.output
    assert result.out.startswith("Created a mesh in mesh/ for the environments dev, staging, "
                                 "prod: 7 manifests in manifests/base/, an overlay for each "
                                 "environment in manifests/overlays/, registries-dev/, "
                                 "registries-staging/, registries-prod/, meshctl.yaml, CI and "
                                 "pre-commit configuration.")
    assert result.out.splitlines()[-1] == \
        "Next: meshctl plan --env dev --project mesh/meshctl.yaml"
    mesh = tmp_path / "mesh"
    found = project.load(mesh / "meshctl.yaml")
    assert list(found.environments) == ["dev", "staging", "prod"]
    for name, environment in found.environments.items():
        assert environment.manifests == ("mesh/manifests/base",
                                         f"mesh/manifests/overlays/{name}")
        assert environment.store == f"mesh/registries-{name}"
        assert dict(environment.options) == ({"deny_breaking": True} if name == "prod" else {})
        assert (mesh / f"registries-{name}" / ".gitkeep").is_file()
        assert [p.name for p in (mesh / "manifests/overlays" / name).iterdir()] == \
            ["triage_agent.yaml"]
    assert sorted(p.name for p in (mesh / "manifests" / "base").iterdir()) == \
        ["agents", "model-profiles", "policies", "tools", "workflows"]
    assert not (mesh / "registries").exists()
    for target in init_cmd.FILES.values():
        assert (mesh / target).is_file(), target


def test_every_environment_validates_plans_and_starts_equal_to_the_base(
        tmp_path: Path, meshctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert meshctl("init", "mesh", "--envs", "dev,prod").code == 0
    monkeypatch.chdir(tmp_path / "mesh")
    base = meshctl("render", "manifests/base").out
    for name in ("dev", "prod"):
        valid = meshctl("validate", "--env", name)
        assert valid.code == 0, valid.output
        assert valid.out.endswith("0 errors, 0 warnings\n")
        plan = meshctl("plan", "--env", name, "--detailed-exitcode")
        assert plan.code == 2, plan.output
        assert "Plan: 7 to create, 0 to update, 0 to delete, 0 refused" in plan.out
        assert meshctl("render", "--env", name).out == base  # the example changes nothing
    overlay = yaml.safe_load((tmp_path / "mesh/manifests/overlays/prod/triage_agent.yaml")
                             .read_text())
    assert set(overlay) == {"apiVersion", "kind", "metadata", "spec", "patches"}
    assert overlay["patches"][0]["op"] == "replace"


def test_the_ci_jobs_run_every_environment(tmp_path: Path, meshctl: Run,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert meshctl("init", "mesh", "--envs", "dev,prod").code == 0
    mesh = tmp_path / "mesh"
    github = yaml.safe_load((mesh / ".github/workflows/meshctl.yml").read_text())
    runs = [step["run"] for step in github["jobs"]["plan"]["steps"] if "run" in step]
    assert "meshctl validate --all-envs" in runs
    assert any("meshctl plan --all-envs -o markdown" in run for run in runs)
    assert not any(re.search(r"meshctl (validate|plan)(?! --all-envs)", run) for run in runs)
    apply = github["jobs"]["apply"]
    assert apply["strategy"]["matrix"]["env"] == ["dev", "prod"]
    assert apply["env"]["MESHCTL_ENV"] == "${{ matrix.env }}"
    gitlab = yaml.safe_load((mesh / ".gitlab-ci.yml").read_text())
    script = gitlab["meshctl-plan"]["script"]
    assert script[0] == "meshctl validate --all-envs"
    assert script[2].startswith("meshctl plan --all-envs -o markdown")
    assert gitlab["meshctl-apply"]["parallel"]["matrix"] == [{"MESHCTL_ENV": ["dev", "prod"]}]
    hooks = yaml.safe_load((mesh / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert [hook["entry"] for hook in hooks] == ["meshctl fmt", "meshctl validate --all-envs"]
    assert "registries-*/.meshctl/" in (mesh / ".gitignore").read_text()
    # the apply step, as each job of the matrix runs it (MESHCTL_ENV picks the environment)
    monkeypatch.chdir(mesh)
    [step] = [s["run"] for s in apply["steps"] if s.get("name") == "Apply"]
    for name in ("dev", "prod"):
        monkeypatch.setenv("MESHCTL_ENV", name)
        done = meshctl(*shlex.split(step)[1:])
        assert done.code == 0, done.output
        assert meshctl("plan", "--detailed-exitcode").code == 0
        assert (mesh / f"registries-{name}" / "agent_registry.json").is_file()


@pytest.mark.parametrize(("envs", "problem"), [
    ("dev,team/prod", "environment name 'team/prod' may contain only letters, digits"),
    ("dev,", "environment name '' must not be empty"),
    ("dev,.hidden", "environment name '.hidden' must not start with a dot"),
    ("dev,prod,dev", "--envs: dev given twice"),
])
def test_an_invalid_environment_name_is_a_usage_error(tmp_path: Path, meshctl: Run,
                                                      envs: str, problem: str) -> None:
    result = meshctl("init", "mesh", "--envs", envs)
    assert result.code == 1
    assert problem in result.err
    assert not (tmp_path / "mesh").exists()


def test_names_yaml_would_read_as_other_things_are_quoted(tmp_path: Path, meshctl: Run,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    assert meshctl("init", "mesh", "--envs", "1,yes,Production").code == 0
    text = (tmp_path / "mesh" / "meshctl.yaml").read_text()
    assert '  "1":\n' in text and '  "yes":\n' in text
    found = project.load(tmp_path / "mesh" / "meshctl.yaml")
    assert list(found.environments) == ["1", "yes", "Production"]
    assert found.environments["Production"].options == {"deny_breaking": True}
    monkeypatch.chdir(tmp_path / "mesh")
    assert meshctl("validate", "--env", "1").code == 0
