"""Connecting to a PostgreSQL store, or saying at once why not (used by `pgstore` only).

A failure to connect is one of two sorts:

- permanent: the URL is not valid, the database or the role does not exist, the password is
  wrong, no `pg_hba.conf` rule lets the role in. Trying again cannot help, so the first
  attempt's reason is the answer, at once.
- passing: nothing listens where the URL points (the server is down, or not up yet), the
  server is starting, shutting down or out of connection slots. Only these are tried again,
  with a growing pause, for at most `wait` seconds; the final message says where it tried,
  how many times and for how long.

libpq gives no SQLSTATE for a refused connection, only its message (in English unless the
server speaks another language). A message not recognised as passing counts as permanent:
the worst a translated one costs is an early answer, never a silent wait.

Every message names the store by its masked URL, and the password is scrubbed from libpq's
text as well: it is never printed.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from reconciler.errors import StoreError

if TYPE_CHECKING:
    import psycopg

# What libpq (or psycopg's own host lookup) says when no server answers, or one answers
# that it cannot take a connection yet: the only failures worth waiting out.
PASSING = (
    "connection refused", "no such file or directory", "timeout expired", "timed out",
    "no route to host", "network is unreachable", "host is unreachable",
    "temporary failure in name resolution", "server closed the connection unexpectedly",
    "connection reset by peer", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections", "too many clients",
    "remaining connection slots are reserved",
)
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 2.0  # seconds between attempts: doubling, capped
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^@/?#]*@")
_WHERE = re.compile(r"^(connection to server .*?) failed: (?:FATAL:\s+)?(.*)$")
_PSYCOPG_PREFIX = re.compile(r"^connection (?:failed|is bad): ")


def masked(url: str) -> str:
    """`url` with its password (if any) replaced by `***`: the form every message shows.
    Safe on any text, a URL too broken to parse included."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. an unclosed IPv6 bracket: mask by pattern
        return _PASSWORD.sub(r"\1:***@", url)
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    shown = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    return scrub(shown, url)  # the password written elsewhere in it too, by mistake


def scrub(text: str, url: str) -> str:
    """`text` without the URL's password, as written and as libpq decodes it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        found = _PASSWORD.match(url)
        password = found.group(0)[len(found.group(1)) + 1:-1] if found else None
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_url(url: str) -> None:
    """Refuse (StoreError) a URL libpq cannot parse, before anything is tried."""
    import psycopg
    from psycopg import conninfo

    location = masked(url)
    try:
        urlsplit(url).port  # noqa: B018 (parsing it is the check: a bad port raises)
        conninfo.conninfo_to_dict(url)
    except (ValueError, psycopg.Error) as error:
        raise StoreError(f"'{location}' is not a valid PostgreSQL URL: "
                         f"{scrub(first_line(error), url)} (the form is "
                         "postgresql://USER@HOST:PORT/DATABASE)") from error


def is_passing(error: BaseException) -> bool:
    """Might the same attempt succeed in a moment (the server down, or not ready yet)?"""
    text = str(error).lower()
    return any(sign in text for sign in PASSING)


def reason(error: BaseException, url: str) -> str:
    """libpq's first line, as `<why> (<where it tried>)`, without psycopg's prefix or the
    password."""
    line = _PSYCOPG_PREFIX.sub("", scrub(first_line(error), url))
    found = _WHERE.match(line)
    return f"{found.group(2)} ({found.group(1)})" if found else line


def connect(url: str, *, wait: float, autocommit: bool = True, **options: Any
            ) -> psycopg.Connection[Any]:
    """A connection to `url`. A permanent failure raises StoreError at once with libpq's
    reason; a passing one is tried again until `wait` seconds have gone, and then raises
    StoreError saying where it tried, how many times and for how long."""
    import psycopg

    check_url(url)
    started = time.monotonic()
    pause, attempts = FIRST_PAUSE, 0
    while True:
        attempts += 1
        left = wait - (time.monotonic() - started)
        try:  # libpq reads a connect_timeout under 2 as 2
            return psycopg.connect(url, autocommit=autocommit,
                                   connect_timeout=max(2, int(min(max(left, 0), 10))),
                                   **options)
        except psycopg.Error as error:
            why = reason(error, url)
            spent = time.monotonic() - started
            if not is_passing(error):
                raise StoreError(f"cannot connect to the store {masked(url)}: {why}"
                                 ) from error
            if spent + pause > wait:
                times = "once" if attempts == 1 else f"{attempts} times"
                raise StoreError(
                    f"cannot connect to the store {masked(url)}: {why}; tried {times} over "
                    f"{spent:.1f} s: is the server running, and listening there?") from error
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
