"""Live resources -> readable manifests: one YAML file per resource, in registry key order.

Called by `meshctl export`. Block style throughout, multi-line strings as literal blocks, so a
diff of a manifest reads like a diff of prose; re-reading the files gives the same data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ManifestError
from reconciler.fsutil import write_atomically
from reconciler.model import fields, ids, kinds
from reconciler.model.kinds import API_VERSION, Kind
from reconciler.model.resource import Resource

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ManifestDumper(_BaseDumper):  # type: ignore[misc]
    """Safe dumper that writes multi-line strings as literal blocks."""


# Plain scalars a YAML 1.2 reader (ruamel, Go's yaml.v3, yq) takes for a number, a boolean or
# null, where PyYAML's 1.1 rules see a string (`0E0`, `0o17`, `1e3`): quoted, so the
# manifest means the same string to every reader and to `meshctl fmt`.
_NOT_A_STRING_IN_YAML_1_2 = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|~|null|Null|NULL|true|True|TRUE|false|False|FALSE")


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else (
        "'" if _NOT_A_STRING_IN_YAML_1_2.fullmatch(value) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


# Long strings are never folded over several lines: a one-word edit is then a one-line diff.
NO_FOLDING = 1 << 30


def spec_order(kind: Kind, names: Iterable[str]) -> list[str]:
    """A spec's keys in the canonical order: the registry's own field order (as
    `model.fields` declares it), then any other key as written (`meshctl fmt` uses it too)."""
    given = list(names)
    known = [name for name in fields.names(kind) if name in given]
    return known + [name for name in given if name not in known]


def manifest_document(resource: Resource) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": resource.name}
    if resource.labels:
        metadata["labels"] = dict(resource.labels)
    if resource.annotations:
        metadata["annotations"] = dict(resource.annotations)
    spec = resource.spec
    return {"apiVersion": API_VERSION, "kind": resource.kind.value, "metadata": metadata,
            "spec": {name: spec[name] for name in spec_order(resource.kind, spec)}}


def render_manifest(resource: Resource) -> str:
    text: str = yaml.dump(manifest_document(resource), Dumper=_ManifestDumper,
                          sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=NO_FOLDING, indent=2)
    return text


def scalar_style(value: str) -> str:
    """The quoting `render_manifest` gives a string value: '' (plain), "'", '"' or '|'."""
    text: str = yaml.dump(value, Dumper=_ManifestDumper, allow_unicode=True,
                          width=NO_FOLDING)
    first = text[:1]
    return first if first in ("'", '"', "|") else ""


def manifest_path(out: Path, resource: Resource) -> Path:
    return out / kinds.info(resource.kind).plural / f"{resource.name}.yaml"


def export_resources(resources: Iterable[Resource], out: Path,
                     progress: Callable[[Resource], None] | None = None) -> list[Path]:
    """Write each resource's manifest (replacing an older one atomically); return the paths.

    Ids become file names, so every id is checked first and nothing is written when one is
    unsafe (`../x`, `a/b`): an id from a damaged registry must never write outside `out`.
    """
    resources = list(resources)
    unsafe = [f"{r.key.describe()}: id {ids.id_problem(r.name)}" for r in resources
              if ids.id_problem(r.name) is not None]
    if unsafe:
        raise ManifestError("cannot export resources whose id is not a safe file name "
                            "(nothing was written):\n  " + "\n  ".join(unsafe))
    try:  # every folder first: a target that cannot be written fails before any file is
        for folder in sorted({manifest_path(out, r).parent for r in resources}):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ManifestError(f"cannot create {error.filename or out}: "
                            f"{error.strerror or error}; nothing was written") from error
    written: list[Path] = []
    for resource in resources:
        path = manifest_path(out, resource)
        try:
            write_atomically(path, render_manifest(resource).encode(), mode=0o644)
        except OSError as error:
            raise ManifestError(f"cannot write {path}: {error.strerror or error} (after "
                                f"{len(written)} of {len(resources)} files)") from error
        written.append(path)
        if progress is not None:
            progress(resource)
    return written
