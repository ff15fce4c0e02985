"""Shared fixtures and helpers: copies of the example mesh, and small manifests written to disk.

Every test works on files under `tmp_path`; the repository's `manifests/` and `registries/`
are only ever copied, never written.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine, forked
from reconciler.errors import Diagnostic
from reconciler.manifests.loader import DEFAULT_MAX_BYTES
from tests.pg import PgServer, start_server
from tests.servers import Server

REPO = Path(__file__).resolve().parents[1]

# The slow tier: tests that start real processes (CLI subprocesses, uvicorn servers, Chromium,
# PostgreSQL), kill them, fill disks or run for seconds on purpose. `pytest -m "not slow"`
# leaves them out and runs the core (engine, planner, rules, stores, library, API in-process)
# in well under a minute; `make test` runs everything.
SLOW = ("tests/web/", "tests/e2e/", "tests/hardening/", "tests/api/test_server.py",
        "tests/api/test_schema.py", "tests/api/test_deny_breaking.py",
        "tests/cli/test_ci_docs.py", "tests/watch/test_watch_cli.py",
        "tests/watch/test_serve_watch.py", "tests/watch/test_controller.py",
        "tests/watch/test_drift_export.py", "tests/test_packaging.py",
        "tests/store/test_journal.py", "tests/library/test_following.py",
        "tests/plan/test_unloadable_live.py", "tests/store/test_postgres",
        "tests/api/test_settings_api.py", "tests/watch/test_settings_watch.py",
        "tests/plan/test_one_plan_every_path.py", "tests/access/test_every_way_in.py",
        "tests/watch/test_watch_envs.py", "tests/api/test_serve_env.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.fspath)).relative_to(REPO).as_posix()
        if relative.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _private_cache_key(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the parse cache's machine key out of the real home directory."""
    key = tmp_path_factory.getbasetemp() / "meshctl-cache-key"
    monkeypatch.setenv("MESHCTL_CACHE_KEY_FILE", str(key))
FIXTURE_REGISTRIES = REPO / "registries"
FIXTURE_MANIFESTS = REPO / "manifests"
# The whole of a current AgentMesh checkout's registries: the five above plus system
# settings, context engineering and the integration fabric (issue 18).
FULL_REGISTRIES = REPO / "tests" / "fixtures" / "full-registries"

# A small mesh that passes every rule without a single diagnostic. Tests add a second file
# beside it holding the case under test, so line numbers in assertions are that file's own.
BASE_MESH = """\
apiVersion: agentmesh.io/v1
kind: ModelProfile
metadata:
  name: default_gpt35
spec:
  name: Default GPT-3.5
  provider: openai
  model_name: gpt-3.5-turbo
  timeout_seconds: 30
  description: The default model
  intended_usage: general
---
apiVersion: agentmesh.io/v1
kind: ModelProfile
metadata:
  name: gpt4
spec:
  name: GPT-4
  provider: openai
  model_name: gpt-4
  description: The larger model
  intended_usage: complex_reasoning
---
apiVersion: agentmesh.io/v1
kind: Tool
metadata:
  name: fraud_rules
spec:
  name: Fraud rules
  description: Scores fraud indicators
  endpoint: /invoke/fraud_rules
  input_schema:
    type: object
    properties:
      claim_id: {type: string}
  output_schema: {type: object}
---
apiVersion: agentmesh.io/v1
kind: Tool
metadata:
  name: similarity
spec:
  name: Similarity
  description: Finds similar claims
  endpoint: /invoke/similarity
  input_schema: {type: object}
  output_schema: {type: object}
---
apiVersion: agentmesh.io/v1
kind: Agent
metadata:
  name: orchestrator_agent
spec:
  name: Orchestrator
  description: Coordinates the other agents
  allowed_agents: [fraud_agent, intake_agent]
  model_profile_id: default_gpt35
  max_iterations: 10
  capabilities: [routing]
  output_schema: {type: object}
---
apiVersion: agentmesh.io/v1
kind: Agent
metadata:
  name: fraud_agent
spec:
  name: Fraud agent
  description: Looks for fraud
  allowed_tools:
  - fraud_rules
  - similarity
  model_profile_id: default_gpt35
  capabilities: [fraud_detection]
  output_schema: {type: object}
---
apiVersion: agentmesh.io/v1
kind: Agent
metadata:
  name: intake_agent
spec:
  name: Intake agent
  description: Normalises a claim
  model_profile_id: gpt4
  capabilities: [intake]
  output_schema: {type: object}
"""


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `check` until it holds or `timeout` s have passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def save(path: Path, text: str) -> Path:
    """Save `text` to `path` as an editor or `git checkout` does: a whole new file renamed
    over the old, so a watch or a follower never reads half of it (in-place rewrites and
    half-written files have tests of their own: tests/hardening/test_damaged_registries.py,
    test_a_damaged_file_keeps_the_last_good_snapshot)."""
    saving = path.with_name(f".{path.name}.saving")
    saving.write_text(text, encoding="utf-8")
    os.replace(saving, path)
    return path


def write(path: Path, text: str | bytes) -> Path:
    """Write `text` (dedented) to `path`, creating folders; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(dedent(text), encoding="utf-8")
    return path


def manifest(kind: str, name: str, spec: str = "") -> str:
    """One manifest document; `spec` is YAML text for the spec body (dedented, re-indented)."""
    body = textwrap.indent(dedent(spec).rstrip("\n") + "\n", "  ") if spec.strip() else ""
    head = f"apiVersion: agentmesh.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\n"
    return head + ("spec:\n" + body if body else "spec: {}\n")


# The real AgentMesh registries (and so the example manifests) hold two HITL checkpoints of a
# type their role does not allow: warnings every check of the example mesh finds.
FIXTURE_WARNINGS = frozenset({("H003", "hitl_checkpoints[1].checkpoint_type"),
                              ("H003", "hitl_checkpoints[2].checkpoint_type")})


def beyond_fixture(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics other than the example mesh's own two warnings, which must be there."""
    found = list(diagnostics)
    assert {(d.code, d.path) for d in found} >= FIXTURE_WARNINGS
    return [d for d in found if (d.code, d.path) not in FIXTURE_WARNINGS]


