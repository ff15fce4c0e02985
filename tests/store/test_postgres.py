"""The PostgreSQL store against a real server the suite starts (tests/pg.py): import and
export byte for byte, the schema's format, secrets never printed, several processes on one
database (library and API), a writer killed inside its transaction, a server restart under
a follower and a mirror, and hostile input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from reconciler import RegistryManager
from reconciler.errors import StalePlan, StoreError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import export_files, import_files, init_database, open_store
from reconciler.store.filestore import default_info
from reconciler.store.pgstore import FORMAT, PostgresStore
from reconciler.store.registry_files import read_live_state, registry_file_names
from tests.conftest import (
    FIXTURE_MANIFESTS,
    FIXTURE_REGISTRIES,
    FULL_REGISTRIES,
    REPO,
    copy_tree,
    eventually,
)
from tests.pg import PgServer
from tests.servers import Server

SCRIPT = REPO / ".venv" / "bin" / "meshctl"
SHARED_FIXTURE = REPO.parent / "shared" / "fixtures" / "agentmesh-registries"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def meshctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={**ENV, **(env or {})})


def agent_template() -> dict[str, Any]:
    live = read_live_state(FIXTURE_REGISTRIES)
    resource = live.state.get(ResourceKey(Kind.AGENT, "severity_agent"))
    assert resource is not None
    return {**resource.entry, "allowed_agents": []}


@pytest.fixture
def imported(pg_url: str) -> str:
    done = meshctl("store", "import", "--store", pg_url, "--from", str(FIXTURE_REGISTRIES))
    assert done.returncode == 0, done.stderr
    return pg_url


# --- the life cycle: init, import, export --------------------------------------------------


@pytest.mark.parametrize("source", [FIXTURE_REGISTRIES, FULL_REGISTRIES, SHARED_FIXTURE],
                         ids=["registries", "full-tree", "shared-fixture"])
def test_export_after_import_gives_the_same_bytes(pg_url: str, tmp_path: Path,
                                                  source: Path) -> None:
    if not source.is_dir():
        pytest.skip(f"{source} is not beside this checkout")
    folder = copy_tree(source, tmp_path / "source")
    done = meshctl("store", "import", "--store", pg_url, "--from", str(folder))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "exported"
    done = meshctl("store", "export", "--store", pg_url, "--to", str(out))
    assert done.returncode == 0, done.stderr
    names = registry_file_names(folder)
    assert registry_file_names(out) == names
    for name in names:
        assert (out / name).read_bytes() == (folder / name).read_bytes(), name


def test_export_after_changes_is_what_the_file_store_would_hold(imported: str,
                                                                tmp_path: Path) -> None:
    """The same change committed to the database and to the files gives the same files
    (but the `last_updated` the commits stamp)."""
    files = copy_tree(FIXTURE_REGISTRIES, tmp_path / "files")
    fraud = ResourceKey(Kind.AGENT, "fraud_agent")
    new = ResourceKey(Kind.AGENT, "added_agent")
    for location in (imported, str(files)):
        store = open_store(location)
        live = store.snapshot()
        entry = live.state.get(fraud)
        assert entry is not None
        store.commit({fraud: {**entry.entry, "description": "changed ü \"q\""},
                      new: {**agent_template(), "agent_id": "added_agent"},
                      ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3"): None},
                     expected=live.fingerprint, info=default_info("test"))
    out = tmp_path / "exported"
    export_files(open_store(imported), out)

    def without_stamp(path: Path) -> Any:
        document = json.loads(path.read_text())
        document.pop("last_updated", None)
        return document

    for name in registry_file_names(files):
        assert without_stamp(out / name) == without_stamp(files / name), name
        assert json.loads((out / name).read_text()) .keys() == json.loads(
            (files / name).read_text()).keys()


def test_the_settings_kinds_commit_to_the_database_as_to_the_files(pg_url: str,
                                                                   tmp_path: Path) -> None:
    """A change to each one-document kind, a list kind and an integration workflow, made
    in the database and in the files, exports to the same bytes (but `last_updated`)."""
    files = copy_tree(FULL_REGISTRIES, tmp_path / "files")
    done = meshctl("store", "import", "--store", pg_url, "--from", str(files))
    assert done.returncode == 0, done.stderr
    system = ResourceKey(Kind.SYSTEM_CONFIG, "default")
    retry = ResourceKey(Kind.INTEGRATION_CONFIG, "default")
    connector = ResourceKey(Kind.CONNECTOR, "guidewire_claims")
    flow = ResourceKey(Kind.INTEGRATION_WORKFLOW, "billing_sync")
    for location in (pg_url, str(files)):
        store = open_store(location)
        live = store.snapshot()
        entries = {key: live.state.get(key) for key in (system, retry, connector, flow)}
        assert all(entries.values()), location
        changed = {key: json.loads(json.dumps(resource.entry))
                   for key, resource in entries.items() if resource is not None}
        changed[system]["llm"]["max_retries"] = 4
        changed[retry]["retry_policies"][0]["max_attempts"] = 4
        changed[connector]["tags"].append("west")
        changed[flow]["sla"]["timeout_ms"] = 9000
        store.commit(changed, expected=live.fingerprint, info=default_info("test"))
    out = tmp_path / "exported"
    export_files(open_store(pg_url), out)
    for name in registry_file_names(files):
        ours = (out / name).read_text().splitlines()
        theirs = (files / name).read_text().splitlines()
        assert [a for a, b in zip(ours, theirs, strict=True) if a != b
                and "last_updated" not in a] == [], name
    tags = json.loads((out / "integration" / "connectors.json").read_text())
    assert tags["connectors"][0]["tags"] == ["claims", "guidewire", "west"]


def test_init_is_idempotent_and_a_newer_schema_is_refused(pg_url: str) -> None:
    assert "up to date" in init_database(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meshctl.schema_format SET format = %s", (FORMAT + 1,))
    done = meshctl("store", "init", "--store", pg_url)
    assert done.returncode == 1 and "newer than this meshctl" in done.stderr
    with pytest.raises(StoreError, match="upgrade meshctl"):
        PostgresStore(pg_url)


def test_an_uninitialised_database_says_what_to_run(pg_server: PgServer) -> None:
    done = meshctl("get", "agents", "--store", pg_server.database())
    assert done.returncode == 1 and "meshctl store init" in done.stderr


def test_import_into_a_store_that_holds_revisions_is_refused(imported: str) -> None:
    done = meshctl("store", "import", "--store", imported, "--from", str(FIXTURE_REGISTRIES))
    assert done.returncode == 1 and "not empty" in done.stderr
    assert PostgresStore(imported).head() == 1


def test_history_of_the_files_comes_along(pg_url: str, tmp_path: Path) -> None:
    files = copy_tree(FIXTURE_REGISTRIES, tmp_path / "files")
    store = open_store(str(files))
    live = store.snapshot()
    store.commit({ResourceKey(Kind.AGENT, "x_agent"): {**agent_template(),
                                                      "agent_id": "x_agent"}},
                 expected=live.fingerprint, info=default_info("cli"))
    revision = import_files(open_store(pg_url), files)
    database = open_store(pg_url)
    assert revision.number == 2 and database.revisions() == [1, 2]
    assert database.revision(1)["source"] == "cli"
    assert database.revision(2)["source"] == "import"


# --- secrets ------------------------------------------------------------------------------


def test_the_password_is_never_printed(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.database()
    secret = "s3cret-Pa55word"
    with_password = url.replace("meshctl_admin@", f"meshctl_admin:{secret}@")
    unreachable = with_password.replace("port=5432", "port=1")
    for args in (("store", "init", "--store", with_password),
                 ("get", "agents", "--store", with_password),
                 ("history", "--store", with_password),
                 ("status", "--store", with_password),
                 ("get", "agents", "--store", unreachable),
                 ("store", "export", "--store", with_password, "--to", str(tmp_path / "o"))):
        done = meshctl(*args)
        assert secret not in done.stdout + done.stderr, args
    assert "***" in meshctl("get", "agents", "--store", unreachable).stderr
    store = open_store(with_password)
    assert secret not in store.location and "***" in store.location


# --- many processes on one database ---------------------------------------------------------


FOLLOWER = """
import sys, json, time
from reconciler import RegistryManager
from reconciler.store import open_store
manager = RegistryManager(store=open_store(sys.argv[1]), watch=True, poll_interval=0.2)
manager.load_all()
print("ready", flush=True)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    agent = manager.get_agent("written_elsewhere")
    if agent is not None:
        print("seen", agent.description, flush=True)
        break
    time.sleep(0.02)
