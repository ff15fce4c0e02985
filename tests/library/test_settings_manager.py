"""`RegistryManager` over the full upstream tree: upstream's read and update methods for the
system config, context engineering and the integration fabric, each write a plan through
the same rules as every other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import RegistryManager
from reconciler.errors import ChangeRejected, PreconditionFailed
from reconciler.model import specs
from reconciler.model.kinds import Kind
from tests.conftest import FULL_REGISTRIES, copy_tree


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return copy_tree(FULL_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def manager(full: Path) -> RegistryManager:
    registry = RegistryManager(str(full), watch=False)
    registry.load_all()
    return registry


def test_upstream_reads(manager: RegistryManager) -> None:
    system = manager.get_system_config()
    assert system is not None and system["orchestrator"]["max_iterations"] == 10
    connector = manager.get_connector("guidewire_claims")
    assert isinstance(connector, specs.ConnectorMetadata)
    assert connector.auth_profile == "gw_oauth" and connector.timeout_ms == 5000
    assert [p.profile_id for p in manager.list_auth_profiles()] == [
        "gw_oauth", "duckcreek_token", "socotra_api_key", "mainframe_service_account"]
    assert manager.get_security_policy("billing_pci_guard") is not None
    assert len(manager.list_security_policies()) == 2
    assert [w.workflow_id for w in manager.list_integration_workflows()] == [
        "billing_sync", "claim_fnol_sync", "claim_status_update", "integration_failure_drill"]
    config = manager.get_integration_config()
    assert config is not None and config.retry_policies[1].backoff_seconds == 0.25
    processors = manager.list_context_processors()
    assert [p.order for p in processors] == sorted(p.order for p in processors)
    assert manager.get_context_strategies() is not None


def test_a_document_read_is_the_callers_to_change(manager: RegistryManager) -> None:
    system = manager.get_system_config()
    assert system is not None
    system["workflow"]["max_agent_invocations"] = 99
    again = manager.get_system_config()
    assert again is not None and again["workflow"]["max_agent_invocations"] == 20


def test_update_system_config_writes_the_file_and_refuses_a_zero(
        full: Path, manager: RegistryManager) -> None:
    system = manager.get_system_config()
    assert system is not None
    version = manager.version(Kind.SYSTEM_CONFIG, "default")
    system["llm"]["max_retries"] = 5
    manager.update_system_config(system, expected_version=version)
    assert json.loads((full / "system_config.json").read_text())["llm"]["max_retries"] == 5
    with pytest.raises(PreconditionFailed):
        manager.update_system_config(system, expected_version=version)
    system["llm"]["max_retries"] = 0
    before = (full / "system_config.json").read_bytes()
    with pytest.raises(ChangeRejected, match="llm.max_retries is 0"):
        manager.update_system_config(system)
    assert (full / "system_config.json").read_bytes() == before


def test_update_connectors_and_auth_profiles_replace_the_lists(
        full: Path, manager: RegistryManager) -> None:
    connectors = manager.list_connectors()
    with pytest.raises(ChangeRejected, match="used by integration workflows billing_sync"):
        manager.update_connectors([c for c in connectors
                                   if c.connector_id != "socotra_billing"])
    changed = [c.model_copy(update={"timeout_ms": 6000}) if c.connector_id ==
               "mainframe_legacy" else c for c in connectors]
    manager.update_connectors(changed)
    saved = json.loads((full / "integration" / "connectors.json").read_text())
    assert [c["timeout_ms"] for c in saved["connectors"]] == [5000, 5000, 5000, 6000]
    assert '"tags": ["claims", "guidewire"]' in (full / "integration" /
                                                 "connectors.json").read_text()
    profiles = manager.list_auth_profiles()
    with pytest.raises(ChangeRejected, match="Cannot delete auth profile 'gw_oauth'"):
        manager.update_auth_profiles(profiles[1:])
    extra = {"profile_id": "new_key", "name": "New", "type": "api_key", "config": {}}
    manager.update_auth_profiles([*profiles, extra])
    assert manager.get_auth_profile("new_key") is not None


def test_integration_workflow_and_config_updates(full: Path,
                                                 manager: RegistryManager) -> None:
    flow = manager.get_integration_workflow("billing_sync")
    assert flow is not None
    body = flow.model_dump(mode="json", exclude_unset=True)
    body["steps"][0]["connector"] = "nope"
    with pytest.raises(ChangeRejected, match="unknown connector 'nope'"):
        manager.update_integration_workflow("billing_sync", body)
    body["steps"][0]["connector"] = "duckcreek_policy"
    manager.update_integration_workflow("billing_sync", body)
    written = json.loads((full / "integration/workflows/billing_sync.json").read_text())
    assert written["steps"][0]["connector"] == "duckcreek_policy"
    config = manager.get_integration_config()
    assert config is not None
    document = config.model_dump(mode="json", exclude_unset=True)
    document["retry_policies"] = document["retry_policies"][:1]
    with pytest.raises(ChangeRejected, match="retry policy 'aggressive'"):
        manager.update_integration_config(document)
