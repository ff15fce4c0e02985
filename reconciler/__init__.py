"""meshctl: GitOps for AgentMesh registries.

The public surface of the package; everything else is internal and may change. Names load
on first use (PEP 562), so `meshctl` starts without building the pydantic models a warm,
cached run never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "RegistryManager": "reconciler.library",
    "ChangeRejected": "reconciler.errors",
    "ResourceNotFound": "reconciler.errors",
    "ResourceInUse": "reconciler.errors",
    "BreakingChange": "reconciler.errors",
    "AccessWidening": "reconciler.errors",
    "EntryChange": "reconciler.library",
    "PreconditionFailed": "reconciler.errors",
    "DesiredState": "reconciler.engine",
    "load_desired": "reconciler.engine",
    "load_live": "reconciler.engine",
    "validate_live": "reconciler.engine",
    "Diagnostic": "reconciler.errors",
    "ManifestError": "reconciler.errors",
    "MeshctlError": "reconciler.errors",
    "Severity": "reconciler.errors",
    "StoreError": "reconciler.errors",
    "UsageError": "reconciler.errors",
    "ValidationFailed": "reconciler.errors",
    "Kind": "reconciler.model.kinds",
    "MeshState": "reconciler.model.resource",
    "Resource": "reconciler.model.resource",
    "ResourceKey": "reconciler.model.resource",
    "Source": "reconciler.model.resource",
    "AgentMetadata": "reconciler.model.specs",
    "GovernancePolicies": "reconciler.model.specs",
    "GovernancePolicy": "reconciler.model.specs",
    "ModelProfile": "reconciler.model.specs",
    "ToolMetadata": "reconciler.model.specs",
    "WorkflowDefinition": "reconciler.model.specs",
    "WorkflowStep": "reconciler.model.specs",
    "LiveState": "reconciler.store",
}

__all__ = [
    "AccessWidening",
    "AgentMetadata",
    "BreakingChange",
    "ChangeRejected",
    "DesiredState",
    "Diagnostic",
    "EntryChange",
    "GovernancePolicies",
    "GovernancePolicy",
    "Kind",
    "LiveState",
    "ManifestError",
    "MeshState",
    "MeshctlError",
    "ModelProfile",
    "PreconditionFailed",
    "RegistryManager",
    "Resource",
    "ResourceInUse",
    "ResourceKey",
    "ResourceNotFound",
    "Severity",
    "Source",
    "StoreError",
    "ToolMetadata",
    "UsageError",
    "ValidationFailed",
    "WorkflowDefinition",
    "WorkflowStep",
    "load_desired",
    "load_live",
    "validate_live",
]

if TYPE_CHECKING:
    from reconciler.engine import DesiredState, load_desired, load_live, validate_live
    from reconciler.errors import (
        AccessWidening,
        BreakingChange,
        ChangeRejected,
        Diagnostic,
        ManifestError,
        MeshctlError,
        PreconditionFailed,
        ResourceInUse,
        ResourceNotFound,
        Severity,
        StoreError,
        UsageError,
        ValidationFailed,
    )
    from reconciler.library import EntryChange, RegistryManager
    from reconciler.model.kinds import Kind
    from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
    from reconciler.model.specs import (
        AgentMetadata,
        GovernancePolicies,
        GovernancePolicy,
        ModelProfile,
        ToolMetadata,
        WorkflowDefinition,
        WorkflowStep,
    )
    from reconciler.store import LiveState


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