def unless_given(extra: str, **fields: str) -> str:
    """Spec lines `name: value` for each field that `extra` does not set at its top level."""
    given = set(re.findall(r"^(\w+):", dedent(extra), re.MULTILINE))
    return "".join(f"{name}: {value}\n" for name, value in fields.items() if name not in given)


def agent(name: str, extra: str = "", model: str = "default_gpt35") -> str:
    """An Agent manifest with the fields the runtime requires, plus `extra` spec lines."""
    return manifest("Agent", name, f"name: {name}\ndescription: test agent\n"
                    f"model_profile_id: {model}\n"
                    + unless_given(extra, capabilities="[testing]",
                                   output_schema="{type: object}") + dedent(extra))


def line_of(source: Path | str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line of a file (or text) containing `needle`."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found in {source}")


def load(*paths: Path | str, max_bytes: int = DEFAULT_MAX_BYTES, use_cache: bool = False,
         jobs: int | None = 1) -> engine.DesiredState:
    """The engine's view of `paths` (by default without touching any parse cache)."""
    return engine.load_desired([str(p) for p in paths], max_bytes=max_bytes,
                               use_cache=use_cache, jobs=jobs)


def by_code(diagnostics: Iterable[Diagnostic], code: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.code == code]


def codes(diagnostics: Iterable[Diagnostic]) -> set[str]:
    return {d.code for d in diagnostics}


def only(diagnostics: Iterable[Diagnostic], code: str) -> Diagnostic:
    """The single diagnostic with `code`; fails when there is none or several."""
    found = by_code(diagnostics, code)
    assert len(found) == 1, f"expected one {code}, got {found!r}"
    return found[0]


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a fixture tree into a writable folder (the fixtures are read-only files), without
    what a meshctl run left in it (caches, the store's `.meshctl/`)."""
    shutil.copytree(source, target, copy_function=shutil.copyfile,
                    ignore=shutil.ignore_patterns(".meshctl-cache", ".meshctl"))
    for folder, _, _ in os.walk(target):
        mode = os.stat(folder).st_mode
        os.chmod(folder, mode | stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
    return target


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The work sent to a forked copy (`forked.beside`), counted; threads other tests
    left running do not count against forking."""
    monkeypatch.setattr(forked.threading, "active_count", lambda: 1)
    calls: list[int] = []
    original = forked.beside

    def counted(work: Any) -> Any:
        calls.append(1)
        return original(work)

    monkeypatch.setattr(forked, "beside", counted)
    return calls


@pytest.fixture
def registries(tmp_path: Path) -> Path:
    """A writable copy of the example live registries."""
    return copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    """A writable copy of the example manifests."""
    return copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")


@pytest.fixture
def mesh(tmp_path: Path) -> Path:
    """A folder holding the small valid mesh in `base.yaml`."""
    root = tmp_path / "mesh"
    write(root / "base.yaml", BASE_MESH)
    return root


@pytest.fixture
def case(mesh: Path) -> Callable[[str], tuple[Path, engine.DesiredState]]:
    """`case(text)`: write `text` as `case.yaml` beside the base mesh and load both."""

    def run(text: str) -> tuple[Path, engine.DesiredState]:
        path = write(mesh / "case.yaml", text)
        return path, load(mesh)

    return run


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def meshctl(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """`meshctl("validate", path)`: run the CLI in-process; exit code, stdout and stderr."""
    from reconciler.cli import main

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


FileState = dict[str, tuple[bytes, int, int, int]]


def files_state(root: Path) -> FileState:
    """Every file under root, outside .meshctl/: bytes, mtime (ns), inode, permission bits.
    Equal before and after means nothing was written, not even rewritten in place."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != ".meshctl":
            info = path.stat()
            found[str(relative)] = (path.read_bytes(), info.st_mtime_ns, info.st_ino,
                                    stat.S_IMODE(info.st_mode))
    return found


@pytest.fixture
def server(registries: Path) -> Iterator[Server]:
    """`meshctl serve` on a copy of the example registries (stopped afterwards)."""
    running = Server(registries)
    yield running
    running.stop()


@pytest.fixture
def drifted_manifests(manifests: Path) -> Path:
    """The example manifests with fraud_agent's max_iterations changed from 5 to 7: the
    live registries have drifted from them by exactly that field."""
    path = manifests / "agents" / "fraud_agent.yaml"
    path.write_text(path.read_text().replace("max_iterations: 5", "max_iterations: 7"))
    return manifests


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session (tests/pg.py), started on first use."""
    server = start_server(tmp_path_factory.mktemp("postgres") / "pg")
    yield server
    server.stop("immediate")


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database with meshctl's schema: its URL."""
    from reconciler.store import pgstore

    url = pg_server.database()
    pgstore.init_schema(url)
    return url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Any]:
    """A PostgreSQL store holding the real AgentMesh registries (imported, revision 1)."""
    from reconciler.store import pgstore
    from reconciler.store.filestore import default_info
    from reconciler.store.registry_files import read_live_state

    store = pgstore.PostgresStore(pg_url)
    store.import_state(read_live_state(FIXTURE_REGISTRIES), {}, [], default_info("import"))
    yield store
    store.close()
