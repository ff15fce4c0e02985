"""YAML text -> plain JSON-compatible data, with the line of every field.

Called by `manifests.loader` once per file. libyaml's C parser composes the node tree (which
carries line marks); this module then builds the data itself instead of using PyYAML's
constructor, because it must (a) record `path -> line` for the diagnostics, (b) refuse what
JSON registries cannot hold (custom tags, non-string keys, NaN, huge integers) and what hurts
(duplicate keys, alias expansion bombs, absurd nesting), and (c) keep YAML timestamps as the
text the user wrote, since the registries store them as strings.

Two readers give the same documents. The usual one builds the data straight from libyaml's
events (`_from_events`): no node tree is composed, and plain scalars are typed once per
distinct text. Whatever it does not read itself (anchors, aliases, merge keys, explicit tags,
anything refused or malformed) goes to the reference reader (`_from_nodes`), which composes
the node tree and says what is wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 128
ALIAS_EXPANSION_FACTOR = 10  # expanded nodes allowed per distinct node, plus a flat allowance
ALIAS_EXPANSION_ALLOWANCE = 10_000
MAX_INT = 2**63 - 1
RECORD_DEPTH = 8  # path components recorded in the line map below a document's root

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_MERGE = _TAG + "merge"
_SEQ = _TAG + "seq"
_MAP = _TAG + "map"
_ANCHOR = re.compile(r"&[^\s,\[\]{}]")  # an anchor: '&' glued to its name
_SCALARS = yaml.constructor.SafeConstructor()


_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=65_536)
def _resolve(kind: type[Node], value: Any, implicit: Any) -> Any:
    return yaml.resolver.Resolver.resolve(_RESOLVER, kind, value, implicit)  # type: ignore[no-untyped-call]


class _Loader(yaml.CSafeLoader):
    """libyaml's parser with a memoized implicit resolver.

    libyaml calls back into Python to resolve every scalar's type with regular expressions;
    manifests repeat the same few scalars (`type`, `string`, `true`) thousands of times. An
    `lru_cache` (implemented in C) answers repeats without running Python code, which cuts
    the parse time by a fifth. Path resolvers are not used, so their hooks are no-ops.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.resolve = _resolve  # type: ignore[method-assign]

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


