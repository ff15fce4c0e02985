"""The live-registry rule: an entry the AgentMesh runtime would skip is reported.

The runtime validates each entry with its own models and skips (with a log line) one that
lacks a field it requires or holds one of the wrong type; meshctl never writes such an
entry, but a hand edit or an older tool may have. Reported where registries are read
(plan, get, describe, serve, the library's `stats()`); applying a manifest repairs it.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.errors import Diagnostic
from reconciler.model import fields, kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource
from reconciler.validate.rules import diagnostic

# What the runtime does with a one-document kind it cannot load (it skips a list entry).
WHAT_THE_RUNTIME_DOES = {
    Kind.SYSTEM_CONFIG: "upstream's system-config API answers 500 on it",
    Kind.INTEGRATION_CONFIG: "the integration fabric replaces it with an empty config "
                             "(version 0.0, no retry policies)",
}


def unloadable_entries(resources: Iterable[Resource]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in resources:
        problems = fields.unloadable(resource.kind, resource.entry)
        if problems:
            file = kinds.info(resource.kind).registry_file
            found.append(diagnostic(
                "L007", resource, None,
                f"{resource.key.describe()} is not loaded by the AgentMesh runtime "
                f"({'; '.join(problems)}): "
                f"{WHAT_THE_RUNTIME_DOES.get(resource.kind, 'it skips the entry')}",
                f"apply a manifest for it (meshctl export writes one to start from) or fix "
                f"the entry in {file}"))
    return found
