"""A real `meshctl serve` in its own process on a free port, for the API and panel tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SCRIPT = Path(sys.executable).parent / "meshctl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """`meshctl serve --registries REGISTRIES --port P EXTRA...`, run in `cwd` (default:
    the tests' own); without `registries` the store is left to the options (`--env`)."""

    def __init__(self, registries: Path | None, *extra: str, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115
        store = ["--registries", str(registries)] if registries is not None else []
        self.process = subprocess.Popen(  # the log goes to a file: a full pipe would block it
            [str(SCRIPT), "serve", *store, "--port", str(self.port), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})}, cwd=cwd)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.stop()}")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> str:
        """Stop the server (once); its log."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if not self.log.closed:
            self.log.seek(0)
            self.output = self.log.read()
            self.log.close()
        return self.output
