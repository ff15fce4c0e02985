"""The listening sockets of `meshctl serve`, bound before anything else starts.

uvicorn binds only after the application has started (the registries loaded, the watch
controller running), and on failure logs its own error and exits 3, outside meshctl's exit
codes. Binding here first turns a busy port or a wrong address into exit 1 with a sentence
saying what to pass, before any work is done; uvicorn then serves on these sockets.
"""

from __future__ import annotations

import errno
import socket

from reconciler.errors import UsageError


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (`localhost`: IPv4 and
    IPv6), as uvicorn's own bind would make them; a UsageError saying why when one cannot
    be had (no socket is left open then)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"cannot listen on {host}: {error.strerror}; pass --host with "
                         "an address of this machine") from None
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in found))
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            # IPPROTO_TCP named, not left 0: asyncio turns Nagle off (TCP_NODELAY) only on
            # connections of a socket that says it is TCP; without it each answer on a
            # kept-alive connection waited 40 ms for the client's delayed ACK.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio does: IPv6 alone, IPv4 has its own
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], port, *address[2:]))
            except OSError as error:
                raise _refusal(host, port, error) from None
            sock.listen(2048)  # uvicorn's default backlog
            sock.set_inheritable(True)
            if port == 0:  # the OS chose: every address gets the same one
                port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _refusal(host: str, port: int, error: OSError) -> UsageError:
    if error.errno == errno.EADDRINUSE:
        return UsageError(f"port {port} is in use; pass --port with a free one "
                          f"(another program listens on {host}:{port})")
    if error.errno == errno.EADDRNOTAVAIL:
        return UsageError(f"cannot listen on {host}: it is not an address of this machine; "
                          "pass --host with one that is (127.0.0.1 by default)")
    if error.errno == errno.EACCES:
        return UsageError(f"cannot listen on port {port}: permission denied (ports below "
                          "1024 need privileges); pass --port with a higher one")
    return UsageError(f"cannot listen on {host}:{port}: {error.strerror}; pass --host or "
                      "--port")


def url(sockets: list[socket.socket]) -> str:
    """Where the first socket listens, as a URL a browser takes."""
    address = sockets[0].getsockname()
    host = f"[{address[0]}]" if sockets[0].family == socket.AF_INET6 else address[0]
    return f"http://{host}:{address[1]}"
