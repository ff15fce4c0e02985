"""Reference rules: every id a resource names must exist in the same state.

The graph module knows which fields hold references; this module turns each dangling one
into a diagnostic that says what is available and what was probably meant.
"""

from __future__ import annotations

from reconciler import graph
from reconciler.errors import Diagnostic, did_you_mean
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState
from reconciler.validate.rules import diagnostic

CODE_BY_KIND = {Kind.MODEL_PROFILE: "R001", Kind.TOOL: "R002", Kind.AGENT: "R003",
                Kind.WORKFLOW: "R004", Kind.AUTH_PROFILE: "R005", Kind.CONNECTOR: "R006",
                Kind.SECURITY_POLICY: "R007"}
MAX_LISTED = 12

def check_references(state: MeshState, mesh_graph: graph.Graph,
                     known: MeshState | None = None) -> list[Diagnostic]:
    """Dangling references in `state`. A target in `known` counts as existing: the plan
    passes the live state there, so a reference to a live resource about to be pruned is
    left to the deletion rule (`usage`), which names every user, instead of failing here."""
    found: list[Diagnostic] = []
    for edge in mesh_graph.dangling():
        source = state.get(edge.source)
        if source is None or (known is not None and edge.target in known) or \
                edge.type in graph.CONTENT_EDGES:  # their own rules name what is missing
            continue
        target_kind = edge.target.kind
        names = [name for name in state.of_kind(target_kind) if name != edge.source.name
                 or target_kind is not edge.source.kind]  # never suggest itself
        label = kinds.info(target_kind).label
        message = (f"{source.key.describe()} refers to unknown {label} "
                   f"'{edge.target.name}' in {edge.path}; "
                   f"{did_you_mean(edge.target.name, names)}available: {_available(names)}")
        if not edge.enforced:
            found.append(diagnostic(
                "R009", source, edge.path, f"{message} (the feature is switched off, so "
                "the runtime does not use it yet)",
                f"declare {label} '{edge.target.name}' or fix the name before you switch "
                "the feature on"))
            continue
        found.append(diagnostic(CODE_BY_KIND[target_kind], source, edge.path, message,
                                f"declare {label} '{edge.target.name}', or fix the name"))
    return found


def _available(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(sorted(names)[:MAX_LISTED])
    return shown if len(names) <= MAX_LISTED else f"{shown} and {len(names) - MAX_LISTED} more"
