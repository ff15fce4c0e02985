"""`meshctl mirror --once` and `meshctl store import`, as real processes on a throwaway
PostgreSQL server: what they did, as a sentence (counted in proper English) or, with
`-o json`, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.filestore import default_info
from reconciler.store.pgstore import PostgresStore
from tests.conftest import FIXTURE_REGISTRIES, REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / ".venv" / "bin" / "meshctl"


def meshctl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})


def describe_one_agent(url: str) -> None:
    """One revision changing one resource."""
    store = PostgresStore(url)
    try:
        live = store.snapshot()
        key = ResourceKey(Kind.AGENT, "severity_agent")
        resource = live.state.get(key)
        assert resource is not None
        store.commit({key: {**resource.entry, "description": "Scores severity (v2)"}},
                     expected=live.fingerprint, info=default_info("test"))
    finally:
        store.close()


def test_mirror_once_prints_a_sentence_and_json_only_when_asked(pg_url: str,
                                                                 tmp_path: Path) -> None:
    imported = meshctl("store", "import", "--store", pg_url, "--from", FIXTURE_REGISTRIES)
    assert imported.returncode == 0, imported.stderr
    count = int(imported.stdout.split()[1])
    assert imported.stdout.startswith(f"imported {count} resources from {FIXTURE_REGISTRIES}")
    folder = tmp_path / "mirrored"

    first = meshctl("mirror", "--store", pg_url, "--to", folder, "--once")
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"Mirrored revision 1 to {folder}: {count} resources changed.\n"

    describe_one_agent(pg_url)
    second = meshctl("mirror", "--store", pg_url, "--to", folder, "--once")
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"Mirrored revision 2 to {folder}: 1 resource changed.\n"
    assert "mirrored revision 2: 1 resource changed" in second.stderr  # the log line

    again = meshctl("mirror", "--store", pg_url, "--to", folder, "--once", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"revision": 2, "changed": 0}
    assert "Scores severity (v2)" in (folder / "agent_registry.json").read_text()
