"""Who may call the REST API: bearer tokens, each with a role.

`viewer` may read (GET), `editor` may also write, `admin` may also reload and roll back.
Without tokens every caller may do everything, which `meshctl serve` allows only on a
loopback address (or with `--insecure`).
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import os
from pathlib import Path

from reconciler.errors import UsageError

TOKENS_ENV = "MESHCTL_API_TOKENS"  # "token:role,token:role"


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3


def parse_tokens(text: str, *, where: str) -> dict[str, Role]:
    """`token role` per line (or `token:role` separated by commas); `#` starts a comment."""
    tokens: dict[str, Role] = {}
    for number, raw in enumerate(text.replace(",", "\n").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        token, _, role = line.replace(":", " ", 1).partition(" ")
        role = role.strip().lower()
        if not token or role not in ("viewer", "editor", "admin"):
            raise UsageError(f"{where}, entry {number}: expected 'TOKEN ROLE' with ROLE one "
                             "of viewer, editor, admin")
        if len(token) < 16:
            raise UsageError(f"{where}, entry {number}: a token needs at least 16 characters")
        tokens[token] = Role[role.upper()]
    return tokens


def load_tokens(token_file: Path | None) -> dict[str, Role]:
    """The tokens of `--token-file` and of $MESHCTL_API_TOKENS together."""
    tokens: dict[str, Role] = {}
    if token_file is not None:
        try:
            tokens.update(parse_tokens(token_file.read_text(), where=str(token_file)))
        except OSError as error:
            raise UsageError(f"cannot read the token file {token_file}: "
                             f"{error.strerror}") from error
    if os.environ.get(TOKENS_ENV):
        tokens.update(parse_tokens(os.environ[TOKENS_ENV], where=f"${TOKENS_ENV}"))
    return tokens


def role_of(tokens: dict[str, Role], authorization: str | None) -> Role | None:
    """The role of the bearer token in an Authorization header; None if none is valid.
    Compared in constant time, so a token cannot be guessed by timing."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    given = authorization[7:].strip().encode()
    found = None
    for token, role in tokens.items():
        if hmac.compare_digest(token.encode(), given):
            found = role
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
