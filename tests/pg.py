"""A throwaway PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` in a temporary
directory, on a Unix socket only, with fsync off. `initdb` refuses to run as root, so under
root the server runs as the `postgres` user (which Debian's package creates).

Each test gets a database of its own (`PgServer.database()`), so tests never see each
other's data; `restart()` stops and starts the server, for the tests that need it to go away.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg

SUPERUSER = "meshctl_admin"


def find_binary(name: str) -> str | None:
    """`initdb`/`pg_ctl`: on PATH, else the newest in Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(Path(path).parts[-3]) if
                        Path(path).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


@dataclass
class PgServer:
    base: Path
    pg_ctl: str
    as_user: list[str]
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return (f"postgresql://{user}@/{database}?host={quote(str(self.socket_dir), safe='')}"
                "&port=5432")

    def start(self) -> None:
        options = (f"-F -k {self.socket_dir} -c listen_addresses='' -c port=5432 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
                  str(self.base / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """Stop the server (dropping every connection, losing no commit) and start it."""
        self.stop("fast")
        self.start()

    def database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *command: str, check: bool = True) -> None:
        subprocess.run([*self.as_user, *command], check=check, capture_output=True,
                       timeout=120)


def start_server(base: Path) -> PgServer:
    """A new server under `base` (which must not exist yet), started."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl are missing: `make test` installs "
                           "Debian's postgresql with apt")
    base.mkdir(parents=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as `postgres`
        owner = pwd.getpwnam("postgres")
        for path in (base, *base.parents):
            if path == Path("/"):
                break
            os.chmod(path, os.stat(path).st_mode | 0o011)  # traversable by that user
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PgServer(base, pg_ctl, as_user)
    server._run(*as_user[:0], "mkdir", "-p", str(server.socket_dir))
    server._run(initdb, "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync")
    server.start()
    return server
