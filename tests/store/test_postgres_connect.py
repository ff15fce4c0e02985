"""A store that cannot be opened says why, through the real CLI (issue 23): a permanent
failure (no such database, no such role, a wrong password, a URL that is not one) at once,
after one attempt, with the server's reason and exit 1; a server that does not answer
(nothing on the port or the socket) is tried again, bounded, and the message says where and
how often. The password never appears."""

from __future__ import annotations

import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.pg import PgServer
from tests.store.pgcli import meshctl

SECRET = "s3cret-Pa55word"
ROLE = "meshctl_pw"


def with_password(url: str, user: str, password: str = SECRET) -> str:
    return url.replace("meshctl_admin@", f"{user}:{quote(password, safe='')}@")


def attempts_logged(server: PgServer, needle: str) -> int:
    return server.log().count(needle)


def refused_at_once(server: PgServer, url: str, logged: str) -> str:
    """Run `meshctl get agents` on `url`: exit 1, quickly, one attempt in the server's
    log; its stderr."""
    before = attempts_logged(server, logged)
    started = time.monotonic()
    done = meshctl("get", "agents", "--store", url)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "***" in done.stderr  # the URL is named, masked
    assert "tried" not in done.stderr and done.stderr.count("Error") == 1, done.stderr
    assert "pool" not in done.stderr and "error connecting" not in done.stderr
    assert took < 5, took  # it was 10 s, the pool's timeout; 0.5 s when idle
    assert attempts_logged(server, logged) - before == 1, "tried more than once"
    return done.stderr


def test_no_such_database(pg_server: PgServer) -> None:
    url = with_password(pg_server.url("no_such_db_23"), "meshctl_admin")
    err = refused_at_once(pg_server, url, 'database "no_such_db_23" does not exist')
    assert 'database "no_such_db_23" does not exist' in err


def test_no_such_role(pg_server: PgServer) -> None:
    url = with_password(pg_server.database(), "no_such_role_23")
    err = refused_at_once(pg_server, url, 'role "no_such_role_23" does not exist')
    assert 'role "no_such_role_23" does not exist' in err


def test_a_wrong_password(pg_server: PgServer, pg_url: str) -> None:
    assert pg_server.role_with_password(ROLE, "the-right-one"), \
        "the suite's own server must take a role that needs a password"
    url = with_password(pg_url, ROLE)
    err = refused_at_once(pg_server, url, f'password authentication failed for user "{ROLE}"')
    assert f'password authentication failed for user "{ROLE}"' in err
    right = meshctl("get", "agents", "--store", with_password(pg_url, ROLE, "the-right-one"))
    assert "permission denied for schema meshctl" in right.stderr  # in: it was the password


@pytest.mark.parametrize("url", [
    f"postgresql://meshctl_admin:{SECRET}@/db?hostx=/tmp",
    f"postgresql://meshctl_admin:{SECRET}@[::1/db",
    f"postgresql://meshctl_admin:{SECRET}@localhost:99999/db",
], ids=["unknown-parameter", "broken-host", "port-out-of-range"])
def test_an_invalid_url(url: str) -> None:
    started = time.monotonic()
    done = meshctl("get", "agents", "--store", url)
    assert done.returncode == 1, done.stderr
    assert "is not a valid PostgreSQL URL" in done.stderr, done.stderr
    assert "Internal error" not in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr and "***" in done.stderr
    assert time.monotonic() - started < 5


def test_nothing_listening_is_tried_again_then_named(pg_server: PgServer,
                                                     tmp_path: Path) -> None:
    """A socket folder where no server runs, and a TCP port nobody listens on: each is
    tried several times (a server may be starting), for a bounded time, and the message
    says where it tried and how often."""
    empty = tmp_path / "no-server"
    empty.mkdir()
    by_socket = with_password(pg_server.url(), "meshctl_admin").replace(
        quote(str(pg_server.socket_dir), safe=""), quote(str(empty), safe=""))
    by_port = f"postgresql://meshctl_admin:{SECRET}@127.0.0.1:1/mesh"
    with ThreadPoolExecutor(max_workers=2) as runs:  # both wait out the same bound
        timed = list(runs.map(_timed, [by_socket, by_port]))
    for (done, took), where in zip(timed, [f'on socket "{empty}/.s.PGSQL.5432"',
                                           'at "127.0.0.1", port 1'], strict=True):
        assert done.returncode == 1, done.stderr
        assert where in done.stderr, done.stderr
        tried = re.search(r"tried (\d+) times over ([\d.]+) s", done.stderr)
        assert tried is not None, done.stderr
        assert int(tried.group(1)) >= 3
        assert float(tried.group(2)) <= 11 and took < 30  # bounded
        assert SECRET not in done.stdout + done.stderr
        assert done.stderr.count("Error") == 1 and "error connecting" not in done.stderr


def _timed(url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = meshctl("get", "agents", "--store", url)
    return done, time.monotonic() - started
