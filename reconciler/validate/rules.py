"""The table of every rule code: its severity, a title, and what it checks.

Codes are stable (documented in docs/validation.md, which a test keeps in step with this
table). Families: M manifests, L live registries, S schema, R references, W workflows,
H HITL checkpoints, C settings (system, context engineering, integrations), G graph,
O orchestrator, B breaking changes (found by the plan), U usage (deletes the plan refuses),
A access (what governance lets the runtime do).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import Diagnostic, Severity
from reconciler.model.resource import Resource


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    severity: Severity
    title: str


_E, _W = Severity.ERROR, Severity.WARNING

RULES: dict[str, Rule] = {rule.code: rule for rule in (
    Rule("M001", _E, "YAML syntax error"),
    Rule("M002", _E, "manifest file over the size limit"),
    Rule("M003", _E, "duplicate key in a mapping"),
    Rule("M004", _E, "alias expansion bomb"),
    Rule("M005", _E, "document or spec is not a mapping"),
    Rule("M006", _E, "value a JSON registry cannot hold (tag, key, number, nesting)"),
    Rule("M007", _E, "missing or unsupported apiVersion"),
    Rule("M008", _E, "missing or unknown kind"),
    Rule("M009", _E, "missing or invalid metadata (name, labels, annotations)"),
    Rule("M010", _E, "resource defined twice"),
    Rule("M011", _W, "unknown envelope or metadata field"),
    Rule("M012", _E, "spec id field differs from metadata.name"),
    Rule("M013", _E, "manifest file unreadable or not UTF-8"),
    Rule("M014", _E, "resource name differs only by case from another of its kind"),
    Rule("M015", _E, "a one-document kind (system config, ...) named other than 'default'"),
    Rule("M016", _E, "'patches' or '$patch' in a document that is not in an overlay layer"),
    Rule("M017", _E, "an overlay patches or deletes a resource no earlier layer declares"),
    Rule("M018", _E, "an overlay's JSON Patch operations do not apply"),
    Rule("M019", _E, "an overlay document that is not a patch meshctl can read"),
    Rule("L001", _E, "registry file is not valid JSON"),
    Rule("L002", _E, "registry file has the wrong shape"),
    Rule("L003", _E, "registry entry without a usable id"),
    Rule("L004", _E, "id appears twice in a registry"),
    Rule("L005", _E, "workflow file name differs from its workflow_id"),
    Rule("L006", _E, "registry file unreadable"),
    Rule("L007", _W, "live entry the AgentMesh runtime does not load (skips)"),
    Rule("S001", _E, "required field missing"),
    Rule("S002", _E, "field has the wrong type"),
    Rule("S003", _E, "value out of bounds"),
    Rule("S004", _E, "id is not a safe name"),
    Rule("S005", _E, "invalid JSON Schema (Draft 7)"),
    Rule("S006", _W, "unknown field"),
    Rule("S007", _E, "value not allowed"),
    Rule("R001", _E, "unknown model profile"),
    Rule("R002", _E, "unknown tool"),
    Rule("R003", _E, "unknown agent"),
    Rule("R004", _E, "unknown workflow"),
    Rule("R005", _E, "unknown auth profile"),
    Rule("R006", _E, "unknown connector"),
    Rule("R007", _E, "unknown security policy"),
    Rule("R008", _E, "unknown retry policy (not in the integration config's retry_policies)"),
    Rule("R009", _W, "a switched-off feature names an unknown resource"),
    Rule("C001", _E, "context processor id the runtime does not have"),
    Rule("C002", _E, "two context processors share an order"),
    Rule("C003", _E, "token budget percentages do not add up to 100"),
    Rule("C004", _E, "limit, timeout or threshold that is zero, negative or not a number"),
    Rule("C005", _W, "integration step type or failure policy the runtime does not know"),
    Rule("C006", _E, "integration step without the connector or policy its type needs"),
    Rule("C007", _E, "retry policy id used twice in the integration config"),
    Rule("C008", _W, "a plan leaves one of the integration fabric's files missing"),
    Rule("W001", _E, "step transition to an unknown step or outcome"),
    Rule("W002", _E, "include_prior_outputs names a step that does not run earlier"),
    Rule("W003", _E, "step cannot reach a terminal outcome"),
    Rule("W004", _W, "step unreachable from the first step"),
    Rule("W005", _E, "step_id used twice in a workflow"),
    Rule("H001", _E, "HITL checkpoint requires a role the hitl_access_control policy lacks"),
    Rule("H002", _W, "HITL checkpoint follows an agent no step of the workflow runs"),
    Rule("H003", _W, "HITL checkpoint type not allowed for its role"),
    Rule("G001", _W, "agents invoke each other in a cycle"),
    Rule("O001", _E, "no orchestrator agent"),
    Rule("B001", _W, "schema change breaks the callers of a tool or an agent"),
    Rule("B002", _W, "a workflow step's input is no longer produced by an earlier step"),
    Rule("U001", _E, "delete refused: still in use, or the orchestrator"),
    Rule("A001", _E, "the orchestrator lists an agent governance will not let it invoke"),
    Rule("A002", _E, "a workflow runs an agent the orchestrator may not invoke"),
    Rule("A003", _E, "an agent lists a tool governance will not let it use"),
    Rule("A004", _W, "'*' in an access rule, which the runtime reads as a name"),
    Rule("A005", _W, "a workflow's model_usage rule does not allow a step agent's profile"),
    Rule("A006", _E, "an access rule the runtime cannot read"),
    Rule("A007", _E, "a change that widens access, refused by --deny-access-widening"),
)}


def diagnostic(code: str, resource: Resource, path: str | None, message: str,
               hint: str | None = None) -> Diagnostic:
    """A diagnostic for `resource`, located at the manifest line of `path` when known."""
    file, line = resource.where(path)
    return Diagnostic(code, RULES[code].severity, message, file, line, str(resource.key), path,
                      hint)
