"""An error that is already an HTTP answer: a status, a detail, and any extra fields."""

from typing import Any

from reconciler.errors import (
    AccessWidening,
    BreakingChange,
    ChangeRejected,
    Diagnostic,
    MeshctlError,
    PreconditionFailed,
    ResourceInUse,
    ResourceNotFound,
)
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey


class ApiError(MeshctlError):
    """Raised by a route for an answer the engine's errors do not give (a bad path, a
    missing document); the app's handler turns it into JSON with `status`."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


# At most this many users named in a refusal's sentence (`used_by` lists them all).
MAX_NAMED_USERS = 20


def in_use_answer(error: ResourceInUse) -> dict[str, Any]:
    """The body of a delete refused because others use the resource, for a browser: who
    uses it by kind and name, never a file of the server's disk (the engine's message,
    which the CLI prints, says where each reference is written). `used_by` lists each user
    as `{kind, name, field}`."""
    by_kind: dict[str, list[str]] = {}
    for user in error.used_by:
        names = by_kind.setdefault(user["kind"], [])
        if user["name"] not in names:
            names.append(user["name"])
    parts: list[str] = []
    room = MAX_NAMED_USERS
    for kind, names in by_kind.items():
        label = kinds.info(Kind(kind)).plural.replace("-", " ")
        shown = names[:max(room, 0)]
        room -= len(shown)
        text = f"{label} {', '.join(shown)}" if shown else label
        if len(names) > len(shown):
            text += f"{',' if shown else ''} and {len(names) - len(shown)} more"
        parts.append(text)
    return {"detail": f"Cannot delete {error.resource}: used by {'; '.join(parts)}",
            "used_by": error.used_by}


def _loc(path: str) -> list[str | int]:
    """`steps[2].agent_id` as a location's parts: ["steps", 2, "agent_id"]."""
    parts: list[str | int] = []
    for piece in path.replace("]", "").replace("[", ".").split("."):
        if piece:
            parts.append(int(piece) if piece.isdigit() else piece)
    return parts


def field_errors(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """The engine's findings that name a field, shaped as a 422's items (`type`, `loc`,
    `msg`), with the resource each is about (`kind`, `name`): a form marks the field."""
    found = []
    for diagnostic in diagnostics:
        key = ResourceKey.parse(diagnostic.resource)
        if not diagnostic.is_error or not diagnostic.path or key is None:
            continue
        found.append({"type": diagnostic.code, "loc": ["body", *_loc(diagnostic.path)],
                      "msg": diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint
                                                   else ""),
                      "kind": key.kind.value, "name": key.name})
    return found


def refusal(error: ChangeRejected) -> tuple[int, dict[str, Any]]:
    """A write the engine refused, as the status and body the API answers it with: 412 for
    a version gone stale (`current_version`), 409 for a breaking change (`codes`) or wider
    access, 404 for a resource not there, 400 for the rest (a resource in use names its
    users, a finding about a field is in `errors` for a form to mark)."""
    if isinstance(error, PreconditionFailed):
        return 412, {"detail": str(error), "current_version": error.current_version}
    if isinstance(error, AccessWidening):
        return 409, {"detail": str(error)}
    if isinstance(error, ResourceInUse) and error.resource is not None:
        return 400, in_use_answer(error)  # names, no paths
    if isinstance(error, BreakingChange):
        return 409, {"detail": str(error), "codes": sorted({d.code for d in error.diagnostics})}
    if isinstance(error, ResourceNotFound):
        return 404, {"detail": str(error)}
    found = field_errors(error.diagnostics)  # the fields a form marks
    return 400, {"detail": str(error), **({"errors": found} if found else {})}
