"""What docs/ci.md shows, run: `meshctl init` makes a repository that validates and plans
cleanly against empty registries; the GitHub workflow's and the GitLab job's commands pass
on it (plan with changes, apply, plan without); the pre-commit hooks run as pre-commit would
run them; shell completion scripts come out for bash, zsh and fish. The jobs `init --envs`
writes run the same way over every environment."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import init_cmd
from tests.conftest import REPO
from tests.servers import SCRIPT

SKELETON = REPO / "reconciler" / "cli" / "skeleton"
CI_MD = (REPO / "docs" / "ci.md").read_text()
SKIPPED = ("Install meshctl", "Post the plan on the pull request")  # network: pip, gh


def meshctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})


def shell(cwd: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env, "PATH": path})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    done = meshctl(tmp_path, "init", "mesh")
    assert done.returncode == 0, done.stderr
    return tmp_path / "mesh"


def test_init_makes_a_mesh_that_validates_and_plans_cleanly(repo: Path) -> None:
    done = meshctl(repo, "validate", "-o", "json")
    assert done.returncode == 0, done.stdout
    assert '"errors": 0' in done.stdout and '"warnings": 0' in done.stdout
    assert meshctl(repo, "fmt", "--check").returncode == 0
    plan = meshctl(repo, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes, none refused
    assert f"Plan: {len(init_cmd.STARTER)} to create, 0 to update, 0 to delete, 0 refused" in \
        plan.stdout
    for target in init_cmd.FILES.values():
        assert (repo / target).is_file()
    assert (repo / ".github/workflows/meshctl.yml").read_text() == \
        (SKELETON / "github-workflow.yml").read_text()
    assert meshctl(repo.parent, "init", "mesh").returncode == 1  # not empty: refused


@pytest.mark.parametrize("name", ["github-workflow.yml", "gitlab-ci.yml",
                                  "pre-commit-config.yaml"])
def test_the_docs_show_the_files_init_writes(name: str) -> None:
    assert (SKELETON / name).read_text().rstrip() in CI_MD
    assert (REPO / ".pre-commit-hooks.yaml").read_text().rstrip() in CI_MD


def _github_steps(job: str) -> list[dict[str, Any]]:
    workflow = yaml.safe_load((SKELETON / "github-workflow.yml").read_text())
    return [step for step in workflow["jobs"][job]["steps"] if "run" in step]


def test_the_github_workflow_runs(repo: Path, tmp_path: Path) -> None:
    workflow = yaml.safe_load((SKELETON / "github-workflow.yml").read_text())
    env = {key: str(value) for key, value in workflow["env"].items()}

    def run_job(job: str) -> dict[str, str]:
        output = tmp_path / f"{job}.out"
        output.write_text("")
        for step in _github_steps(job):
            if step.get("name") in SKIPPED:
                continue
            done = shell(repo, step["run"], {**env, "GITHUB_OUTPUT": str(output)})
            assert done.returncode == 0, (step.get("name"), done.stdout, done.stderr)
        return dict(line.split("=", 1) for line in output.read_text().splitlines())

    assert run_job("plan") == {"changes": "yes"}
    assert "to create" in (repo / "plan.md").read_text()
    run_job("apply")
    assert run_job("plan") == {"changes": "no"}
    # an invalid manifest fails the plan job with annotations
    agent = repo / "manifests" / "agents" / "triage_agent.yaml"
    agent.write_text(agent.read_text().replace("- claim_lookup", "- no_such_tool"))
    [validate] = [s for s in _github_steps("plan") if s["name"] == "Validate"]
    done = shell(repo, validate["run"], env)
    assert done.returncode == 1
    assert "::error file=manifests/agents/triage_agent.yaml,line=" in done.stdout


def test_the_gitlab_jobs_run(repo: Path) -> None:
    pipeline = yaml.safe_load((SKELETON / "gitlab-ci.yml").read_text())
    env = {key: str(value) for key, value in pipeline["variables"].items()}
    for job in ("meshctl-plan", "meshctl-apply"):
        for line in pipeline[job]["script"]:
            done = shell(repo, line, env)
            assert done.returncode == 0, (job, line, done.stderr)
    assert (repo / "meshctl-validate.xml").read_text().startswith("<?xml")
    assert meshctl(repo, "plan", "--detailed-exitcode").returncode == 0  # applied


def test_the_pre_commit_hooks_run_as_pre_commit_runs_them(repo: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    local = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    files = sorted(str(p.relative_to(repo)) for p in (repo / "manifests").rglob("*.yaml"))
    messy = repo / "manifests" / "tools" / "claim_lookup.yaml"
    messy.write_text(messy.read_text().replace("  lineage_tags:\n  - claims\n",
                                               "  lineage_tags: [claims]\n"))
    for hook in (*hooks, *local):
        command = shlex.split(hook["entry"]) + hook.get("args", [])
        if hook.get("pass_filenames", True):
            command += files
        assert command[0] == "meshctl"
        done = subprocess.run([str(SCRIPT), *command[1:]], cwd=repo, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr
    assert "  lineage_tags:\n  - claims\n" in messy.read_text()  # fmt fixed it
    for hook in (*hooks, *local):
        command = shlex.split(hook["entry"]) + hook.get("args", [])
        if hook.get("pass_filenames", True):
            command += files
        done = subprocess.run([str(SCRIPT), *command[1:]], cwd=repo, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, (hook["id"], done.stdout, done.stderr)


@pytest.mark.parametrize(("shell_name", "marker"), [("bash", "complete -o"),
                                                    ("zsh", "compdef"),
                                                    ("fish", "complete --no-files")])
def test_shell_completion(shell_name: str, marker: str, tmp_path: Path) -> None:
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "_MESHCTL_COMPLETE": f"{shell_name}_source"})
    assert done.returncode == 0 and marker in done.stdout
    assert f"_MESHCTL_COMPLETE={shell_name}_source meshctl" in CI_MD
    words = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "_MESHCTL_COMPLETE": "bash_complete",
                                "COMP_WORDS": "meshctl wat", "COMP_CWORD": "1"})
    assert "plain,watch" in words.stdout.splitlines()


# `meshctl init --envs`: the same jobs over every environment (issue 25)

@pytest.fixture
def envs_repo(tmp_path: Path) -> Path:
    done = meshctl(tmp_path, "init", "mesh", "--envs", "dev,prod")
    assert done.returncode == 0, done.stderr
    return tmp_path / "mesh"


def test_the_environments_github_workflow_runs(envs_repo: Path, tmp_path: Path) -> None:
    workflow = yaml.safe_load((envs_repo / ".github/workflows/meshctl.yml").read_text())
    env = {key: str(value) for key, value in workflow["env"].items()}

    def run_job(job: str, extra: dict[str, str]) -> dict[str, str]:
        output = tmp_path / f"{job}.out"
        output.write_text("")
        for step in workflow["jobs"][job]["steps"]:
            if "run" not in step or step.get("name") in SKIPPED:
                continue
            done = shell(envs_repo, step["run"], {**env, **extra, "GITHUB_OUTPUT": str(output)})
            assert done.returncode == 0, (job, step.get("name"), done.stdout, done.stderr)
        return dict(line.split("=", 1) for line in output.read_text().splitlines())

    assert run_job("plan", {}) == {"changes": "yes"}
    assert (envs_repo / "plan.md").read_text().count("Plan: 7 to create") == 2
    for name in workflow["jobs"]["apply"]["strategy"]["matrix"]["env"]:
        run_job("apply", {"MESHCTL_ENV": name})  # what each job of the matrix runs
        assert (envs_repo / f"registries-{name}" / "agent_registry.json").is_file()
    assert run_job("plan", {}) == {"changes": "no"}
    # an overlay whose JSON Patch no longer applies fails the plan job, naming its line
    overlay = envs_repo / "manifests" / "overlays" / "prod" / "triage_agent.yaml"
    overlay.write_text(overlay.read_text().replace("/spec/capabilities/0",
                                                   "/spec/capabilities/7"))
    [validate] = [s for s in workflow["jobs"]["plan"]["steps"] if s.get("name") == "Validate"]
    done = shell(envs_repo, validate["run"], env)
    assert done.returncode == 1
    assert "manifests/overlays/prod/triage_agent.yaml:21: error M018" in done.stdout + done.stderr


def test_the_environments_gitlab_jobs_run(envs_repo: Path) -> None:
    pipeline = yaml.safe_load((envs_repo / ".gitlab-ci.yml").read_text())
    env = {key: str(value) for key, value in pipeline["variables"].items()}
    for line in pipeline["meshctl-plan"]["script"]:
        done = shell(envs_repo, line, env)
        assert done.returncode == 0, (line, done.stderr)
    [matrix] = pipeline["meshctl-apply"]["parallel"]["matrix"]
    for name in matrix["MESHCTL_ENV"]:
        for line in pipeline["meshctl-apply"]["script"]:
            done = shell(envs_repo, line, {**env, "MESHCTL_ENV": name})
            assert done.returncode == 0, (name, line, done.stderr)
        assert meshctl(envs_repo, "plan", "--env", name, "--detailed-exitcode").returncode == 0
