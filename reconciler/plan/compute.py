"""What the planner (`planner.make`) compares with: the state a plan leaves, the fields that
differ between two entries (their normalized "essence", kopf's term; deepdiff for changes
inside lists and objects), and who uses a resource. Pure: no files, clocks or environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from reconciler import graph
from reconciler.model import kinds
from reconciler.model.fields import ABSENT_MEANS
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState
from reconciler.plan.model import FieldChange, FieldOp, Location, User

IGNORED_FIELDS = ("last_updated",)  # rewritten by every save; never a change


def remaining_state(desired: MeshState, live: MeshState, *, prune: bool) -> MeshState:
    """What would be live after applying: the manifests, plus the live resources no
    manifest declares that stay (all of them without pruning; else those of the kinds the
    manifests leave unmanaged)."""
    remaining = MeshState()
    for resource in desired:
        remaining.add(resource)
    kept = unmanaged_kinds(desired) if prune else set(Kind)
    for kind in kept:
        for resource in live.of_kind(kind).values():
            if resource.key not in remaining:
                remaining.add(resource)
    return remaining


def unmanaged_kinds(desired: MeshState) -> set[Kind]:
    """The opt-in kinds (system settings, context engineering, integrations) of which the
    manifests declare nothing: their live files are not the manifests' to prune, so a
    deployment whose manifests predate them plans as before."""
    return {kind for kind in Kind if kinds.info(kind).opt_in and not desired.of_kind(kind)}


def user_at(edge: graph.Reference, state: MeshState) -> User:
    resource = state.get(edge.source)
    location = Location(*resource.where(edge.path)) if resource else Location(None)
    return User(edge.source, edge.path, location)


def field_changes(kind: Kind, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The fields that differ, ignoring noise: key order, `1` vs `1.0`, an omitted optional
    field vs what its absence means, and `last_updated`. Empty when the entries mean the
    same (at once when they are one object: the engine's resources from the sync record are
    live entries)."""
    if before is after or _same(before, after):
        return []
    old, new = essence(kind, before), essence(kind, after)
    if _same(old, new):
        return []
    flat = _top_level_changes(old, new)
    if flat is not None:
        return flat
    return _deep_changes(old, new)


def equivalent(kind: Kind, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Do the entries mean the same to the runtime? (`field_changes` is empty.)"""
    return before is after or _same(before, after) or _same(essence(kind, before),
                                                            essence(kind, after))


_CONTAINERS = (dict, list)


def _top_level_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange] | None:
    """The changes when every difference is a whole top-level field added or removed, or a
    plain value (not a list or object) changed: what most edits are. None otherwise. It
    says exactly what deepdiff would (a test holds them together), without its 50 ms
    import."""
    found: list[FieldChange] = []
    for name in old.keys() | new.keys():
        if name not in new:
            found.append(FieldChange(name, FieldOp.REMOVE, old[name], None))
        elif name not in old:
            found.append(FieldChange(name, FieldOp.ADD, None, new[name]))
        elif not _same(old[name], new[name]):
            if isinstance(old[name], _CONTAINERS) or isinstance(new[name], _CONTAINERS):
                return None
            found.append(FieldChange(name, FieldOp.CHANGE, old[name], new[name]))
    found.sort(key=lambda change: change.path)
    return found


def _deep_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    from deepdiff import DeepDiff  # 50 ms to import: only for changes inside lists or objects

    # DeepDiff counts True as 1 and False as 0, so booleans are diffed as markers it cannot
    # confuse with numbers, and integral floats as ints (its ignore_numeric_type_changes would
    # also round to 12 digits); the values reported are read from the entries themselves.
    diff = DeepDiff(_integral(_marked(old)), _integral(_marked(new)), view="tree",
                    threshold_to_diff_deeper=0)
    found: list[FieldChange] = []
    for report_type, items in diff.items():
        for item in items:
            parts = item.path(output_format="list")
            new_parts = item.path(output_format="list", use_t2=True)
            path = _path(parts)
            if report_type in ("dictionary_item_added", "iterable_item_added"):
                found.append(FieldChange(path, FieldOp.ADD, None, _at(new, new_parts)))
            elif report_type in ("dictionary_item_removed", "iterable_item_removed"):
                found.append(FieldChange(path, FieldOp.REMOVE, _at(old, parts), None))
            else:
                found.append(FieldChange(path, FieldOp.CHANGE, _at(old, parts),
                                         _at(new, new_parts)))
    found.sort(key=lambda change: change.path)
    return found


def comparable(kind: Kind, entry: dict[str, Any]) -> dict[str, Any]:
    """The essence with integral floats as ints: what `meshctl diff` prints, so its lines
    show exactly the changes the plan counts."""
    result: dict[str, Any] = _integral(essence(kind, entry))
    return result


def essence(kind: Kind, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as it means to the runtime: omitted optional fields as what their absence
    means, ignored fields dropped. (A required field missing from a live entry is a change:
    the runtime skips that entry, and applying the manifest repairs it.)"""
    return {**ABSENT_MEANS[kind], **{k: v for k, v in entry.items() if k not in IGNORED_FIELDS}}


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON data, where 1 and 1.0 are the same number and True is not 1."""
    if orjson.dumps(a) == orjson.dumps(b):  # the common case: same data in the same order
        return True
    if a != b:  # order-insensitive; but treats True == 1, so equality is confirmed
        return False
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS) or _canonical(a) == _canonical(b)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(_integral(value), option=orjson.OPT_SORT_KEYS)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


_BOOLEAN_MARKERS = {True: "\x00meshctl:true", False: "\x00meshctl:false"}


def _marked(value: Any) -> Any:
    if isinstance(value, bool):
        return _BOOLEAN_MARKERS[value]
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def _at(value: Any, parts: Iterable[Any]) -> Any:
    for part in parts:
        value = value[part]
    return value


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