"""


def test_a_write_in_one_process_is_served_by_another(imported: str) -> None:
    follower = subprocess.Popen([sys.executable, "-c", FOLLOWER, imported],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV)
    assert follower.stdout is not None and follower.stdout.readline().strip() == "ready"
    writer = RegistryManager(store=open_store(imported), watch=False)
    writer.load_all()
    writer.create_agent({**agent_template(), "agent_id": "written_elsewhere",
                         "description": "from the other process"})
    out, err = follower.communicate(timeout=60)
    assert out.strip().endswith("seen from the other process"), err


WRITER = """
import sys, json
from reconciler import RegistryManager
from reconciler.store import open_store
url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = json.loads(sys.stdin.readline())
manager = RegistryManager(store=open_store(url), watch=False)
manager.load_all()
print("ready", flush=True)
sys.stdin.readline()
for n in range(count):
    while True:
        try:
            manager.create_agent({**base, "agent_id": f"lib{worker}_{n}"})
            break
        except Exception as error:  # a stale snapshot: reload and try again
            if "stale" not in str(error):
                raise
            manager.load_all()
print("done", flush=True)
"""


def test_eight_writers_through_the_library_and_the_api_lose_nothing(imported: str) -> None:
    """Four library processes and four API clients (on two servers) create 50 agents each
    at once: all 400 are there, in 400 contiguous revisions after the import."""
    count = 50
    base = json.dumps(agent_template())
    servers = [Server(imported), Server(imported)]  # type: ignore[arg-type]
    try:
        workers = [subprocess.Popen([sys.executable, "-c", WRITER, imported, str(w), str(count)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=ENV)
                   for w in range(4)]
        for worker in workers:
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(base + "\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "ready"
        failures: list[str] = []

        def through_api(number: int) -> None:
            with servers[number % 2].client() as api:
                for n in range(count):
                    entry = {**json.loads(base), "agent_id": f"api{number}_{n}"}
                    for _ in range(20):
                        answer = api.post("/registries/agents", json=entry)
                        if answer.status_code != 409:
                            break
                    if answer.status_code != 201:
                        failures.append(answer.text)

        clients = [threading.Thread(target=through_api, args=(n,)) for n in range(4)]
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for client in clients:
            client.start()
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err
        for client in clients:
            client.join(timeout=300)
        assert failures == []
    finally:
        for server in servers:
            server.stop()
    store = PostgresStore(imported)
    names = {r.name for r in store.snapshot().state.of_kind(Kind.AGENT).values()}
    wanted = {f"{way}{w}_{n}" for way in ("lib", "api") for w in range(4) for n in range(count)}
    assert wanted <= names
    assert store.revisions() == list(range(1, 2 + 8 * count))


def test_every_server_streams_writes_made_through_another(imported: str) -> None:
    first, second = Server(imported), Server(imported)  # type: ignore[arg-type]
    seen: list[str] = []
    try:
        def listen() -> None:
            with httpx.stream("GET", f"{second.url}/registries/events", timeout=30) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:") and "through_first" in line:
                        seen.append(line)
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.5)
        with first.client() as api:
            created = api.post("/registries/agents", json={**agent_template(),
                                                           "agent_id": "through_first"})
            assert created.status_code == 201, created.text
        listener.join(timeout=20)
        assert seen, "the second server did not stream the first one's write"
        with second.client() as api:  # ETag and If-Match hold across servers
            got = api.get("/registries/agents/through_first")
            stale = api.put("/registries/agents/through_first",
                            json={**got.json(), "description": "x"},
                            headers={"If-Match": '"0"'})
            assert stale.status_code == 412
            fresh = api.put("/registries/agents/through_first",
                            json={**got.json(), "description": "y"},
                            headers={"If-Match": got.headers["etag"]})
            assert fresh.status_code == 200, fresh.text
    finally:
        first.stop()
        second.stop()


# --- crashes and restarts ---------------------------------------------------------------------


KILLED_WRITER = """
import sys, time
from reconciler.store import open_store
from reconciler.store.filestore import default_info
from reconciler.store import pgstore
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
original = pgstore.PostgresStore._touch_headers
def stall(conn, touched, now):
    original(conn, touched, now)
    print("inside", flush=True)
    time.sleep(60)
