"""Upstream's own access checks, read at test time: the judge of what the runtime allows.

AgentMesh's `RegistryManager.is_agent_invocation_allowed` and `is_tool_access_allowed`
decide what the runtime lets an agent do. meshctl never copies upstream's code: this helper
reads upstream's `registry_manager.py` when a test runs and executes that text as a private
module, so the oracle is whatever upstream's file says today.

Where the file comes from, first found:

- `MESHCTL_UPSTREAM`: a checkout of AgentMesh, a git directory of one (its `HEAD`), or the
  file itself. When it is set and names nothing usable, the tests skip (it is never
  ignored for the mirror);
- the fetched mirror, `/work/.mirror/svjt78+AgentMesh/repo` (`git show HEAD:<file>`).

Nothing found: `pytest.skip`, saying why (CI need not have a copy of upstream).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV = "MESHCTL_UPSTREAM"
MIRROR = Path("/work/.mirror/svjt78+AgentMesh/repo")
FILE = "backend/orchestrator/app/services/registry_manager.py"
METHODS = {"invoke": "is_agent_invocation_allowed", "use": "is_tool_access_allowed"}


@dataclass(frozen=True, slots=True)
class Raised:
    """Upstream's check raised instead of answering (a rule it cannot read)."""

    error: BaseException

    def __repr__(self) -> str:
        return f"raises {type(self.error).__name__}: {self.error}"


Outcome = bool | Raised


def _git_show(repo: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{FILE}"],
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def _source() -> tuple[str, str] | str:
    """(upstream's file text, where it came from), or why there is none."""
    named = os.environ.get(ENV)
    if named is not None:
        path = Path(named)
        if path.is_file():
            return path.read_text(encoding="utf-8"), str(path)
        if (path / FILE).is_file():
            return (path / FILE).read_text(encoding="utf-8"), str(path / FILE)
        if path.is_dir():
            text = _git_show(path)
            if text is not None:
                return text, f"{path} (HEAD:{FILE})"
        return f"{ENV}={named} holds no AgentMesh {FILE}"
    if MIRROR.is_dir():
        text = _git_show(MIRROR)
        if text is not None:
            return text, f"{MIRROR} (HEAD:{FILE})"
        return f"the AgentMesh mirror {MIRROR} has no HEAD:{FILE} (or git failed)"
    return (f"upstream AgentMesh is not available: set {ENV} to a checkout or to its {FILE} "
            f"(no mirror at {MIRROR})")


class Upstream:
    """Upstream's `registry_manager` module, executed from its own source text."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        name = "_meshctl_oracle_upstream_registry_manager"
        module = types.ModuleType(name)
        module.__file__ = where
        sys.modules[name] = module  # pydantic resolves the models' annotations through it
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(text, f"<upstream {where}>", "exec"), module.__dict__)
        finally:
            sys.modules.pop(name, None)
        self.module = module
        manager = getattr(module, "RegistryManager", None)
        missing = [method for method in METHODS.values()
                   if not callable(getattr(manager, method, None))]
        if manager is None or missing or not hasattr(module, "GovernancePolicies"):
            raise AssertionError(f"upstream's {where} no longer has RegistryManager."
                                 f"{', '.join(missing) or 'GovernancePolicies'}: the oracle "
                                 "needs updating")

    def stand_in(self, policies: Mapping[str, Any] | None) -> Any:
        """A `self` for upstream's two checks: `_governance` as its `_load_governance` leaves
        it (None: no governance loaded)."""
        governance = None if policies is None else self.module.GovernancePolicies(
            version="1.0.0", policies=dict(policies))
        return types.SimpleNamespace(_governance=governance)

    def check(self, manager: Any, verb: str, subject: str, target: str) -> Outcome:
        """Upstream's check for `verb` ("invoke" or "use") on `manager` (upstream's own
        manager, or a stand-in), as an answer or what it raised."""
        method = getattr(self.module.RegistryManager, METHODS[verb])
        try:
            answer = method(manager, subject, target)
        except Exception as error:  # noqa: BLE001 - the runtime's check fails: that is data
            return Raised(error)
        assert isinstance(answer, bool), f"upstream answered {answer!r}"
        return answer

    def decide(self, policies: Mapping[str, Any] | None, verb: str, subject: str,
               target: str) -> Outcome:
        return self.check(self.stand_in(policies), verb, subject, target)

    def load(self, folder: Path) -> Any:
        """Upstream's own `RegistryManager(folder)` after its `load_all()` (which prints)."""
        manager = self.module.RegistryManager(str(folder))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manager.load_all()
        return manager


@functools.cache
def _loaded() -> Upstream | str:
    found = _source()
    if isinstance(found, str):
        return found
    return Upstream(*found)


def upstream() -> Upstream:
    """Upstream's module, or skip the test saying why it is not available."""
    found = _loaded()
    if isinstance(found, str):
        pytest.skip(found)
    return found
