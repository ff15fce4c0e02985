"""A throwaway PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` in a temporary
directory, on a Unix socket only, with fsync off. `initdb` refuses to run as root, so under
root the server runs as the `postgres` user (which Debian's package creates).

Each test gets a database of its own (`PgServer.database()`), so tests never see each
other's data; `restart()` stops and starts the server, for the tests that need it to go away.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

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
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def role_with_password(self, role: str, password: str) -> bool:
        """A login role that must give `password` (scram-sha-256 on the socket; every other
        role keeps trust). False when this server's pg_hba.conf cannot be changed."""
        hba = self.data / "pg_hba.conf"
        try:
            rules = hba.read_text()
            if f"local all {role} scram-sha-256" not in rules:  # the first match wins
                hba.write_text(f"local all {role} scram-sha-256\n{rules}")
        except OSError:
            return False
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute("SET password_encryption = 'scram-sha-256'")
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                   (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            admin.execute(sql.SQL(f"{verb} ROLE {{}} LOGIN PASSWORD {{}}").format(
                sql.Identifier(role), sql.Literal(password)))
            admin.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the reload is asynchronous: wait for it
            try:
                psycopg.connect(self.url(user=role), connect_timeout=2).close()
            except psycopg.OperationalError:
                return True  # no password given: refused, so the rule is in force
            time.sleep(0.05)
        return False

    def log(self) -> str:
        """What the server logged so far (one line per refused connection, among others)."""
        return (self.base / "server.log").read_text(errors="replace")

    def _run(self, *command: str, check: bool = True) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True,
                              timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:1])} {command[-1]} failed "
                               f"({done.returncode}): {done.stdout}{done.stderr}")


def start_server(base: Path) -> PgServer:
    """A new server under `base` (which must not exist yet), started. Under root the server
    runs as `postgres` in a folder of its own under the system's temporary folder instead
    (removed at exit): pytest makes its own base folder private (0700) again whenever a
    session starts, which would lock `postgres` out of `base` and fail `pg_ctl stop`."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl are missing: `make test` installs "
                           "Debian's postgresql with apt")
    base.mkdir(parents=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as `postgres`
        owner = pwd.getpwnam("postgres")
        own = Path(tempfile.mkdtemp(prefix="meshctl-pg-"))
        os.chmod(own, 0o711)  # traversable by that user
        base = own / "pg"
        base.mkdir()
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PgServer(base, pg_ctl, as_user)
    if as_user:
        atexit.register(_remove, server, base.parent)
    server._run("mkdir", "-p", str(server.socket_dir))
    server._run(initdb, "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync")
    server.start()
    return server


def _remove(server: PgServer, folder: Path) -> None:
    """The server stopped (if the session did not), and its folder gone."""
    server.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)