pgstore.PostgresStore._touch_headers = staticmethod(stall)
store = open_store(sys.argv[1])
live = store.snapshot()
store.commit({ResourceKey(Kind.TOOL, "half_written"): {"tool_id": "half_written"},
              ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3"): None},
             expected=live.fingerprint, info=default_info("doomed"))
"""


def test_a_writer_killed_inside_its_transaction_leaves_nothing(imported: str) -> None:
    before = PostgresStore(imported).snapshot()
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, imported],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "inside"
    os.kill(writer.pid, signal.SIGKILL)
    writer.communicate(timeout=30)
    store = PostgresStore(imported)
    assert eventually(lambda: _commit_possible(store), 30)  # the dead writer's lock is gone
    after = store.snapshot()
    assert ResourceKey(Kind.TOOL, "half_written") not in after.state
    assert ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3") not in after.state  # mine
    assert {r.key for r in after.state} | {ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3")} \
        == {r.key for r in before.state}
    assert store.revisions() == [1, 2]
    assert all(line["source"] != "doomed" for line in store.audit_log())


def _commit_possible(store: PostgresStore) -> bool:
    live = store.snapshot()
    try:
        store.commit({ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3"): None},
                     expected=live.fingerprint, info=default_info("after-kill"))
    except StoreError:
        return False
    return True


def test_a_server_restart_loses_no_revision_for_a_follower_or_a_mirror(
        pg_server: PgServer, imported: str, tmp_path: Path) -> None:
    folder = tmp_path / "mirrored"
    mirror = subprocess.Popen([str(SCRIPT), "mirror", "--store", imported, "--to", str(folder),
                               "--poll", "0.5"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    follower = RegistryManager(store=PostgresStore(imported), watch=True, poll_interval=0.2)
    follower.load_all()
    try:
        assert eventually(lambda: (folder / "agent_registry.json").exists())
        writer = PostgresStore(imported)

        def create(name: str) -> None:
            for _ in range(100):
                try:
                    live = writer.snapshot()
                    writer.commit({ResourceKey(Kind.AGENT, name): {**agent_template(),
                                                                  "agent_id": name}},
                                  expected=live.fingerprint, info=default_info("test"))
                    return
                except StoreError:
                    time.sleep(0.1)  # the server is coming back
            raise AssertionError(f"could not create {name}")

        create("before_restart")
        pg_server.restart()
        create("after_restart")
        for name in ("before_restart", "after_restart"):
            assert eventually(lambda name=name: follower.get_agent(name) is not None), \
                f"the follower missed {name}"
            assert eventually(lambda name=name: name in (folder / "agent_registry.json")
                              .read_text()), f"the mirror missed {name}"
        assert follower.stats()["fingerprint"] == writer.snapshot().fingerprint
    finally:
        mirror.send_signal(signal.SIGTERM)
        out, err = mirror.communicate(timeout=30)
    assert mirror.returncode == 0, err
    assert "mirrored revision" in err
    mirrored = read_live_state(folder)
    assert {r.key for r in mirrored.state} == {r.key for r in writer.snapshot().state}


# --- hostile input ----------------------------------------------------------------------------


def test_hostile_entries_go_through_parameters_only(imported: str) -> None:
    store = PostgresStore(imported)
    nasty = "'; DROP TABLE meshctl.entries; -- \\ \" \u0000 \U0001f600"
    key = ResourceKey(Kind.TOOL, "o_reilly_tool")
    entry = {"tool_id": "o_reilly_tool", "description": nasty, "blob": "x" * (1 << 20),
             nasty: [nasty, {"k\\": nasty}]}
    live = store.snapshot()
    store.commit({key: entry}, expected=live.fingerprint, info=default_info(nasty))
    again = PostgresStore(imported).snapshot().state.get(key)
    assert again is not None and again.entry == entry and list(again.entry) == list(entry)
    assert store.revision(store.head())["source"] == nasty
    assert len(store.snapshot().state.of_kind(Kind.AGENT)) == 7  # the table is still there


# --- controller replicas: one leads, a deposed leader cannot commit --------------------------


def test_a_standby_controller_takes_over_within_seconds_of_the_leader_dying(
        imported: str, tmp_path: Path) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    logs: list[Any] = []

    def controller(name: str) -> subprocess.Popen[str]:
        logs.append(open(tmp_path / f"{name}.log", "w"))  # noqa: SIM115 (closed below)
        return subprocess.Popen([str(SCRIPT), "watch", str(manifests), "--store", imported,
                                 "--interval", "60", "--debounce-ms", "50"],
                                stdout=subprocess.DEVNULL, stderr=logs[-1], text=True, env=ENV)

    def log_of(name: str) -> str:
        return (tmp_path / f"{name}.log").read_text()

    first = controller("first")
    assert eventually(lambda: "leading on" in log_of("first") or "in sync" in log_of("first"))
    second = controller("second")
    try:
        assert eventually(lambda: "standing by" in log_of("second"))
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        died = time.monotonic()
        assert eventually(lambda: "leading on" in log_of("second"), 10)
        assert time.monotonic() - died < 10
        agent = manifests / "agents" / "fraud_agent.yaml"
        agent.write_text(agent.read_text().replace("max_iterations: 5", "max_iterations: 6"))
        store = PostgresStore(imported)
        assert eventually(lambda: store.snapshot().state.get(ResourceKey(
            Kind.AGENT, "fraud_agent")).entry["max_iterations"] == 6, 20)  # type: ignore[union-attr]
        assert store.revision(store.head())["source"] == "watch"
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
        for handle in logs:
            handle.close()


def test_a_deposed_leader_s_late_commit_is_refused(imported: str) -> None:
    store, other = PostgresStore(imported), PostgresStore(imported)
    lost: list[bool] = []
    old = store.lead("watch", on_lost=lambda: lost.append(True))
    assert old is not None and other.lead("watch") is None  # one leader at a time
    with psycopg.connect(imported, autocommit=True) as admin:  # the leader is cut off
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'meshctl-leader:watch'")
    assert eventually(lambda: old.lost.is_set(), 10) and lost == [True]
    new = other.lead("watch")
    assert new is not None and new.epoch is not None and old.epoch is not None
    assert new.epoch > old.epoch
    live = store.snapshot()
    late = {ResourceKey(Kind.TOOL, "late_tool"): {"tool_id": "late_tool"}}
    with pytest.raises(StalePlan, match="no longer the leader"):
        store.commit(late, expected=live.fingerprint, info=default_info("watch"),
                     epoch=old.epoch)
    assert ResourceKey(Kind.TOOL, "late_tool") not in store.snapshot().state
    store.commit(late, expected=live.fingerprint, info=default_info("watch"), epoch=new.epoch)
    new.release()


def test_a_mirror_puts_right_a_hand_edit_of_its_folder(imported: str, tmp_path: Path) -> None:
    from reconciler.store import Mirror

    folder = tmp_path / "mirrored"
    mirror = Mirror(open_store(imported), folder)
    first = mirror.sync()
    assert first.revision == 1 and (folder / "agent_registry.json").exists()
    assert mirror.sync().changed == 0  # nothing new: nothing written
    agents = folder / "agent_registry.json"
    document = json.loads(agents.read_text())
    document["agents"][0]["description"] = "edited by hand"
    agents.write_text(json.dumps(document, indent=2))
    again = mirror.sync()
    assert again.changed == 1
    assert "edited by hand" not in agents.read_text()
    store = PostgresStore(imported)
    live = store.snapshot()
    store.commit({ResourceKey(Kind.TOOL, "mirrored_tool"): {"tool_id": "mirrored_tool"}},
                 expected=live.fingerprint, info=default_info("test"))
    done = mirror.sync()
    assert done.revision == 2 and done.changed == 1
    assert "mirrored_tool" in (folder / "tool_registry.json").read_text()
    assert not (folder / ".meshctl" / "journal").exists()


def test_a_read_only_role_serves_a_runtime_and_cannot_write(imported: str) -> None:
    """What docs/scale-out.md gives a runtime: SELECT on the schema. It loads and follows;
    a write is refused by the database, and says so."""
    with psycopg.connect(imported, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS mesh_reader")
        admin.execute("CREATE ROLE mesh_reader LOGIN")
        admin.execute("GRANT USAGE ON SCHEMA meshctl TO mesh_reader")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA meshctl TO mesh_reader")
    reader_url = imported.replace("meshctl_admin@", "mesh_reader@")
    runtime = RegistryManager(reader_url, watch=True, poll_interval=0.2)
    runtime.load_all()
    assert runtime.get_agent("fraud_agent") is not None
    writer = RegistryManager(store=PostgresStore(imported), watch=False)
    writer.load_all()
    writer.create_agent({**agent_template(), "agent_id": "seen_by_reader"})
    assert eventually(lambda: runtime.get_agent("seen_by_reader") is not None)
    with pytest.raises(StoreError, match="permission denied"):
        runtime.create_agent({**agent_template(), "agent_id": "not_allowed"})
    assert ResourceKey(Kind.AGENT, "not_allowed") not in PostgresStore(imported).snapshot().state


def test_every_command_takes_the_database_url(imported: str, tmp_path: Path) -> None:
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    agent = manifests / "agents" / "fraud_agent.yaml"
    agent.write_text(agent.read_text().replace("max_iterations: 5", "max_iterations: 7"))
    runs = {
        "get": meshctl("get", "agents", "--store", imported, "-o", "json"),
        "describe": meshctl("describe", "agent", "fraud_agent", "--store", imported),
        "plan": meshctl("plan", str(manifests), "--store", imported, "--detailed-exitcode"),
        "diff": meshctl("diff", str(manifests), "--store", imported),
        "apply": meshctl("apply", str(manifests), "--store", imported, "--auto-approve"),
        "history": meshctl("history", "--store", imported, "-o", "json"),
        "export": meshctl("export", "--store", imported, "--out", str(tmp_path / "out")),
        "rollback": meshctl("rollback", "1", "--store", imported, "--auto-approve"),
    }
    codes = {name: done.returncode for name, done in runs.items()}
    assert codes == {"get": 0, "describe": 0, "plan": 2, "diff": 1, "apply": 0, "history": 0,
                     "export": 0, "rollback": 0}, {n: d.stderr for n, d in runs.items()}
    assert "fraud_agent" in runs["get"].stdout and "max_iterations" in runs["diff"].stdout
    assert [r["revision"] for r in json.loads(runs["history"].stdout)] == [1, 2]
    assert (tmp_path / "out" / "agents" / "fraud_agent.yaml").exists()
    store = PostgresStore(imported)
    assert store.head() == 3 and store.revision(3)["source"] == "cli"
    fraud = store.snapshot().state.get(ResourceKey(Kind.AGENT, "fraud_agent"))
    assert fraud is not None and fraud.entry["max_iterations"] == 5  # rolled back
    status = meshctl("status", "--store", imported)
    assert status.returncode == 1 and "no watch controller" in status.stderr
