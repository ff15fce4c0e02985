"""How a later layer of manifests patches an earlier one (environments, issue 25): the two
patch forms a layer's document may carry, as pure functions over JSON values.

- A document for a resource an earlier layer has is a JSON merge patch (RFC 7396) of it:
  mappings merge key by key, a `null` removes the key, lists and scalars replace. Keys the
  target has keep their order; new ones follow in the patch's order.
- Its optional top-level `patches:` is a list of JSON Patch operations (RFC 6902) on the
  merged document, paths from its root (`/spec/capabilities/-`), applied by the `jsonpatch`
  library.

Neither ever substitutes `${...}`: AgentMesh's own files use such placeholders for the
runtime to fill, and they reach the registries byte for byte.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from reconciler.errors import MeshctlError


class PatchFailed(MeshctlError):
    """A JSON Patch operation does not apply (a path that is not there, a failed `test`,
    an operation that is not one); the message names the operation by its index."""


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with the RFC 7396 merge patch `patch` applied, as new values: neither
    argument is changed, and the result shares no mutable value with `patch`."""
    if not isinstance(patch, dict):
        return _copy(patch)
    merged: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def apply_operations(document: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """`document` with the RFC 6902 `operations` applied in order (all or none), as a new
    value. Raises PatchFailed naming the first operation that does not apply."""
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str) or \
                not isinstance(operation.get("path"), str):
            raise PatchFailed(f"patches[{index}] is not an operation: it needs 'op' and "
                              "'path' (RFC 6902: add, remove, replace, move, copy, test)")
    try:
        result = jsonpatch.JsonPatch(operations).apply(document, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise PatchFailed(f"{_which(operations, document)}: {error}") from error
    patched: dict[str, Any] = result
    return patched


def _which(operations: list[Any], document: dict[str, Any]) -> str:
    """The first operation that does not apply, as `patches[i] (op path)`."""
    current: Any = document
    for index, operation in enumerate(operations):
        try:
            current = jsonpatch.JsonPatch([operation]).apply(current, in_place=False)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            return f"patches[{index}] ({operation.get('op')} {operation.get('path')})"
    return "patches"


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
