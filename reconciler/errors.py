"""Every error meshctl raises, and the `Diagnostic` record that validation returns.

Validators never raise: they return diagnostics, and the engine raises once with all of them,
so a user fixes every problem in one run. Exceptions are for what stops a command outright.

    MeshctlError
    ├── ManifestError        a manifest path cannot be read at all
    ├── ValidationFailed     the state has error diagnostics (carries them)
    ├── StoreError           the live registries cannot be read or written
    │   ├── LockTimeout      another writer held the lock too long (names it)
    │   └── JournalError     an interrupted commit cannot be finished
    ├── PlanError            a plan cannot be made or used
    │   ├── PlanFormatError  a saved plan file is damaged or of another format_version
    │   ├── StalePlan        the registries changed since the plan was made (says how)
    │   └── PlanRefused      the plan holds refusals or breaks a guard (--max-deletes)
    ├── ChangeRejected       a one-object write (library, REST, panel) breaks a rule (400)
    │   ├── ResourceNotFound     the resource it names does not exist (404)
    │   ├── ResourceInUse        a delete of what others still reference (400, names them)
    │   ├── BreakingChange       refused as breaking its callers, --deny-breaking (409)
    │   ├── AccessWidening       refused as widening access, --deny-access-widening (409)
    │   └── PreconditionFailed   the resource changed since the version named (412)
    ├── UsageError           a command was called with arguments that do not fit
    └── ApiError             (reconciler.api.errors) an error that is already an HTTP answer
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: which rule, how bad, where (file:line, resource, field path) and what to do."""

    code: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    resource: str | None = None
    path: str | None = None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(**{**data, "severity": Severity(data["severity"])})


def sort_key(diagnostic: Diagnostic) -> tuple[bool, str, int, str, str]:
    """Order diagnostics the way a reader scans a tree: by file, then line, then rule;
    findings about the mesh as a whole (no file) come last."""
    return (diagnostic.file is None, diagnostic.file or "", diagnostic.line or 0,
            diagnostic.code, diagnostic.message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"did you mean 'allowed_tools'? "` when a choice is close to `word`, else ``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


class MeshctlError(Exception):
    """Root of every error meshctl raises on purpose; anything else is a bug."""


class ManifestError(MeshctlError):
    """A manifest path given by the user does not exist or cannot be listed."""


class StoreError(MeshctlError):
    """The live registries cannot be read (or, later, written)."""


class LockTimeout(StoreError):
    """Another writer held the registries' lock past the timeout; the message names it."""


class JournalError(StoreError):
    """A commit journal left by a crash cannot be rolled forward."""


class PlanError(MeshctlError):
    """A plan cannot be computed or used."""


class PlanFormatError(PlanError):
    """A saved plan is not JSON, is damaged, or has a format_version this meshctl cannot read."""


class StalePlan(PlanError):
    """The live registries changed after the plan was computed; the message says what."""


class PlanRefused(PlanError):
    """The plan holds refusals, or deletes more than allowed; nothing was written."""


class ChangeRejected(MeshctlError, ValueError):
    """A single-object change (library, API) breaks a rule; nothing was written. The message
    says which rule and what to do; `diagnostics` holds every finding. A `ValueError` too, as
    the upstream RegistryManager raises. The subclasses say why, for callers (the REST API's
    status codes) that answer each reason differently."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class ResourceNotFound(ChangeRejected):
    """The resource a write names (to update or delete it) does not exist."""


class ResourceInUse(ChangeRejected):
    """A delete of a resource that others still reference; the message names each user
    (and where each reference is written). `resource` says which resource ("agent
    'fraud_agent'") and `used_by` each user as `{kind, name, field}`, for answers that must
    not name files (the REST API's, shown in a browser)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None, *,
                 resource: str | None = None,
                 used_by: Iterable[dict[str, str]] = ()) -> None:
        super().__init__(message, diagnostics)
        self.resource = resource
        self.used_by = list(used_by)


class BreakingChange(ChangeRejected):
    """Refused as breaking the resource's callers (`--deny-breaking`); `diagnostics` holds
    the B-rules that judged it."""


class AccessWidening(ChangeRejected):
    """Refused as granting an agent access it did not have (`--deny-access-widening`)."""


class PreconditionFailed(ChangeRejected):
    """A write named the version of the resource it was made from, and the resource has
    changed since (HTTP 412): `current_version` is the version now."""

    def __init__(self, message: str, current_version: str | None) -> None:
        super().__init__(message)
        self.current_version = current_version


class UsageError(MeshctlError):
    """Arguments that do not fit together; reported like click's usage errors."""


class ValidationFailed(MeshctlError):
    """The desired or live state has error diagnostics; `diagnostics` holds all of them."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = sum(1 for d in diagnostics if d.is_error)
        super().__init__(f"{errors} error{'' if errors == 1 else 's'} found")
