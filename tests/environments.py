"""A project with environments, for the tests of issue 25: the upstream fixture (with its
integration files, whose `${GW_BASE_URL}` placeholders must survive) exported as the base,
and dev and prod overlays over it, each environment with its own registries folder.

    project/
      meshctl.yaml
      manifests/base/...                (meshctl export of the full fixture)
      manifests/overlays/dev/agents.yaml
      manifests/overlays/prod/...
      registries-dev/  registries-prod/ (copies of the fixture: live = base)
"""

from __future__ import annotations

from pathlib import Path

from reconciler import engine
from reconciler.manifests import export as exporter
from tests.conftest import FULL_REGISTRIES, copy_tree, dedent, write

PROJECT = """\
environments:
  dev:
    manifests: [manifests/base, manifests/overlays/dev]
    store: registries-dev
  prod:
    manifests: [manifests/base, manifests/overlays/prod]
    store: registries-prod
    deny_breaking: true
"""

# dev: a cheaper model, one more capability (a list edit by JSON Patch), a dev-only agent.
DEV_AGENTS = """\
apiVersion: agentmesh.io/v1
kind: Agent
metadata:
  name: fraud_agent
  labels: {tier: dev}
spec:
  max_iterations: 3
patches:
  - op: add
    path: /spec/capabilities/-
    value: experimental_scoring
"""

# prod: the real Guidewire base URL (the base keeps the runtime's placeholder).
PROD_CONNECTORS = """\
apiVersion: agentmesh.io/v1
kind: Connector
metadata:
  name: guidewire_claims
spec:
  base_url: https://claims.example.com/gw
"""


def make_project(root: Path) -> Path:
    """The project above under `root`; returns `root`."""
    copy_tree(FULL_REGISTRIES, root / "registries-dev")
    copy_tree(FULL_REGISTRIES, root / "registries-prod")
    live = engine.load_live(root / "registries-dev")
    exporter.export_resources(live.state, root / "manifests" / "base")
    write(root / "meshctl.yaml", PROJECT)
    write(root / "manifests" / "overlays" / "dev" / "agents.yaml", DEV_AGENTS)
    write(root / "manifests" / "overlays" / "prod" / "connectors.yaml", PROD_CONNECTORS)
    return root


__all__ = ["DEV_AGENTS", "PROD_CONNECTORS", "PROJECT", "dedent", "make_project"]
