"""What the PostgreSQL store's tests share: the real `meshctl` run as a subprocess, a
store filled from the example registries, and an agent entry to write."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, REPO

SCRIPT = REPO / ".venv" / "bin" / "meshctl"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def meshctl(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, env={**ENV, **(env or {})})


def imported(url: str) -> str:
    """`url` (an initialised database) holding the example registries, as revision 1."""
    done = meshctl("store", "import", "--store", url, "--from", str(FIXTURE_REGISTRIES))
    assert done.returncode == 0, done.stderr
    return url


def agent_template() -> dict[str, Any]:
    live = read_live_state(FIXTURE_REGISTRIES)
    resource = live.state.get(ResourceKey(Kind.AGENT, "severity_agent"))
    assert resource is not None
    return {**resource.entry, "allowed_agents": []}
