"""The resource model: kinds, ids, resources, snapshots and the registry entry models."""

from reconciler.model.kinds import API_VERSION, KIND_ORDER, KINDS, ORCHESTRATOR_ID, Kind, KindInfo
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source

__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_ORDER",
    "ORCHESTRATOR_ID",
    "Kind",
    "KindInfo",
    "MeshState",
    "Resource",
    "ResourceKey",
    "Source",
]
