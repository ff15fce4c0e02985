"""`meshctl serve` answers at once on a kept-alive connection (issue 26: an API write in
a few milliseconds). It binds its own sockets before uvicorn starts (`cli/listen.py`);
asyncio turns Nagle's algorithm off (TCP_NODELAY) only for connections of a socket that
says it is TCP, and without that every answer after the first on a connection waited for
the client's delayed ACK: 40 ms, whatever the request."""

from __future__ import annotations

import socket
import statistics
import time
from pathlib import Path

import pytest

from reconciler.cli import listen
from tests.servers import Server

pytestmark = pytest.mark.slow


def test_the_listening_sockets_say_they_are_tcp() -> None:
    sockets = listen.bind("127.0.0.1", 0)
    try:
        assert [sock.proto for sock in sockets] == [socket.IPPROTO_TCP]
        server = sockets[0]
        with socket.create_connection(server.getsockname()[:2]):
            accepted, _ = server.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP  # what asyncio checks
    finally:
        for sock in sockets:
            sock.close()


def test_requests_on_one_connection_wait_for_no_delayed_ack(registries: Path) -> None:
    server = Server(registries)
    try:
        with server.client() as api:
            times = []
            for _ in range(10):
                started = time.perf_counter()
                assert api.get("/health").status_code == 200
                times.append(time.perf_counter() - started)
        assert statistics.median(times) < 0.03, times  # each waited >= 40 ms
    finally:
        server.stop()
