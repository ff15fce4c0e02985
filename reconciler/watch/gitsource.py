"""A branch of a git repository as the desired state: fetched with the git CLI into a work
tree of meshctl's own, checked out commit by commit.

The repository may be a local path or any URL git accepts (https, ssh, file); credentials
are git's business (a credential helper, an ssh key, a token in the URL). Only the branch
is fetched, and the work tree is always a detached checkout of a fetched commit, so
nothing a person does in their own clone can leak into what is applied.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import MeshctlError

GIT_TIMEOUT = 120.0


class GitError(MeshctlError):
    """git failed: the message is git's own, with the command that failed."""


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    subject: str
    author: str
    time: str


class GitSource:
    """`branch` of `repo`, checked out under `workdir`."""

    def __init__(self, repo: str, branch: str, workdir: Path) -> None:
        self.repo = repo if "://" in repo or ":" in repo.split("/")[0] else \
            str(Path(repo).resolve())
        self.branch = branch
        self.workdir = workdir
        self.checked_out: str | None = None

    @staticmethod
    def default_workdir(meta: Path, repo: str, branch: str) -> Path:
        name = hashlib.sha256(f"{repo}\0{branch}".encode()).hexdigest()[:12]
        return meta / "git" / name

    def _git(self, *args: str, check: bool = True) -> str:
        command = ["git", "-C", str(self.workdir), *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=GIT_TIMEOUT, check=False)
        except FileNotFoundError as error:
            raise GitError("git is not installed (the git source needs the git CLI)") \
                from error
        except subprocess.TimeoutExpired as error:
            raise GitError(f"git {args[0]} took over {GIT_TIMEOUT:.0f} s") from error
        if check and done.returncode != 0:
            said = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                    if line.strip()]
            first = next((line for line in said if line.startswith(("fatal:", "error:"))),
                         said[-1] if said else f"exit {done.returncode}")
            raise GitError(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")
        return done.stdout

    def fetch(self) -> str:
        """Fetch the branch; the commit at its head."""
        if not (self.workdir / ".git").exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet")
            self._git("remote", "add", "origin", self.repo)
        else:
            self._git("remote", "set-url", "origin", self.repo)
        remote = f"refs/remotes/origin/{self.branch}"
        self._git("fetch", "--quiet", "--no-tags", "--prune", "origin",
                  f"+refs/heads/{self.branch}:{remote}")
        return self._git("rev-parse", "--verify", f"{remote}^{{commit}}").strip()

    def checkout(self, sha: str) -> list[str]:
        """Check `sha` out; the files (relative to the repository) that differ from the
        commit checked out before (None before: every file)."""
        previous = self.checked_out or self._head()
        self._git("checkout", "--quiet", "--force", "--detach", sha)
        self._git("clean", "--quiet", "-d", "--force", "-e", ".meshctl-cache")
        self.checked_out = sha
        if previous is None or previous == sha:
            return [] if previous == sha else self.files()
        listed = self._git("diff", "--name-only", "--no-renames", "-z", previous, sha)
        return [name for name in listed.split("\0") if name]

    def files(self) -> list[str]:
        return [name for name in self._git("ls-files", "-z").split("\0") if name]

    def current(self) -> str | None:
        """The commit checked out in the work tree (from an earlier run too), if any."""
        if not (self.workdir / ".git").exists():
            return None
        return self._head()

    def _head(self) -> str | None:
        found = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
        return found or None

    def describe(self, sha: str) -> CommitInfo:
        found = self._git("log", "-1", "--format=%H%x00%s%x00%an%x00%cI", sha).rstrip("\n")
        full, subject, author, when = (found.split("\0") + ["", "", "", ""])[:4]
        return CommitInfo(full, subject, author, when)