class YamlProblem(Exception):
    """Why a document cannot become data; `code` is a manifest rule code (see validate.rules)."""

    def __init__(self, code: str, message: str, line: int | None, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.hint = hint


@dataclass(slots=True)
class ParsedDocument:
    data: Any
    line: int
    lines: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Builds one document's data from its node tree, recording lines and enforcing limits."""

    def __init__(self, *, has_anchors: bool) -> None:
        self.lines: dict[str, int] = {}
        self.has_anchors = has_anchors  # without anchors there are no aliases to count
        self.distinct: set[int] = set()
        self.visits = 0

    def build(self, node: Node, path: str | None, depth: int) -> Any:
        if path is None and not self.has_anchors:
            return _plain(node, depth)
        if self.has_anchors:
            self._count(node)
        if depth > MAX_DEPTH:
            raise YamlProblem(
                "M006", f"data nested deeper than {MAX_DEPTH} levels", _line(node),
                "flatten the structure",
            )
        if path is not None and path:
            self.lines.setdefault(path, _line(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if isinstance(node, SequenceNode):
            _check_tag(node, _SEQ)
            return [
                self.build(item, _child(path, f"[{i}]", depth), depth + 1)
                for i, item in enumerate(node.value)
            ]
        if isinstance(node, MappingNode):
            _check_tag(node, _MAP)
            return self._mapping(node, path, depth)
        raise YamlProblem("M006", f"unsupported YAML node {node.tag}", _line(node))

    def _count(self, node: Node) -> None:
        """Alias bombs: stop once the expanded tree outgrows the distinct nodes tenfold."""
        self.visits += 1
        self.distinct.add(id(node))
        if self.visits > ALIAS_EXPANSION_FACTOR * len(self.distinct) + ALIAS_EXPANSION_ALLOWANCE:
            raise YamlProblem(
                "M004",
                "aliases expand to far more data than the document holds (an alias bomb?)",
                _line(node),
                "write the data out instead of nesting aliases",
            )

    def _mapping(self, node: MappingNode, path: str | None, depth: int) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.update(self._merge_sources(value_node, path, depth))
                continue
            key = self._key(key_node)
            if key in first_line:
                self._duplicate(node, key_node, key)
            first_line[key] = _line(key_node)
            record = path is not None and not key.endswith("_schema")
            child = _child(path, key, depth) if record else None
            if child is not None:
                self.lines.setdefault(child, _line(key_node))
            result[key] = self.build(value_node, child, depth + 1)
            if path is not None and child is None:
                self.lines.setdefault(_join(path, key), _line(key_node))
        if merged:
            return {**merged, **result}
        return result

    def _merge_sources(self, node: Node, path: str | None, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win, as YAML's merge key says
            value = self.build(source, None, depth + 1)
            if not isinstance(value, dict):
                raise YamlProblem("M006", "a merge key (<<) needs a mapping", _line(source))
            merged.update(value)
        return merged

    @staticmethod
    def _duplicate(mapping: MappingNode, key_node: Node, key: str) -> None:
        first = next(k for k, _ in mapping.value if isinstance(k, ScalarNode) and k.value == key)
        raise YamlProblem(
            "M003",
            f"duplicate key '{key}' (first defined on line {_line(first)})",
            _line(key_node),
            "remove one of the two; YAML would silently keep only the last",
        )

    @staticmethod
    def _key(node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise YamlProblem(
                "M006", "a mapping key must be a plain string, not a list or mapping",
                _line(node),
            )
        key = _scalar(node)
        if not isinstance(key, str):
            raise YamlProblem(
                "M006",
                f"mapping key {node.value!r} is read as {type(key).__name__} {key!r}, "
                "but registry keys are strings",
                _line(node),
                f"quote it: '{node.value}':",
            )
        return key


def _plain(node: Node, depth: int) -> Any:
    """`_Builder.build` without line bookkeeping or alias counting, for the bulk of a tree
    whose lines are not recorded (JSON Schemas) in a document without anchors."""
    if depth > MAX_DEPTH:
        raise YamlProblem("M006", f"data nested deeper than {MAX_DEPTH} levels", _line(node),
                          "flatten the structure")
    if isinstance(node, ScalarNode):
        return node.value if node.tag == _STR else _scalar(node)
    if isinstance(node, SequenceNode):
        _check_tag(node, _SEQ)
        return [_plain(item, depth + 1) for item in node.value]
    if not isinstance(node, MappingNode):
        raise YamlProblem("M006", f"unsupported YAML node {node.tag}", _line(node))
    _check_tag(node, _MAP)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            return _Builder(has_anchors=True).build(node, None, depth)
        if isinstance(key_node, ScalarNode) and key_node.tag == _STR:
            key = key_node.value
        else:
            key = _Builder._key(key_node)
        if key in result:
            _Builder._duplicate(node, key_node, key)
        result[key] = _plain(value_node, depth + 1)
    return result


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _TAG + "str":
        return node.value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return _SCALARS.bool_values[node.value.lower()]
    if tag == _TAG + "int":
        try:
            number = _SCALARS.construct_yaml_int(node)
        except ValueError:  # YAML 1.1's int pattern admits `0b_`, `0x_`: no digits at all
            raise YamlProblem(
                "M006", f"{node.value} looks like a number but has no digits", _line(node),
                "write the number, or quote it to keep it as text",
            ) from None
        if abs(number) > MAX_INT:
            raise YamlProblem(
                "M006", f"integer {node.value} does not fit in 64 bits", _line(node),
                "quote it to keep it as text",
            )
        return number
    if tag == _TAG + "float":
        try:
            real: float = _SCALARS.construct_yaml_float(node)
        except ValueError:
            raise YamlProblem(
                "M006", f"{node.value} looks like a number but is not one", _line(node),
                "write the number, or quote it to keep it as text",
            ) from None
        if real != real or real in (float("inf"), float("-inf")):
            raise YamlProblem(
                "M006", f"{node.value} is not a finite number; JSON cannot hold it",
                _line(node), "use a finite number, or quote it to keep it as text",
            )
        return real
    if tag == _TAG + "timestamp":
        return node.value  # registries keep dates as the text written
    raise _unsupported_tag(node)


def _check_tag(node: Node, expected: str) -> None:
    """A list or mapping with a tag of its own (`!!set`, `!!python/object`) is refused: it
    would read as plain data here, but as something else to any other YAML reader."""
    if node.tag != expected:
        raise _unsupported_tag(node)


def _unsupported_tag(node: Node) -> YamlProblem:
    return YamlProblem(
        "M006",
        f"unsupported YAML tag {node.tag!r}",
        _line(node),
        "registries are JSON: use plain mappings, lists, strings, numbers, booleans and null",
    )


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and not key.startswith("[") else f"{path}{key}"


def _child(path: str | None, key: str, depth: int) -> str | None:
    if path is None or depth >= RECORD_DEPTH:
        return None
    return _join(path, key)


def parse_documents(text: str) -> tuple[list[ParsedDocument], YamlProblem | None]:
    """Every document of `text`; a problem stops the stream and is returned beside the
    documents read before it (empty documents are skipped, as kubectl does)."""
    if _ANCHOR.search(text) is None:
        try:
            return _from_events(text), None
        except Exception:  # whatever it was, the reference reader reads it or says why not
            pass
    return _from_nodes(text)


def _from_nodes(text: str) -> tuple[list[ParsedDocument], YamlProblem | None]:
    """The reference reader: libyaml composes each document's node tree, `_Builder` reads it."""
    documents: list[ParsedDocument] = []
    loader = _Loader(text)
    has_anchors = _ANCHOR.search(text) is not None
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(has_anchors=has_anchors)
            data = builder.build(node, "", 0)
            if data is None:
                continue
            documents.append(ParsedDocument(data, _line(node), builder.lines))
    except YamlProblem as problem:
        return documents, problem
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (error.context, error.problem) if part)
        return documents, YamlProblem("M001", f"YAML syntax error: {what}", line,
                                      "fix the YAML syntax at that line")
    except yaml.YAMLError as error:
        return documents, YamlProblem("M001", f"YAML error: {error}", None)
    except RecursionError:
        return documents, YamlProblem("M006", "YAML nested too deeply", None)
    finally:
        loader.dispose()
    return documents, None


class _Unusual(Exception):
    """Something `_from_events` leaves to the reference reader."""


Step = Callable[[], Any]


def _from_events(text: str) -> list[ParsedDocument]:
    """The documents of an anchor-free text, built from libyaml's events as they come.

    Composing a node tree first (a Python object and two marks per node, a resolver call
    per scalar) and walking it again cost more than libyaml's parsing itself. Raises on
    anything the reference reader must judge; when it returns, the documents are the
    reference reader's, lines included (a property test holds the two together)."""
    parser = CParser(text)
    try:
        step: Step = parser.get_event
        step()  # the stream's start
        documents: list[ParsedDocument] = []
        while type(step()) is not StreamEndEvent:  # a document's start
            first = step()
            lines: dict[str, int] = {}
            data = _lined(first, "", 0, lines, step)
            step()  # the document's end
            if data is not None:
                documents.append(ParsedDocument(data, first.start_mark.line + 1, lines))
        return documents
    finally:
        parser.dispose()


def _lined(event: Any, path: str, depth: int, lines: dict[str, int], step: Step) -> Any:
    """The value starting at `event`, recording the line of every path under `path` as
    `_Builder.build` does (down to `RECORD_DEPTH`; JSON Schemas only their own line)."""
    kind = type(event)
    if kind is ScalarEvent and depth <= MAX_DEPTH:
        return _scalar_event(event)
    if kind is MappingStartEvent and depth < MAX_DEPTH and event.tag is None:
        result: dict[str, Any] = {}
        event = step()
        while type(event) is not MappingEndEvent:
            key = _key_event(event, result)
            line = event.start_mark.line + 1
            event = step()
            if depth >= RECORD_DEPTH or key.endswith("_schema"):  # its own line only
                result[key] = _unlined(event, depth + 1, step)
                lines.setdefault(_join(path, key), line)
            else:
                child = f"{path}.{key}" if path and not key.startswith("[") else path + key
                lines.setdefault(child, line)
                result[key] = (_scalar_event(event) if type(event) is ScalarEvent
                               else _lined(event, child, depth + 1, lines, step))
            event = step()
        return result
    if kind is SequenceStartEvent and depth >= RECORD_DEPTH:
        return _unlined(event, depth, step)  # its items' lines are not recorded
    if kind is SequenceStartEvent and depth < MAX_DEPTH and event.tag is None:
        items: list[Any] = []
        event = step()
        while type(event) is not SequenceEndEvent:
            child = f"{path}[{len(items)}]"
            lines.setdefault(child, event.start_mark.line + 1)
            items.append(_scalar_event(event) if type(event) is ScalarEvent
                         else _lined(event, child, depth + 1, lines, step))
            event = step()
        return items
    raise _Unusual("an alias, a tag or deep nesting")


def _unlined(event: Any, depth: int, step: Step) -> Any:
    """`_lined` for a subtree whose lines are not recorded (`_plain`'s twin)."""
    kind = type(event)
    if kind is ScalarEvent and depth <= MAX_DEPTH:
        return _scalar_event(event)
    if kind is MappingStartEvent and depth < MAX_DEPTH and event.tag is None:
        result: dict[str, Any] = {}
        event = step()
        while type(event) is not MappingEndEvent:
            key = _key_event(event, result)
            event = step()
            result[key] = (_scalar_event(event) if type(event) is ScalarEvent
                           else _unlined(event, depth + 1, step))
            event = step()
        return result
    if kind is SequenceStartEvent and depth < MAX_DEPTH and event.tag is None:
        items: list[Any] = []
        event = step()
        while type(event) is not SequenceEndEvent:
            items.append(_scalar_event(event) if type(event) is ScalarEvent
                         else _unlined(event, depth + 1, step))
            event = step()
        return items
    raise _Unusual("an alias, a tag or deep nesting")


def _scalar_event(event: Any) -> Any:
    """A scalar's value: quoted ones and plain ones no implicit type can start with are
    text as they stand; the rest are typed by `_plain_scalar`."""
    if event.tag is not None:
        raise _Unusual("a tag")
    value: str = event.value
    if not event.implicit[0] or value and value[0] not in _TYPED_FIRST:
        return value
    return _plain_scalar(value)


def _key_event(event: Any, mapping: dict[str, Any]) -> str:
    """A mapping key new to `mapping`, as the reference reader accepts it."""
    if type(event) is not ScalarEvent:
        raise _Unusual("a key that is not a scalar")
    key = _scalar_event(event)
    if type(key) is not str or key in mapping:
        raise _Unusual("a key that is not a string, or a duplicate")
    return key


# The first characters of the texts an implicit (untagged, plain) scalar may be typed by:
# the resolver looks up its patterns by first character, so any other is a string.
_TYPED_FIRST = frozenset(
    first for first in yaml.resolver.Resolver.yaml_implicit_resolvers if first)
assert None not in yaml.resolver.Resolver.yaml_implicit_resolvers  # no catch-all pattern


@functools.lru_cache(maxsize=65_536)
def _plain_scalar(text: str) -> Any:
    """A plain scalar's value, as the reference reader gives it (a problem raises).
    Manifests repeat the same few (`true`, `0`, `null`): each is typed once."""
    tag = yaml.resolver.Resolver.resolve(_RESOLVER, ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return _scalar(ScalarNode(tag, text, _NO_MARK))  # (a problem's line: not needed here)


_NO_MARK = yaml.error.Mark("", 0, 0, 0, "", 0)
