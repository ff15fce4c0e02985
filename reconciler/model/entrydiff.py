"""The fields that differ between two registry entries: the one field diff of meshctl.

The planner (`plan.planner`) asks it what an update changes, the watch loop whether a live
entry drifted (`equivalent`), `meshctl diff` what to print (`comparable`), and `meshctl
compare` (`manifests.compare`) how two environments' entries differ. It lives in the model
so that all of them, from the manifests layer up, share it. Pure: no files, clocks or
environment.

Each entry is first reduced to its "essence" (kopf's term): what it means to the runtime,
omitted optional fields as what their absence means, `last_updated` dropped. Entries equal
as JSON data (key order ignored, `1` equal to `1.0`, `true` not equal to `1`) do not
differ. Otherwise mappings are compared key by key and lists item by item (deepdiff, which
lines up lists of different lengths by their items: one item added to a list of four is
`capabilities[4]`), giving paths like `steps[0].agent_id`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from reconciler.model.fields import ABSENT_MEANS
from reconciler.model.kinds import Kind

IGNORED_FIELDS = ("last_updated",)  # rewritten by every save; never a change


class FieldOp(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"
    CHANGE = "change"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an entry: `path` like `allowed_tools[1]` or `parameters.temperature`;
    `old` is None when the field is added, `new` when it is removed.

    `new_path`: where `new` sits in the new entry when that is not `path` (items of a list
    that shifted: deepdiff pairs `x[2]` of the old entry with `x[3]` of the new). It only
    locates the value (`meshctl compare` names its line), so it takes no part in equality
    and is not saved with a plan."""

    path: str
    op: FieldOp
    old: Any = None
    new: Any = None
    new_path: str | None = field(default=None, compare=False, repr=False)

    @property
    def path_in_new(self) -> str:
        return self.new_path or self.path


def field_changes(kind: Kind, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The fields that differ, ignoring noise: key order, `1` vs `1.0`, an omitted optional
    field vs what its absence means, and `last_updated`. Empty when the entries mean the
    same (at once when they are one object: the engine's resources from the sync record are
    live entries)."""
    if before is after or _same(before, after):
        return []
    return differences(essence(kind, before), essence(kind, after))


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """The fields that differ between two mappings taken as they are (no essence: for
    labels and annotations, or entries already reduced), sorted by path."""
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
            path, new_path = _path(parts), _path(new_parts)
            moved = new_path if new_path != path else None
            if report_type in ("dictionary_item_added", "iterable_item_added"):
                found.append(FieldChange(path, FieldOp.ADD, None, _at(new, new_parts), moved))
            elif report_type in ("dictionary_item_removed", "iterable_item_removed"):
                found.append(FieldChange(path, FieldOp.REMOVE, _at(old, parts), None))
            else:
                found.append(FieldChange(path, FieldOp.CHANGE, _at(old, parts),
                                         _at(new, new_parts), moved))
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


def share_equal_values(entry: dict[str, Any], other: dict[str, Any]) -> None:
    """Point `entry`'s top-level values at `other`'s where they are the very same JSON
    (same data, order and types), letting go of the copies. A watch loop holds the desired
    and the live state of every resource, mostly equal in a mesh in sync: at 100,000
    agents, a gigabyte held twice. Sound because no entry is changed in place (a change
    makes a new entry), here or in the live snapshots."""
    for name, value in list(entry.items()):
        theirs = other.get(name, entry)  # (`entry` itself: absent there)
        if theirs is value or theirs is entry or type(theirs) is not type(value):
            continue
        if isinstance(value, str) and value == theirs or isinstance(value, (dict, list)) \
                and orjson.dumps(value) == orjson.dumps(theirs):
            entry[name] = theirs


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
