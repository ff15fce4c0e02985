"""`meshctl fmt`: manifests rewritten in the layout `meshctl export` writes, comments kept.

The canonical layout: `apiVersion`, `kind`, `metadata` (`name`, `labels`, `annotations`),
`spec` in the registry's field order (then other keys as written); block style throughout;
multi-line strings as literal blocks; every string quoted exactly as export quotes it;
long strings never folded. ruamel.yaml does the round trip, because it keeps comments
(attached to the keys they precede, they move with them). A formatted file is read back
and must declare exactly what the original did, or it is not written: formatting can
never change what a manifest means.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Diagnostic, Severity
from reconciler.manifests import export, loader
from reconciler.manifests.yamlparse import parse_documents
from reconciler.model.kinds import Kind

TOP = ("apiVersion", "kind", "metadata", "spec")
METADATA = ("name", "labels", "annotations")


@dataclass(frozen=True, slots=True)
class Formatted:
    """One file's outcome: its new text (None when it cannot be formatted) and why not."""

    text: str | None
    problems: list[Diagnostic]


def format_text(text: str, file: str) -> Formatted:
    """`text` in the canonical layout. Files with errors are left alone (their problems
    are returned), as is a file whose formatting would change its meaning."""
    before = loader.parse_manifest(text.encode("utf-8"), file=file)
    # An overlay's patch (M016 outside a layered load) is formatted like any document.
    errors = [d for d in before.diagnostics
              if d.is_error and d.code.startswith("M") and d.code != "M016"]
    if errors:
        return Formatted(None, errors)
    if len(before.resources) == 1 and text == export.render_manifest(before.resources[0]):
        return Formatted(text, [])  # already what export writes (and so no comments either)
    formatted = reformat(text)
    if _meaning(formatted) != _meaning(text):
        problem = Diagnostic("M001", Severity.ERROR, "formatting would change what the file "
                             "declares; it was left as it is (please report this)", file)
        return Formatted(None, [problem])
    return Formatted(formatted, [])


def reformat(text: str) -> str:
    """The round trip itself: `text` (valid YAML) in the canonical layout, comments kept."""
    yaml = _round_trip()
    documents = list(yaml.load_all(text))
    for document in documents:
        _canonical(document)
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def _meaning(text: str) -> list[Any]:
    """What the documents hold, as data (key order aside): formatting must keep it."""
    documents, _ = parse_documents(text)
    return [document.data for document in documents]


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = export.NO_FOLDING
    yaml.preserve_quotes = False
    yaml.allow_unicode = True
    yaml.representer.add_representer(type(None), _null)
    return yaml


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _canonical(document: Any) -> None:
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(document, CommentedMap):
        return
    _order(document, TOP)
    metadata = document.get("metadata")
    if isinstance(metadata, CommentedMap):
        _order(metadata, METADATA)
    spec = document.get("spec")
    kind = _kind(document.get("kind"))
    if isinstance(spec, CommentedMap) and kind is not None:
        _order(spec, export.spec_order(kind, list(spec)))
    _block(document)


def _kind(value: Any) -> Kind | None:
    try:
        return Kind(str(value))
    except ValueError:
        return None


def _order(mapping: Any, first: Any) -> None:
    """Put `first`'s keys first, in that order; the rest keep theirs (their comments move
    with them: ruamel keeps a key's comments by key)."""
    wanted = [key for key in first if key in mapping]
    rest = [key for key in mapping if key not in wanted]
    for key in wanted + rest:
        mapping.move_to_end(key)


def _block(node: Any) -> None:
    """Block style everywhere, scalars as export writes them."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        node.fa.set_block_style()
        _quote_keys(node)
        for key in list(node):
            node[key] = _scalar(node[key])
            _block(node[key])
    elif isinstance(node, CommentedSeq):
        node.fa.set_block_style()
        for index, item in enumerate(node):
            node[index] = _scalar(item)
            _block(node[index])


def _quote_keys(mapping: Any) -> None:
    """Quote the keys export would quote (`'yes':`, `'1':`): ruamel writes YAML 1.2, where
    `yes` is a string, but manifests are read as YAML 1.1, where it is a boolean. A key is
    replaced by an equal string that remembers its quotes, so its comments (kept by key)
    stay with it."""
    quoted = {key: _scalar(key) for key in mapping if isinstance(key, str)
              and export.scalar_style(key) in ("'", '"')}
    if not quoted:
        return
    comments = dict(mapping.ca.items)
    items = list(mapping.items())
    for key, _ in items:
        del mapping[key]
    for key, value in items:
        mapping[quoted.get(key, key)] = value
    mapping.ca.items.clear()
    mapping.ca.items.update(comments)


def _scalar(value: Any) -> Any:
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)  # 0x10, 1_000: written as export writes numbers
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        style = export.scalar_style(str(value))
        plain = str(value)
        if style == "|":
            return LiteralScalarString(plain)
        if style == "'":
            return SingleQuotedScalarString(plain)
        if style == '"':
            return DoubleQuotedScalarString(plain)
        return plain
    return value
