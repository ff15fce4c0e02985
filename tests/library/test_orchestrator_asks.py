"""What a write makes of the orchestrator's long allowed_agents list (10,000 names at
100,000 agents) is kept between writes for as long as neither the orchestrator nor the
rules that decide for it change (`validate.access_rules`); these writes, on PostgreSQL,
show that each change of either is judged anew, as before the list was kept."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager
from reconciler.errors import ChangeRejected
from reconciler.store import import_files, open_store
from tests.conftest import FIXTURE_REGISTRIES

ORCHESTRATOR = "orchestrator_agent"


@pytest.fixture
def manager(pg_url: str, tmp_path: Path) -> Any:
    """A manager of the example mesh on PostgreSQL, whose orchestrator also lists, and whose
    rules let it invoke, 'newcomer' and 'latecomer': agents that do not exist yet."""
    folder = tmp_path / "registries"
    shutil.copytree(FIXTURE_REGISTRIES, folder)
    edit(folder / "agent_registry.json", lambda registry: next(
        a for a in registry["agents"] if a["agent_id"] == ORCHESTRATOR))
    edit(folder / "governance_policies.json", lambda document: document["policies"][
        "agent_invocation_access"]["rules"][0])
    import_files(open_store(pg_url), folder)
    found = RegistryManager(store=open_store(pg_url), watch=False)
    found.load_all()
    yield found
    found.close()


def edit(path: Path, holder: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The two added to the allowed_agents of what `holder` finds in the file."""
    document = json.loads(path.read_text())
    holder(document)["allowed_agents"].extend(["newcomer", "latecomer"])
    path.write_text(json.dumps(document))


def agent(manager: RegistryManager, name: str) -> dict[str, Any]:
    """A new agent shaped as the intake agent, asking for no tool."""
    model = manager.get_agent("intake_agent")
    assert model is not None
    return {**model.model_dump(mode="json", exclude_unset=True), "agent_id": name,
            "allowed_tools": []}


def without(manager: RegistryManager, name: str) -> dict[str, Any]:
    """The governance document with `name` gone from the orchestrator's rule."""
    document = manager.get_governance_policies()
    assert document is not None
    policies = copy.deepcopy(document.model_dump(mode="json", exclude_unset=True))
    rule = policies["policies"]["agent_invocation_access"]["rules"][0]
    assert rule["agent_id"] == ORCHESTRATOR
    rule["allowed_agents"].remove(name)
    return policies


def test_a_create_is_judged_by_the_rules_for_the_orchestrator_as_they_are_now(
        manager: RegistryManager) -> None:
    manager.create_agent(agent(manager, "bystander"))  # not listed: nothing to decide
    manager.create_agent(agent(manager, "newcomer"))  # listed and allowed
    with pytest.raises(ChangeRejected, match="lists agent 'newcomer' in allowed_agents"):
        manager.update_governance_policies(without(manager, "newcomer"))
    manager.update_governance_policies(without(manager, "latecomer"))  # (not there yet)
    with pytest.raises(ChangeRejected, match="lists agent 'latecomer' in allowed_agents"):
        manager.create_agent(agent(manager, "latecomer"))  # listed, and no longer allowed
    assert manager.get_agent("latecomer") is None
    assert manager.get_agent("newcomer") is not None


def test_an_orchestrator_that_stops_listing_an_agent_a_workflow_runs_is_refused(
        manager: RegistryManager) -> None:
    fraud = manager.get_agent("fraud_agent")
    assert fraud is not None
    manager.update_agent("fraud_agent", {**fraud.model_dump(mode="json", exclude_unset=True),
                                         "description": "looked at with the list kept"})
    orchestrator = manager.get_agent(ORCHESTRATOR)
    assert orchestrator is not None
    entry = orchestrator.model_dump(mode="json", exclude_unset=True)
    entry["allowed_agents"] = [a for a in entry["allowed_agents"] if a != "fraud_agent"]
    with pytest.raises(ChangeRejected, match="runs agent 'fraud_agent'"):
        manager.update_agent(ORCHESTRATOR, entry)
    manager.update_agent("fraud_agent", {**fraud.model_dump(mode="json", exclude_unset=True),
                                         "description": "still runs"})
