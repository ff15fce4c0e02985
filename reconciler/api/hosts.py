"""Which `Host` and `Origin` a request may carry: the guard against DNS rebinding and
cross-site writes, run before every route of `create_app()`.

A web page the operator opens can make their browser call `meshctl serve` in two ways that
neither a token-less loopback server nor CORS stops. DNS rebinding: the page's own name is
made to point at 127.0.0.1, so to the browser the API is the page's own origin, and the
request arrives with `Host: evil.example`. A cross-site write: a plain form POST to
127.0.0.1 (a rollback, a reload) carries `Origin: http://evil.example`. So, as Jupyter and
Docker Desktop do, the server answers only Host names that mean itself (400 otherwise), and
refuses a write whose Origin is another site than the one the request is addressed to (403),
unless it is a `--cors-origin`. (Starlette's TrustedHostMiddleware does the first half only,
answers without a reason, and reads `[::1]:8016` as the host `[`.)
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.errors import UsageError

ALLOWED_HOSTS_ENV = "MESHCTL_ALLOWED_HOSTS"  # "name,name" (or separated by spaces)
ANY = "*"  # as an allowed host: no Host check at all (behind a proxy that checks it)
LOOPBACK_NAMES = frozenset({"localhost"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))"
                   r"(?::(?P<port>[0-9]{1,5}))?$")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The Host names and Origins the server answers. `listen` is where it listens (the
    `--host` value); `names` the `--allowed-host` names."""

    names: frozenset[str]
    addresses: frozenset[Address]
    any_address: bool  # listening on 0.0.0.0 or ::: every address of the machine
    any_host: bool  # "*" given: the Host check is off
    origins: frozenset[str]  # --cors-origin values, which may write from their pages

    @classmethod
    def serving(cls, listen: str, allowed: Iterable[str] = (),
                cors_origins: Iterable[str] = ()) -> HostPolicy:
        """The policy of a server listening on `listen`: loopback names and addresses,
        `listen` itself, and `allowed` (names, addresses or "*")."""
        given = parse_allowed(allowed)
        names, addresses = set(LOOPBACK_NAMES), set()
        any_address = False
        for host in (listen, *given):
            address = _address(host)
            if address is None:
                names.add(_name(host))
            elif address.is_unspecified:
                any_address = True
            else:
                addresses.add(address)
        return cls(frozenset(names - {ANY}), frozenset(addresses), any_address,
                   ANY in given, frozenset(o.rstrip("/") for o in cors_origins))

    def host_problem(self, host: str | None) -> str | None:
        """Why a request with this Host header is refused; None when it is answered."""
        if self.any_host:
            return None
        if not host:
            return "the request has no Host header; this server answers only requests " \
                   "addressed to it by name"
        parsed = _split_host(host)
        if parsed is None:
            return f"the Host header {host[:100]!r} is not a host name"
        name, _ = parsed
        address = _address(name)
        if address is None:
            allowed = name in self.names
        else:
            allowed = address.is_loopback or address in self.addresses or self.any_address
        if allowed:
            return None
        return (f"the Host header names {name[:100]!r}, which is not a name of this server "
                "(a page using DNS rebinding sends such requests); if it is one, start "
                f"meshctl serve with --allowed-host {name[:100]}")

    def origin_problem(self, origin: str | None, host: str) -> str | None:
        """Why a write from a page of `origin` to a server addressed as `host` is refused;
        None when it may write (no Origin at all: not a browser's cross-site request)."""
        if origin is None or ANY in self.origins or origin.rstrip("/") in self.origins:
            return None
        target = _split_host(host)
        page = _split_origin(origin)
        if page is not None and target is not None:
            scheme, name, port = page
            if (name, port) == (target[0], target[1] or DEFAULT_PORTS[scheme]):
                return None  # the server's own page (the panel, /docs)
        return (f"a write from the page of {origin[:100]!r} is refused: that page is not "
                "this server's; to let it call the API, start meshctl serve with "
                f"--cors-origin {origin[:100]}")


def parse_allowed(values: Iterable[str]) -> tuple[str, ...]:
    """The `--allowed-host` values (each may list several, comma- or space-separated, as
    $MESHCTL_ALLOWED_HOSTS does): names, addresses or "*"; a UsageError for anything else
    (a URL, a port)."""
    found: list[str] = []
    for value in values:
        for item in re.split(r"[,\s]+", value.strip()):
            if not item:
                continue
            if item != ANY and _address(item) is None and not re.fullmatch(
                    r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?\.?", item):
                raise UsageError(f"--allowed-host {item!r}: give a host name or address "
                                 "only (no scheme, port or path), or * for any")
            found.append(item)
    return tuple(found)


class HostGuard:
    """ASGI middleware: a Host the policy refuses gets 400, a write from another site's
    page 403, each with the reason as `detail`, before any route runs."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan (the API has no websockets)
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers") or []}
        host = headers.get(b"host", b"").decode("latin-1")
        problem = self.policy.host_problem(host)
        status = 400
        if problem is None and scope.get("method", "GET") not in SAFE_METHODS:
            origin = headers.get(b"origin")
            problem = self.policy.origin_problem(
                origin.decode("latin-1") if origin is not None else None, host)
            status = 403
        if problem is None:
            await self.app(scope, receive, send)
            return
        await _refuse(send, status, problem)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _name(host: str) -> str:
    return host.lower().rstrip(".")


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _split_host(host: str) -> tuple[str, int | None] | None:
    """(name or address, port) of a Host header; None when it is not one."""
    match = _HOST.match(host.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    if match["v6"] is not None:
        address = _address(match["v6"])
        return (str(address), port) if address is not None else None
    name = _name(match["name"])
    address = _address(name)
    return (str(address) if address is not None else name), port


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin header; None for `null` or anything else."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = _split_host(f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname)
    if host is None:
        return None
    return parts.scheme, host[0], port or DEFAULT_PORTS[parts.scheme]
