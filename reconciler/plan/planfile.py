"""A plan's JSON form: the documented, versioned contract that `-o json`, `--out FILE`, CI
and the panel share, and that `apply --plan FILE` reads back exactly.

`format_version` is bumped whenever a consumer must change; a file of another version is
refused with a reason rather than half-understood. The schema is in docs/plan.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from reconciler.errors import Diagnostic, PlanFormatError
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import (
    FORMAT_VERSION,
    AccessChange,
    Action,
    Change,
    FieldChange,
    FieldOp,
    Location,
    Plan,
    User,
)


def to_dict(plan: Plan) -> dict[str, Any]:
    summary = plan.summary
    return {
        "format_version": plan.format_version,
        "live_fingerprint": plan.live_fingerprint,
        "prune": plan.prune,
        "summary": {
            "create": summary.create, "update": summary.update, "delete": summary.delete,
            "noop": summary.noop, "refused": summary.refused, "impacted": summary.impacted,
            "has_changes": summary.has_changes,
        },
        "changes": [_change(change) for change in plan.changes],
        "unchanged": plan.unchanged,
        "warnings": [d.to_dict() for d in plan.warnings],
        "meta": plan.meta,
        "access_changes": [_access_change(granted) for granted in plan.access_changes],
    }


def _access_change(granted: AccessChange) -> dict[str, Any]:
    return {"subject": granted.subject, "verb": granted.verb, "object": granted.object,
            "widens": granted.widens, "asked": granted.asked, "granted": granted.granted,
            "allowed": granted.allowed, "reason": granted.reason,
            "rule": _location(granted.rule),
            "cause": None if granted.cause is None else _key(granted.cause)}


def _read_access_change(data: dict[str, Any]) -> AccessChange:
    cause = data.get("cause")
    return AccessChange(str(data["subject"]), str(data["verb"]), str(data["object"]),
                        bool(data["widens"]), bool(data["asked"]), bool(data["granted"]),
                        str(data.get("reason") or ""),
                        _read_location(data.get("rule")),
                        None if cause is None else _read_key(cause))


def _key(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind.value, "name": key.name}


def _location(location: Location | None) -> dict[str, Any] | None:
    return None if location is None else {"file": location.file, "line": location.line}


def _change(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {**_key(change.key), "action": change.action.value}
    if change.source is not None:
        data["source"] = _location(change.source)
    if change.action is Action.NOOP:
        return data
    data.update({
        "before": change.before,
        "after": change.after,
        "fields": [{"path": f.path, "op": f.op.value, "old": f.old, "new": f.new}
                   for f in change.fields],
        "impact": [_key(key) for key in change.impact],
        "refused": change.refused,
        "users": [{**_key(u.key), "path": u.path, "location": _location(u.location)}
                  for u in change.users],
        "breaking": list(change.breaking),
    })
    return data


def from_dict(data: Any) -> Plan:
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanFormatError("not a meshctl plan: no format_version")
    version = data["format_version"]
    if version != FORMAT_VERSION:
        raise PlanFormatError(
            f"plan format_version {version!r} is not supported by this meshctl (it reads "
            f"version {FORMAT_VERSION}); re-run `meshctl plan --out` with this version")
    try:
        return Plan(
            live_fingerprint=data["live_fingerprint"],
            changes=tuple(_read_change(item) for item in data["changes"]),
            prune=bool(data.get("prune", True)),
            warnings=tuple(Diagnostic.from_dict(d) for d in data.get("warnings", [])),
            format_version=version,
            meta=dict(data.get("meta") or {}),
            access_changes=tuple(_read_access_change(item)
                                 for item in data.get("access_changes") or []),
            unchanged=int(data.get("unchanged") or 0),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFormatError(f"damaged plan file: {error!r}") from error


def _read_key(data: dict[str, Any]) -> ResourceKey:
    return ResourceKey(Kind(data["kind"]), data["name"])


def _read_location(data: dict[str, Any] | None) -> Location | None:
    return None if data is None else Location(data.get("file"), data.get("line"))


def _read_change(data: dict[str, Any]) -> Change:
    return Change(
        key=_read_key(data),
        action=Action(data["action"]),
        before=data.get("before"),
        after=data.get("after"),
        fields=tuple(FieldChange(f["path"], FieldOp(f["op"]), f.get("old"), f.get("new"))
                     for f in data.get("fields", [])),
        source=_read_location(data.get("source")),
        impact=tuple(_read_key(k) for k in data.get("impact", [])),
        refused=data.get("refused"),
        users=tuple(User(_read_key(u), u["path"], _read_location(u.get("location"))
                         or Location(None)) for u in data.get("users", [])),
        breaking=tuple(str(reason) for reason in data.get("breaking", [])),
    )


def dumps(plan: Plan) -> bytes:
    return orjson.dumps(to_dict(plan), option=orjson.OPT_INDENT_2)


def loads(data: bytes) -> Plan:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise PlanFormatError(f"plan file is not JSON: {error}") from error
    return from_dict(parsed)


def save(plan: Plan, path: Path) -> None:
    path.write_bytes(dumps(plan) + b"\n")


def load(path: Path) -> Plan:
    try:
        return loads(path.read_bytes())
    except OSError as error:
        raise PlanFormatError(f"cannot read plan file {path}: {error.strerror}") from error
