"""`meshctl serve`'s exit codes as a real process: where it cannot listen (a port another
process holds, an address this machine does not have) the documented 1 with a sentence that
says what to change, never uvicorn's own exit code or log; stopped by a signal, 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually
from tests.servers import SCRIPT, free_port

pytestmark = pytest.mark.slow


def serve(registries: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), "serve", "--registries", str(registries), *extra],
                          capture_output=True, text=True, timeout=60)


def test_a_busy_port_exits_1_and_says_to_pass_port(registries: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = serve(registries, "--port", str(port))
    assert done.returncode == 1, done
    assert f"port {port} is in use; pass --port" in done.stderr
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr


def test_an_address_this_machine_lacks_exits_1(registries: Path) -> None:
    done = serve(registries, "--host", "192.0.2.1", "--port", str(free_port()),
                 "--insecure")  # TEST-NET-1: never an address of this machine
    assert done.returncode == 1, done
    assert "cannot listen on 192.0.2.1" in done.stderr and "--host" in done.stderr
    assert "Traceback" not in done.stderr


# SIGINT as a terminal sends it: a background job (CI's, this shell's) may start with SIGINT
# ignored, which the child would inherit; reset it, then become meshctl.
DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopped_by_a_signal_it_exits_0(registries: Path, stop: signal.Signals) -> None:
    port = free_port()
    with subprocess.Popen(
            [sys.executable, "-c", DEFAULT_SIGINT, str(SCRIPT), "serve", "--registries",
             str(registries), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            assert eventually(lambda: answers(f"http://127.0.0.1:{port}/health"), 30)
            process.send_signal(stop)
            output = process.communicate(timeout=30)[0]
        finally:
            process.kill()
    assert process.returncode == 0, output
    assert "Application shutdown complete" in output and "Aborted" not in output


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
