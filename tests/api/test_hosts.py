"""The Host and Origin policy of `meshctl serve` (reconciler/api/hosts.py) case by case:
which Host headers a server listening on an address answers, which pages may write, and
which `--allowed-host` values are refused. The real server's behaviour is in
test_rebinding.py."""

from __future__ import annotations

import pytest

from reconciler.api.hosts import HostPolicy, parse_allowed
from reconciler.errors import UsageError

HOSTS: list[tuple[str, tuple[str, ...], str, bool]] = [
    # listen, --allowed-host, Host header, answered?
    ("127.0.0.1", (), "127.0.0.1:8016", True),
    ("127.0.0.1", (), "localhost:8016", True),
    ("127.0.0.1", (), "LOCALHOST.", True),
    ("127.0.0.1", (), "[::1]:8016", True),
    ("127.0.0.1", (), "127.0.0.2", True),  # all of 127/8 is this machine
    ("127.0.0.1", (), "evil.example:8016", False),
    ("127.0.0.1", (), "localhost.evil.example", False),
    ("127.0.0.1", (), "evil.example@localhost", False),
    ("127.0.0.1", (), "10.0.0.5:8016", False),  # not where it listens
    ("127.0.0.1", (), "", False),
    ("127.0.0.1", (), "[::1", False),
    ("127.0.0.1", (), "localhost:99999x", False),
    ("127.0.0.1", ("mesh.example",), "MESH.example:8016", True),
    ("127.0.0.1", ("mesh.example",), "other.example", False),
    ("127.0.0.1", ("a.example,b.example",), "b.example", True),
    ("127.0.0.1", ("*",), "evil.example", True),
    ("10.1.2.3", (), "10.1.2.3:8016", True),
    ("10.1.2.3", (), "10.1.2.4:8016", False),
    ("meshhost", (), "meshhost:8016", True),
    ("0.0.0.0", (), "192.168.7.7:8016", True),  # every address, none of them rebindable
    ("0.0.0.0", (), "[fe80::1]:8016", True),
    ("0.0.0.0", (), "myhost.lan:8016", False),  # a name must be listed
    ("0.0.0.0", ("myhost.lan",), "myhost.lan:8016", True),
    ("::", (), "[2001:db8::1]:8016", True),
]


@pytest.mark.parametrize(("listen", "allowed", "host", "answered"), HOSTS,
                         ids=[f"{c[0]}-{'+'.join(c[1]) or 'none'}-{c[2]}" for c in HOSTS])
def test_which_host_headers_are_answered(listen: str, allowed: tuple[str, ...], host: str,
                                         answered: bool) -> None:
    problem = HostPolicy.serving(listen, allowed).host_problem(host)
    assert (problem is None) is answered, problem
    if not answered and host.startswith("evil.example:"):
        assert "--allowed-host evil.example" in str(problem)


ORIGINS: list[tuple[tuple[str, ...], str | None, str, bool]] = [
    # --cors-origin, Origin header, Host header, may write?
    ((), None, "127.0.0.1:8016", True),  # curl, scripts: no Origin
    ((), "http://127.0.0.1:8016", "127.0.0.1:8016", True),  # the panel
    ((), "http://localhost:8016", "localhost:8016", True),
    ((), "http://[::1]:8016", "[::1]:8016", True),
    ((), "https://mesh.example", "mesh.example", True),  # behind a TLS proxy
    ((), "http://mesh.example", "mesh.example:80", True),
    ((), "http://evil.example", "127.0.0.1:8016", False),
    ((), "http://127.0.0.1:3000", "127.0.0.1:8016", False),  # another port, another site
    ((), "http://localhost:8016", "127.0.0.1:8016", False),
    ((), "null", "127.0.0.1:8016", False),  # a sandboxed frame, a file
    ((), "http://127.0.0.1:8016/x", "127.0.0.1:8016", False),
    (("http://app.example",), "http://app.example", "127.0.0.1:8016", True),
    (("http://app.example",), "http://evil.example", "127.0.0.1:8016", False),
    (("*",), "http://evil.example", "127.0.0.1:8016", True),
]


@pytest.mark.parametrize(("cors", "origin", "host", "writes"), ORIGINS,
                         ids=[f"{c[1]}->{c[2]}" for c in ORIGINS])
def test_which_pages_may_write(cors: tuple[str, ...], origin: str | None, host: str,
                               writes: bool) -> None:
    policy = HostPolicy.serving("127.0.0.1", ("*",), cors)
    problem = policy.origin_problem(origin, host)
    assert (problem is None) is writes, problem
    if not writes:
        assert f"--cors-origin {origin}" in str(problem)


@pytest.mark.parametrize("value", ["http://mesh.example", "mesh.example:8016",
                                   "mesh.example/x", "-bad", "a b,c/d"])
def test_an_allowed_host_that_is_not_a_host_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="give a host name or address only"):
        parse_allowed([value])


def test_allowed_hosts_split_on_commas_and_spaces() -> None:
    assert parse_allowed(["a.example, b.example", "c.example d.example", "::1", "*"]) == (
        "a.example", "b.example", "c.example", "d.example", "::1", "*")
