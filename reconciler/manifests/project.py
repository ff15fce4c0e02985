"""The project file, `meshctl.yaml`: the environments one set of manifests serves (issue 25).

    environments:
      dev:
        manifests: [manifests/base, manifests/overlays/dev]
        store: registries-dev
      prod:
        manifests: [manifests/base, manifests/overlays/prod]
        store: postgresql://meshctl@db.internal/mesh
        deny_breaking: true

Each environment names its manifest layers (later ones patch earlier ones), its store (any
`--store` value) and the command-line options it fixes. Paths are relative to the file's
folder. Without a project file everything works as before. A problem is a ProjectError
naming the file and line and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import MeshctlError, did_you_mean
from reconciler.manifests import yamlparse
from reconciler.model import ids

FILE_NAME = "meshctl.yaml"

# The options an environment may fix, with their type: what the commands' flags set.
OPTIONS: dict[str, type] = {"deny_breaking": bool, "deny_access_widening": bool,
                            "prune": bool, "max_deletes": int}
KEYS = ("manifests", "store", *OPTIONS)


class ProjectError(MeshctlError):
    """The project file cannot be used; the message names its file and line."""


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    manifests: tuple[str, ...]  # the layers, in order, as paths from the working directory
    store: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""  # the project file, and the line of each layer in it
    layer_lines: tuple[int, ...] = ()

    def check_layers(self) -> None:
        """Each layer must be a folder: a typo must never read as an empty layer."""
        for index, layer in enumerate(self.manifests):
            if not Path(layer).is_dir():
                line = self.layer_lines[index] if index < len(self.layer_lines) else None
                what = "is not a folder" if Path(layer).exists() else "does not exist"
                raise ProjectError(
                    f"{self.file}:{line}: environment '{self.name}': layer '{layer}' {what}; "
                    "each layer is a folder of manifests (base first)")


@dataclass(frozen=True, slots=True)
class Project:
    file: Path
    environments: Mapping[str, Environment]

    def environment(self, name: str) -> Environment:
        found = self.environments.get(name)
        if found is None:
            names = sorted(self.environments)
            raise ProjectError(f"{self.file}: no environment '{name}'; "
                               f"{did_you_mean(name, names)}environments: "
                               f"{', '.join(names) or 'none'}")
        return found


def find(start: Path) -> Path | None:
    """`meshctl.yaml` in `start` or the nearest folder above it, stopping at the root of the
    git work tree (or of the file system)."""
    folder = start.resolve()
    while True:
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists() or folder.parent == folder:
            return None
        folder = folder.parent


def load(path: Path) -> Project:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: cannot be read: {error}") from error
    documents, problem = yamlparse.parse_documents(text)
    if problem is not None:
        raise ProjectError(f"{path}:{problem.line}: {problem.message}")
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise ProjectError(f"{path}: expected one mapping with 'environments'")
    document = documents[0]
    lines = document.lines

    def fail(at: str, message: str) -> ProjectError:
        return ProjectError(f"{path}:{lines.get(at, document.line)}: {message}")

    unknown = [key for key in document.data if key != "environments"]
    if unknown:
        raise fail(unknown[0], f"unknown key '{unknown[0]}'; "
                   f"{did_you_mean(unknown[0], ['environments'])}the file holds 'environments'")
    given = document.data.get("environments")
    if not isinstance(given, dict) or not given:
        raise fail("environments", "'environments' must map each environment's name to its "
                   "settings (manifests, store, ...)")
    folder = path.parent
    environments: dict[str, Environment] = {}
    for name, settings in given.items():
        at = f"environments.{name}"
        problem_with_name = ids.id_problem(name)
        if problem_with_name is not None:
            raise fail(at, f"environment name {name!r} {problem_with_name}")
        if not isinstance(settings, dict):
            raise fail(at, f"environment '{name}' must be a mapping with 'manifests'")
        for key in settings:
            if key not in KEYS:
                raise fail(f"{at}.{key}", f"environment '{name}': unknown key '{key}'; "
                           f"{did_you_mean(key, KEYS)}known: {', '.join(KEYS)}")
        layers = settings.get("manifests")
        if not isinstance(layers, list) or not layers or \
                not all(isinstance(layer, str) and layer for layer in layers):
            raise fail(f"{at}.manifests" if "manifests" in settings else at,
                       f"environment '{name}': 'manifests' must list its manifest folders, "
                       "base first (later layers patch earlier ones)")
        store = settings.get("store")
        if store is not None and not (isinstance(store, str) and store):
            raise fail(f"{at}.store", f"environment '{name}': 'store' must be a registries "
                       "folder or a postgresql:// URL")
        options: dict[str, Any] = {}
        for key, kind in OPTIONS.items():
            if key in settings:
                value = settings[key]
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise fail(f"{at}.{key}", f"environment '{name}': '{key}' must be "
                               f"{'true or false' if kind is bool else 'a whole number'}")
                options[key] = value
        layer_lines = tuple(lines.get(f"{at}.manifests[{i}]", document.line)
                            for i in range(len(layers)))
        environments[name] = Environment(
            name, tuple(_relative(folder, layer) for layer in layers),
            None if store is None else _store(folder, store), options, str(path), layer_lines)
    return Project(path, environments)


def _relative(folder: Path, layer: str) -> str:
    """`layer` from the working directory: as the user would type it, so messages name
    `manifests/base/...` rather than a long absolute path."""
    candidate = Path(layer)
    if candidate.is_absolute():
        return str(candidate)
    return os.path.relpath(folder / candidate)


def _store(folder: Path, store: str) -> str:
    """A folder relative to the project file's; a URL as it is."""
    if "://" in store:
        return store
    return _relative(folder, store)
