"""The whole of a current AgentMesh checkout under meshctl (issue 18): system settings,
context engineering and the integration fabric, on the real files of the upstream tree.

Export, validate, plan and apply through the CLI on real files; an edit of one field of
each new kind changes that value's bytes and nothing else; every rule shows its manifest's
file and line; and a setup whose manifests predate these kinds plans exactly as before.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURE_MANIFESTS,
    FIXTURE_REGISTRIES,
    FULL_REGISTRIES,
    CliResult,
    copy_tree,
    manifest,
    write,
)

Run = Callable[..., CliResult]

# One edit of a manifest per new kind: (manifest, text before, text after, registry file,
# the file's line before, the line after).
EDITS = [
    ("system-config/default.yaml", "max_agent_invocations: 20", "max_agent_invocations: 25",
     "system_config.json", '"max_agent_invocations": 20,', '"max_agent_invocations": 25,'),
    ("context-strategies/default.yaml", "token_threshold: 8000", "token_threshold: 9000",
     "context_strategies.json", '"token_threshold": 8000,', '"token_threshold": 9000,'),
    ("context-processors/transformer.yaml", "enabled: true", "enabled: false",
     "context_processor_pipeline.json", '"enabled": true,', '"enabled": false,'),
    ("auth-profiles/duckcreek_token.yaml", "every_24h", "every_48h",
     "integration/auth_profiles.json", '"rotation_policy": "every_24h"',
     '"rotation_policy": "every_48h"'),
    ("security-policies/claims_pii_masking.yaml", "action: drop", "action: redact",
     "integration/security_policies.json", '{"field": "medical_notes", "action": "drop"}',
     '{"field": "medical_notes", "action": "redact"}'),
    ("integration-config/default.yaml", "max_attempts: 5", "max_attempts: 6",
     "integration/system_config.json", '"max_attempts": 5,', '"max_attempts": 6,'),
    ("connectors/guidewire_claims.yaml", "qps_limit: 25", "qps_limit: 30",
     "integration/connectors.json", '"qps_limit": 25,', '"qps_limit": 30,'),
    ("integration-workflows/billing_sync.yaml", "max_latency_ms: 2500", "max_latency_ms: 3000",
     "integration/workflows/billing_sync.json", '"max_latency_ms": 2500,',
     '"max_latency_ms": 3000,'),
]
NEW_KINDS = ("system-config", "context-strategies", "context-processors", "auth-profiles",
             "security-policies", "integration-config", "connectors", "integration-workflows")


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return copy_tree(FULL_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def exported(full: Path, meshctl: Run, tmp_path: Path) -> Path:
    out = tmp_path / "manifests"
    result = meshctl("export", "--registries", full, "--out", out)
    assert result.code == 0, result.output
    return out


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))
            if ".meshctl" not in p.parts}


def changed_lines(before: bytes, after: bytes) -> list[str]:
    return [line for line in difflib.unified_diff(
        before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_export_validate_and_plan_the_full_tree(exported: Path, full: Path,
                                                meshctl: Run) -> None:
    for plural in NEW_KINDS:
        assert list((exported / plural).glob("*.yaml")), plural
    assert [p.name for p in (exported / "system-config").iterdir()] == ["default.yaml"]
    validated = meshctl("validate", exported, "-o", "json")
    assert validated.code == 0, validated.output
    report = json.loads(validated.out)
    assert report["errors"] == 0
    # The real data names a summarization model that does not exist, with summarization
    # off: a warning, with the manifest's line.
    assert any(d["code"] == "R009" and d["file"].endswith("context-strategies/default.yaml")
               and d["line"] for d in report["diagnostics"])
    planned = meshctl("plan", exported, "--registries", full, "--detailed-exitcode")
    assert planned.code == 0, planned.output
    assert "No changes." in planned.out


def test_one_field_of_each_new_kind_changes_that_value_only(exported: Path, full: Path,
                                                            meshctl: Run) -> None:
    # revision 1: a change outside the new kinds, for the rollback below to return to
    agent = exported / "agents" / "fraud_agent.yaml"
    agent.write_text(agent.read_text().replace("max_iterations: 5", "max_iterations: 6"))
    assert meshctl("apply", exported, "--registries", full, "--auto-approve").code == 0
    before = files(full)
    for relative, old, new, *_ in EDITS:
        path = exported / relative
        text = path.read_text()
        assert text.count(old) == 1, relative
        path.write_text(text.replace(old, new))
    planned = meshctl("plan", exported, "--registries", full)
    assert "Plan: 0 to create, 8 to update, 0 to delete, 0 refused." in planned.out
    assert "~ system-config/default" in planned.out  # one document: an update, in place
    applied = meshctl("apply", exported, "--registries", full, "--auto-approve")
    assert applied.code == 0, applied.output
    after = files(full)
    expected = {registry: [f"-{line_before}", f"+{line_after}"]
                for *_, registry, line_before, line_after in EDITS}
    for name in before:
        diff = [line.strip() for line in changed_lines(before[name], after[name])
                if "last_updated" not in line]
        wanted = [line[0] + "    " + line[1:] for line in expected.get(name, [])]
        assert [d.replace(" ", "") for d in diff] == [w.replace(" ", "") for w in wanted], name
    # system_config.json keeps its own stamp up to date, as upstream's writer does
    stamp = changed_lines(before["system_config.json"], after["system_config.json"])
    assert any("last_updated" in line for line in stamp)
    assert meshctl("plan", exported, "--registries", full, "--detailed-exitcode").code == 0
    # and the history takes it all back, byte for byte
    back = meshctl("rollback", "1", "--registries", full, "--auto-approve")
    assert back.code == 0, back.output
    restored = files(full)
    for name in before:
        assert [line for line in changed_lines(before[name], restored[name])
                if "last_updated" not in line] == [], name


@pytest.mark.parametrize(("relative", "old", "new", "code", "line_text"), [
    ("connectors/guidewire_claims.yaml", "auth_profile: gw_oauth", "auth_profile: gw_oath",
     "R005", "auth_profile: gw_oath"),
    ("integration-workflows/billing_sync.yaml", "connector: socotra_billing",
     "connector: socotra", "R006", "connector: socotra"),
    ("integration-workflows/billing_sync.yaml", "policy: billing_pci_guard",
     "policy: pci", "R007", "policy: pci"),
    ("connectors/mainframe_legacy.yaml", "retry_policy_id: aggressive",
     "retry_policy_id: eager", "R008", "retry_policy_id: eager"),
    ("context-strategies/default.yaml", "      enabled: false\n      model_profile_id",
     "      enabled: true\n      model_profile_id", "R001", "model_profile_id"),
    ("context-processors/injector.yaml", "name: injector", "name: reranker", "C001",
     "name: reranker"),
    ("context-processors/injector.yaml", "order: 7", "order: 6", "C002", "order: 6"),
    ("context-strategies/default.yaml", "observations_percentage: 20",
     "observations_percentage: 25", "C003", "default_budget_allocation:"),
    ("system-config/default.yaml", "max_retries: 3", "max_retries: 0", "C004",
     "max_retries: 0"),
    ("connectors/guidewire_claims.yaml", "timeout_ms: 5000", "timeout_ms: -1", "S003",
     "timeout_ms: -1"),
    ("integration-workflows/billing_sync.yaml", "type: audit_event", "type: audit", "C005",
     "type: audit"),
    ("system-config/default.yaml", "name: default", "name: main", "M015", "name: main"),
])
def test_each_rule_names_the_manifest_line(exported: Path, full: Path, meshctl: Run,
                                           relative: str, old: str, new: str, code: str,
                                           line_text: str) -> None:
    path = exported / relative
    text = path.read_text()
    assert old in text
    if code == "C001":  # a renamed processor: its file too
        path.unlink()
        path = exported / "context-processors" / "reranker.yaml"
    path.write_text(text.replace(old, new, 1))
    before = files(full)
    result = meshctl("plan", exported, "--registries", full, "-o", "json")
    report = json.loads(result.out)
    found = [d for d in report.get("diagnostics", report.get("warnings", []))
             if d["code"] == code]
    assert found, result.out
    lines = path.read_text().splitlines()
    for diagnostic in found:
        assert diagnostic["file"] == str(path) or code == "C002"
        if diagnostic["file"] == str(path):
            assert line_text in lines[diagnostic["line"] - 1], diagnostic
        assert diagnostic["hint"]
    assert files(full) == before


def test_in_use_deletes_are_refused_naming_every_user(exported: Path, full: Path,
                                                      meshctl: Run) -> None:
    (exported / "auth-profiles" / "gw_oauth.yaml").unlink()
    (exported / "security-policies" / "billing_pci_guard.yaml").unlink()
    result = meshctl("plan", exported, "--registries", full)
    assert result.code != 0 or "refused" in result.out
    connector = exported / "connectors" / "guidewire_claims.yaml"
    line = next(n for n, text in enumerate(connector.read_text().splitlines(), 1)
                if "auth_profile:" in text)
    assert (f"Cannot delete auth profile 'gw_oauth': used by connectors guidewire_claims "
            f"({connector}:{line})") in result.out
    assert "Cannot delete security policy 'billing_pci_guard': used by integration " \
           "workflows billing_sync" in result.out
    before = files(full)
    assert meshctl("apply", exported, "--registries", full, "--auto-approve").code != 0
    assert files(full) == before


def test_a_model_profile_context_compaction_names_cannot_be_deleted(
        exported: Path, full: Path, meshctl: Run) -> None:
    strategies = exported / "context-strategies" / "default.yaml"
    strategies.write_text(strategies.read_text().replace("summarization_gpt35", "gpt4"))
    assert meshctl("apply", exported, "--registries", full, "--auto-approve").code == 0
    (exported / "model-profiles" / "gpt4.yaml").unlink()
    result = meshctl("plan", exported, "--registries", full)
    assert "Cannot delete model profile 'gpt4': used by" in result.out
    assert "context strategies default" in result.out


def test_removing_a_retry_policy_in_use_is_an_error(exported: Path, full: Path,
                                                    meshctl: Run) -> None:
    config = exported / "integration-config" / "default.yaml"
    text = config.read_text()
    cut = text.index("  - policy_id: aggressive")
    config.write_text(text[:cut] + text[text.index("  features:"):])
    result = meshctl("plan", exported, "--registries", full, "-o", "json")
    found = {(d["code"], Path(d["file"]).name) for d in json.loads(result.out)["diagnostics"]
             if d["file"]}
    assert ("R008", "mainframe_legacy.yaml") in found
    assert ("R008", "integration_failure_drill.yaml") in found


def test_manifests_without_the_new_kinds_leave_their_files_alone(full: Path,
                                                                 meshctl: Run) -> None:
    """An older setup (manifests for the first five kinds) against a current tree: no
    change planned, nothing pruned, every new file byte for byte as it was."""
    before = files(full)
    result = meshctl("plan", FIXTURE_MANIFESTS, "--registries", full, "--detailed-exitcode")
    assert result.code == 0, result.output
    assert meshctl("apply", FIXTURE_MANIFESTS, "--registries", full,
                   "--auto-approve").code == 0
    assert files(full) == before


def test_a_kind_is_managed_once_one_manifest_of_it_exists(full: Path, meshctl: Run,
                                                          tmp_path: Path) -> None:
    mesh = copy_tree(FIXTURE_MANIFESTS, tmp_path / "mesh")
    write(mesh / "auth.yaml", manifest("AuthProfile", "gw_oauth", (
        "name: Guidewire OAuth\ntype: oauth\nconfig: {provider: Mock OIDC}\n")))
    result = meshctl("plan", mesh, "--registries", full)
    # the other auth profiles are now the manifests' to prune: each is still in use
    assert "Cannot delete auth profile 'duckcreek_token'" in result.out
    # and only auth profiles: the connectors' kind is still unmanaged
    assert "Plan: 0 to create, 1 to update, 3 to delete, 3 refused." in result.out


def test_every_file_is_optional_and_created_by_its_first_manifest(
        tmp_path: Path, meshctl: Run) -> None:
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    mesh = copy_tree(FIXTURE_MANIFESTS, tmp_path / "mesh")
    before = files(registries)
    write(mesh / "pipeline.yaml", manifest("ContextProcessor", "content_selector",
                                           "name: Content\nenabled: true\norder: 1\n"))
    write(mesh / "system.yaml", manifest("SystemConfig", "default", (
        "version: 1.0.0\norchestrator: {max_iterations: 10}\nworkflow: {}\nagent: {}\n"
        "llm: {max_retries: 3}\ngovernance: {}\nsafety: {}\n")))
    result = meshctl("apply", mesh, "--registries", registries, "--auto-approve")
    assert result.code == 0, result.output
    after = files(registries)
    assert {name for name in after if name not in before} == {
        "context_processor_pipeline.json", "system_config.json"}
    assert all(after[name] == before[name] for name in before)
    pipeline = json.loads(after["context_processor_pipeline.json"])
    assert pipeline["processors"] == [{"processor_id": "content_selector", "name": "Content",
                                       "enabled": True, "order": 1}]
    assert json.loads(after["system_config.json"])["llm"] == {"max_retries": 3}
    assert meshctl("plan", mesh, "--registries", registries,
                   "--detailed-exitcode").code == 0


def test_the_runtime_skip_of_a_settings_entry_is_reported(full: Path, meshctl: Run) -> None:
    path = full / "integration" / "connectors.json"
    data = json.loads(path.read_text())
    del data["connectors"][0]["base_url"]
    path.write_text(json.dumps(data, indent=2))
    result = meshctl("get", "connectors", "--registries", full)
    assert "L007" in result.output or "not loaded" in result.output


def test_a_plan_that_leaves_a_fabric_file_missing_warns(tmp_path: Path, meshctl: Run) -> None:
    """The integration fabric opens its four registry files when it starts: a first
    connector alone would leave it unable to start."""
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    mesh = copy_tree(FIXTURE_MANIFESTS, tmp_path / "mesh")
    write(mesh / "c1.yaml", manifest("Connector", "c1", (
        "name: C\ndescription: d\ntype: REST\nbase_url: https://c\n")))
    result = meshctl("plan", mesh, "--registries", registries, "-o", "json")
    [warning] = [d for d in json.loads(result.out)["warnings"] if d["code"] == "C008"]
    assert warning["file"] == str(mesh / "c1.yaml") and warning["line"] == 1
    for name in ("auth_profiles.json", "security_policies.json", "system_config.json"):
        assert f"integration/{name}" in warning["message"]
    write(mesh / "rest.yaml", "---\n".join([
        manifest("AuthProfile", "a1", "name: A\ntype: token\nconfig: {}\n"),
        manifest("SecurityPolicy", "s1", "name: S\ndescription: d\nrules: []\n"),
        manifest("IntegrationConfig", "default", "version: '1.0'\nretry_policies: []\n")]))
    result = meshctl("plan", mesh, "--registries", registries, "-o", "json")
    assert [d for d in json.loads(result.out)["warnings"] if d["code"] == "C008"] == []
    assert meshctl("apply", mesh, "--registries", registries, "--auto-approve").code == 0
    assert sorted(p.name for p in (registries / "integration").iterdir()) == [
        "auth_profiles.json", "connectors.json", "security_policies.json", "system_config.json"]
