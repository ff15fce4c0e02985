"""A bounded soak: the server (with the watch controller in it), `meshctl apply` processes,
a manifest editor and readers, all on one set of registries for a fixed time; then the
invariants. 20 s by default (CI); MESHCTL_SOAK_SECONDS=600 for a long run.

Each writer owns its resources, so the final state is known: REST writers their `rest_*`
agents (every acknowledged write must be there), the CLI its `cli_*` agents (applied with
--no-prune from a folder of their own), the watch controller the example manifests, whose
`fraud_agent` the editor keeps changing. Afterwards: no 500, no torn file, a history that
chains from revision 1 to the files' fingerprint, an audit line for every revision."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.model.kinds import Kind
from reconciler.store import history
from reconciler.store.registry_files import read_live_state
from tests.conftest import agent, write
from tests.library.test_following import eventually
from tests.servers import Server
from tests.watch.test_controller import set_field

SCRIPT = Path(sys.executable).parent / "meshctl"
SECONDS = float(os.environ.get("MESHCTL_SOAK_SECONDS", "20"))
REST_WRITERS = 3


def rest_writer(url: str, worker: int, until: float, acked: dict[str, int | None],
                problems: list[str], writes: list[int]) -> None:
    rng = random.Random(worker)
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < until:
            name = f"rest_{worker}_{rng.randrange(6)}"
            value = rng.randint(1, 50)
            body = {"agent_id": name, "name": name, "description": "soak",
                    "capabilities": ["soak"], "output_schema": {"type": "object"},
                    "model_profile_id": "default_gpt35", "max_iterations": value}
            outcome: int | None = value
            if acked.get(name) is None:  # absent (never made, or deleted): create it
                answer = client.post("/registries/agents", json=body)
                wanted = 201
            elif rng.random() < 0.25:
                answer = client.delete(f"/registries/agents/{name}")
                outcome, wanted = None, 200
            else:
                answer = client.put(f"/registries/agents/{name}", json=body)
                wanted = 200
            if answer.status_code >= 500:
                problems.append(f"{answer.status_code} {answer.text}")
            elif answer.status_code == 503:
                continue  # busy: not acknowledged, nothing to check
            elif answer.status_code == wanted:
                acked[name] = outcome
                writes[worker] += 1
            else:
                problems.append(f"unexpected {answer.status_code}: {answer.text}")


def cli_applier(registries: Path, folder: Path, until: float, applied: dict[str, int],
                problems: list[str]) -> None:
    rng = random.Random(99)
    round_number = 0
    # Under CPU load every apply may lose its race with the REST writers (a stale plan,
    # retried, then given up): it goes on once they stop, until one apply has gone through.
    while time.monotonic() < until or (not applied and time.monotonic() < until + 120):
        round_number += 1
        values = {f"cli_{i}": rng.randint(1, 50) for i in range(3)}
        for name, value in values.items():
            write(folder / f"{name}.yaml", agent(name, f"max_iterations: {value}"))
        done = subprocess.run([str(SCRIPT), "apply", "--auto-approve", "--no-prune",
                               "--registries", str(registries), str(folder)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            applied.update(values)
        elif "stale plan" not in done.stderr and "gave up" not in done.stderr:
            problems.append(f"apply: {done.stderr.strip()}")


def editor(manifests: Path, until: float, last: list[int]) -> None:
    path = manifests / "agents" / "fraud_agent.yaml"
    value = 5
    while time.monotonic() < until:
        value = value % 50 + 1
        set_field(path, "max_iterations", str(value))
        last[0] = value
        time.sleep(0.7)


def reader(url: str, until: float, problems: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < until:
            for path in ("/registries/agents", "/registries/graph", "/registries/history",
                         "/registries/watch/status"):
                answer = client.get(path)
                if answer.status_code != 200:
                    problems.append(f"GET {path}: {answer.status_code}")


@pytest.mark.soak
def test_soak(registries: Path, manifests: Path, tmp_path: Path) -> None:
    server = Server(registries, "--manifests", str(manifests), "--watch",
                    "--debounce-ms", "50")
    problems: list[str] = []
    acked: list[dict[str, int | None]] = [{} for _ in range(REST_WRITERS)]
    writes = [0] * REST_WRITERS
    applied: dict[str, int] = {}
    last_edit = [5]
    try:
        assert eventually(lambda: httpx.get(f"{server.url}/registries/watch/status").json()
                          .get("last_sync") is not None)
        until = time.monotonic() + SECONDS
        threads = [threading.Thread(target=rest_writer,
                                    args=(server.url, w, until, acked[w], problems, writes))
                   for w in range(REST_WRITERS)]
        threads += [threading.Thread(target=cli_applier,
                                     args=(registries, tmp_path / "cli", until, applied,
                                           problems)),
                    threading.Thread(target=editor, args=(manifests, until, last_edit)),
                    threading.Thread(target=reader, args=(server.url, until, problems)),
                    threading.Thread(target=reader, args=(server.url, until, problems))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 300)
        # the controller catches up with the last edit
        caught_up = eventually(lambda: _live(registries, "fraud_agent") == last_edit[0], 30)
        status = httpx.get(f"{server.url}/registries/watch/status").json()
    finally:
        log = server.stop()
    assert caught_up, (f"the controller did not apply the last edit "
                       f"({last_edit[0]}, live {_live(registries, 'fraud_agent')}); "
                       f"status {status}; log tail {log[-3000:]}")
    assert problems == []
    assert "Traceback" not in log and " 500 " not in log
    live = read_live_state(registries)
    assert live.diagnostics == []  # no torn or invalid file
    agents = live.state.of_kind(Kind.AGENT)
    for owned in acked:  # every acknowledged REST write is there
        for name, value in owned.items():
            if value is None:
                assert name not in agents
            else:
                assert agents[name].entry["max_iterations"] == value, name
    for name, value in applied.items():  # the last successful apply of each cli agent
        assert agents[name].entry["max_iterations"] == value
    assert sum(len(owned) for owned in acked) > 0 and applied
    revisions = _history_chains(registries, live.fingerprint)
    summary = {"seconds": SECONDS, "revisions": revisions,
               "rest_writes_acknowledged": sum(writes), "cli_applies": revisions.get("cli", 0),
               "problems": problems}
    out = Path(__file__).resolve().parents[1] / "output"
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_text(json.dumps(summary, indent=2))


def _live(registries: Path, name: str) -> Any:
    resource = read_live_state(registries).state.of_kind(Kind.AGENT).get(name)
    return resource.entry.get("max_iterations") if resource else None


def _history_chains(registries: Path, fingerprint: str) -> dict[str, int]:
    """Check the history; how many revisions each source made."""
    meta = registries / ".meshctl"
    numbers = history.numbers(meta)
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 10
    previous = None
    for number in numbers:
        record = history.load(meta, number)
        if previous is not None:
            assert record["fingerprint_before"] == previous["fingerprint_after"], number
        previous = record
    assert previous is not None and previous["fingerprint_after"] == fingerprint
    audited = {json.loads(line).get("revision") for line in
               (meta / "audit.jsonl").read_text().splitlines()
               if json.loads(line).get("result") == "ok"}
    assert set(numbers) <= audited
    by_source: dict[str, int] = {}
    for number in numbers:
        source = history.load(meta, number)["source"]
        by_source[source] = by_source.get(source, 0) + 1
    assert {"api", "cli", "watch"} <= set(by_source)
    return by_source
