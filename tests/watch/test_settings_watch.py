"""The watch loop over the full upstream tree: an edit of a settings manifest is synced, a
change made elsewhere is drift (and self-heal reverts it), as for every other kind."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler import RegistryManager
from reconciler.watch.controller import Controller
from tests.conftest import FULL_REGISTRIES, copy_tree, eventually, save
from tests.watch.test_controller import revisions_by, running, status


def exported(registries: Path, out: Path) -> Path:
    from reconciler.cli import main

    assert main(["export", "--registries", str(registries), "--out", str(out)]) == 0
    return out


def test_a_settings_edit_is_synced_and_a_foreign_change_is_healed(tmp_path: Path) -> None:
    registries = copy_tree(FULL_REGISTRIES, tmp_path / "registries")
    manifests = exported(registries, tmp_path / "manifests")
    connectors = registries / "integration" / "connectors.json"
    with running(Controller([str(manifests)], registries, interval=300.0, debounce=0.05,
                            self_heal=True)) as controller:
        assert controller.last_report.result == "in_sync"
        path = manifests / "connectors" / "guidewire_claims.yaml"
        save(path, path.read_text().replace("qps_limit: 25", "qps_limit: 35"))
        assert eventually(lambda: json.loads(connectors.read_text())["connectors"][0][
            "scaling"]["qps_limit"] == 35)
        manager = RegistryManager(registries, watch=False)
        manager.load_all()
        system = manager.get_system_config()
        assert system is not None
        system["llm"]["max_retries"] = 7
        manager.update_system_config(system)
        assert eventually(lambda: json.loads((registries / "system_config.json").read_text())[
            "llm"]["max_retries"] == 3)
        assert eventually(lambda: status(registries)["drifted"] == [])
    synced, healed = revisions_by(registries, "watch")
    assert [(c["kind"], c["name"]) for c in synced["changes"]] == [
        ("Connector", "guidewire_claims")]
    assert [(c["kind"], c["name"]) for c in healed["changes"]] == [("SystemConfig", "default")]
