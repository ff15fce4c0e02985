"""One change, four ways in, one plan (issue 23): the CLI (`meshctl plan -o json`, then
`meshctl apply --auto-approve`), the watch loop (a `Controller` handed the manifest's file
event), the library (`RegistryManager`) and REST (the real app in-process) all plan through
`engine.plan_scope`, so the same change gets the same verdict from each.

Each example draws one change to the real AgentMesh registries (a field of a tool, an agent,
the workflow or a governance policy; a new agent or a first connector; a delete), makes it
through each path on a fresh copy of the registries (and, for the CLI and the watch loop, of
their manifests), and holds every path to the CLI's answer:

- accepted or not;
- when accepted: the committed revision's changes (kind, name, action, entry after, in
  order), the files it wrote, and the registries' bytes (`last_updated` aside) are the same,
  and so are the warnings the change brings (C008, B001, H003 ...) where the path shows them:
  the CLI's plan, the watch loop's report and the library's plan (`writes.plan_changes`,
  what `RegistryManager`'s writes commit);
- when refused: the same errors (code, resource, field path, message, hint; the `file:line`
  of an access rule a message names aside) from the CLI, the watch loop and the library, REST
  answering the library's message as its detail (or, for a body its schema rejects, 422
  naming the same fields); the same refusal (the deletion rule's sentence, its `file:line`s
  aside: the manifests for the CLI and the watch loop, the registry files for the library);
  and not a byte written anywhere.

The CLI's answer is itself held to what each kind of change must give (`Expect`), so a rule
dropped from `plan_scope` itself, which every path would then agree on, fails too.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler import ChangeRejected, RegistryManager, graph, writes
from reconciler.api.app import create_app
from reconciler.cli import main
from reconciler.model import kinds
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import open_store, read_live_state
from reconciler.watch.controller import Controller, Event, EventKind, SyncResult
from reconciler.writes import Intent
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, FIXTURE_WARNINGS, copy_tree

LIVE = read_live_state(FIXTURE_REGISTRIES)
REFERRERS = graph.Referrers.build(LIVE.state)
TOOLS = sorted(LIVE.state.of_kind(Kind.TOOL))
AGENTS = sorted(LIVE.state.of_kind(Kind.AGENT))
PROFILES = sorted(LIVE.state.of_kind(Kind.MODEL_PROFILE))
POLICIES = list(LIVE.state.of_kind(Kind.GOVERNANCE_POLICY))  # in the file's order
WORKFLOW = ResourceKey(Kind.WORKFLOW, "claims_triage")
HITL = ResourceKey(Kind.GOVERNANCE_POLICY, "hitl_access_control")
CHECKPOINT_TYPES = ["approval", "decision", "escalation", "input"]
GHOST_TOOL, GHOST_AGENT, GHOST_PROFILE, GHOST_ROLE = ("ghost_tool", "ghost_agent",
                                                      "ghost_profile", "auditor")

# Where each kind's manifests are in the example mesh (a new one goes there too).
FOLDER = {Kind.AGENT: "agents", Kind.TOOL: "tools", Kind.MODEL_PROFILE: "model-profiles",
          Kind.WORKFLOW: "workflows", Kind.GOVERNANCE_POLICY: "policies",
          Kind.CONNECTOR: "integration"}
# The library's typed methods (`create_agent`, ...) and the REST routes, by kind.
NAMED = {Kind.AGENT: ("agent", "agents"), Kind.TOOL: ("tool", "tools"),
         Kind.MODEL_PROFILE: ("model_profile", "model-profiles"),
         Kind.WORKFLOW: ("workflow", "workflows"),
         Kind.CONNECTOR: ("", "integration/connectors")}


def _entry(key: ResourceKey) -> dict[str, Any]:
    resource = LIVE.state.get(key)
    assert resource is not None
    return copy.deepcopy(resource.entry)


def _roles() -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = _entry(HITL)["roles"]
    return roles


ROLES = [role["role_id"] for role in _roles()]
CHECKPOINTS = _entry(WORKFLOW)["hitl_checkpoints"]


# --- the change, and what it must give ------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What the CLI must answer: refused by the deletion rule, these error codes, or
    accepted with these warning codes (beyond the example mesh's own two)."""

    refused: bool = False
    errors: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Change:
    key: ResourceKey
    entry: dict[str, Any] | None  # None: delete
    intent: Intent
    expect: Expect
    what: str

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Change({self.intent} {self.key}: {self.what})"


def _codes(*pairs: tuple[bool, str]) -> frozenset[str]:
    return frozenset(code for holds, code in pairs if holds)


def _tool_update(name: str, description: str | None, breaking: bool) -> Change:
    key = ResourceKey(Kind.TOOL, name)
    entry = _entry(key)
    if description is not None:
        entry["description"] = description
    if breaking:  # a new required input: its callers break (B001, a warning)
        schema = entry.setdefault("input_schema", {"type": "object"})
        schema["required"] = [*schema.get("required", []), "claim_ref"]
    return Change(key, entry, Intent.UPDATE, Expect(warnings=_codes((breaking, "B001"))),
                  f"description={description!r} breaking={breaking}")


TOOL_RULES = _entry(ResourceKey(Kind.GOVERNANCE_POLICY, "agent_tool_access"))["rules"]


def _denied_a_tool(agent: str, tools: list[str]) -> bool:
    """Whether the example's agent_tool_access denies `agent` one of `tools` (A003): the
    runtime walks the agent's rules in order, the first naming the tool decides (denied
    before allowed), and none denies. A ghost tool is R002's."""

    def granted(tool: str) -> bool:
        for rule in TOOL_RULES:
            if rule.get("agent_id") == agent:
                if tool in rule.get("denied_tools", []):
                    return False
                if tool in rule.get("allowed_tools", []):
                    return True
        return False

    return any(tool != GHOST_TOOL and not granted(tool) for tool in tools)


def _agent_tools(name: str, tools: list[str]) -> Change:
    key = ResourceKey(Kind.AGENT, name)
    entry = {**_entry(key), "allowed_tools": tools}
    return Change(key, entry, Intent.UPDATE,
                  Expect(errors=_codes((GHOST_TOOL in tools, "R002"),
                                       (_denied_a_tool(name, tools), "A003"))),
                  f"allowed_tools={tools}")


def _agent_iterations(name: str, value: Any) -> Change:
    key = ResourceKey(Kind.AGENT, name)
    entry = {**_entry(key), "max_iterations": value}
    wrong_type = not isinstance(value, int) or isinstance(value, bool)
    too_low = not wrong_type and value < 1
    return Change(key, entry, Intent.UPDATE,
                  Expect(errors=_codes((wrong_type, "S002"), (too_low, "S003"))),
                  f"max_iterations={value!r}")


def _new_agent(number: int, profile: str, tools: list[str]) -> Change:
    name = f"new_agent_{number}"
    entry = {"agent_id": name, "name": "New agent", "description": "A new agent",
             "capabilities": ["testing"], "allowed_tools": tools,
             "model_profile_id": profile, "output_schema": {"type": "object"}}
    return Change(ResourceKey(Kind.AGENT, name), entry, Intent.CREATE,
                  Expect(errors=_codes((profile == GHOST_PROFILE, "R001"),
                                       (GHOST_TOOL in tools, "R002"),
                                       (_denied_a_tool(name, tools), "A003"))),
                  f"model_profile_id={profile} allowed_tools={tools}")


# Governance denies by default: without its access policy, what the example's agents ask for
# (their tools; the orchestrator's agents, which the workflow runs) is denied.
ACCESS_LOST = {ResourceKey(Kind.GOVERNANCE_POLICY, "agent_tool_access"): {"A003"},
               ResourceKey(Kind.GOVERNANCE_POLICY, "agent_invocation_access"): {"A001", "A002"}}


def _delete(key: ResourceKey) -> Change:
    used = bool(REFERRERS.users(key) - {key})
    return Change(key, None, Intent.DELETE,
                  Expect(refused=used or key.name == ORCHESTRATOR_ID,
                         errors=frozenset(ACCESS_LOST.get(key, ()))), "delete")


def _step_agent(step: int, agent: str) -> Change:
    entry = _entry(WORKFLOW)
    entry["steps"][step]["agent_id"] = agent
    run = {each["agent_id"] for each in entry["steps"]}
    orphaned = any("agent_id" in checkpoint and checkpoint["agent_id"] not in run
                   for checkpoint in CHECKPOINTS)  # a checkpoint after an agent no step runs
    return Change(WORKFLOW, entry, Intent.UPDATE,
                  Expect(errors=_codes((agent == GHOST_AGENT, "R003")),
                         warnings=_codes((orphaned, "H002"))),
                  f"steps[{step}].agent_id={agent}")


def _allows(role: dict[str, Any], checkpoint: dict[str, Any]) -> bool:
    types = role["allowed_checkpoint_types"]
    return "*" in types or checkpoint["checkpoint_type"] in types


def _new_h003(roles: list[dict[str, Any]], checkpoints: list[dict[str, Any]]) -> bool:
    """A checkpoint whose role may not handle its type, beyond the example's own two."""
    by_id = {role["role_id"]: role for role in roles}
    return any(
        checkpoint["required_role"] in by_id and not _allows(by_id[checkpoint["required_role"]],
                                                            checkpoint)
        and ("H003", f"hitl_checkpoints[{index}].checkpoint_type") not in FIXTURE_WARNINGS
        for index, checkpoint in enumerate(checkpoints))


def _checkpoint_role(index: int, role: str) -> Change:
    entry = _entry(WORKFLOW)
    entry["hitl_checkpoints"][index]["required_role"] = role
    return Change(WORKFLOW, entry, Intent.UPDATE,
                  Expect(errors=_codes((role not in ROLES, "H001")),
                         warnings=_codes((_new_h003(_roles(), entry["hitl_checkpoints"]),
                                          "H003"))),
                  f"hitl_checkpoints[{index}].required_role={role}")


def _role_types(role_id: str, types: list[str]) -> Change:
    entry = _entry(HITL)
    for role in entry["roles"]:
        if role["role_id"] == role_id:
            role["allowed_checkpoint_types"] = types
    return Change(HITL, entry, Intent.PUT,
                  Expect(warnings=_codes((_new_h003(entry["roles"], CHECKPOINTS), "H003"))),
                  f"role {role_id} allowed_checkpoint_types={types}")


def _roles_kept(kept: set[str]) -> Change:
    entry = _entry(HITL)
    entry["roles"] = [role for role in entry["roles"] if role["role_id"] in kept]
    needed = {checkpoint["required_role"] for checkpoint in CHECKPOINTS}
    return Change(HITL, entry, Intent.PUT, Expect(errors=_codes((bool(needed - kept), "H001"))),
                  f"roles={sorted(kept)}")


def _first_connector(name: str) -> Change:
    """The integration fabric's first file while its three others are missing: C008."""
    entry = {"connector_id": name, "name": "Claims API", "description": "The claims system",
             "type": "REST", "base_url": "https://claims.example"}
    return Change(ResourceKey(Kind.CONNECTOR, name), entry, Intent.CREATE,
                  Expect(warnings=frozenset({"C008"})), "the fabric's first connector")


tool_lists = st.lists(st.sampled_from([*TOOLS, GHOST_TOOL]), max_size=3, unique=True)
CHANGES = st.one_of(
    st.builds(_tool_update, st.sampled_from(TOOLS),
              st.sampled_from([None, "Scores claims against the fraud rules"]), st.booleans()),
    st.builds(_agent_tools, st.sampled_from(AGENTS), tool_lists),
    st.builds(_agent_iterations, st.sampled_from(AGENTS), st.sampled_from([1, 7, 0, "5"])),
    st.builds(_new_agent, st.integers(0, 1), st.sampled_from([*PROFILES, GHOST_PROFILE]),
              tool_lists),
    st.builds(_delete, st.sampled_from(
        [ResourceKey(Kind.TOOL, name) for name in TOOLS]
        + [ResourceKey(Kind.MODEL_PROFILE, name) for name in PROFILES]
        + [ResourceKey(Kind.AGENT, name) for name in AGENTS]
        + [WORKFLOW] + [ResourceKey(Kind.GOVERNANCE_POLICY, name) for name in POLICIES])),
    st.builds(_step_agent, st.integers(0, len(_entry(WORKFLOW)["steps"]) - 1),
              st.sampled_from([*AGENTS, GHOST_AGENT])),
    st.builds(_checkpoint_role, st.integers(0, len(CHECKPOINTS) - 1),
              st.sampled_from([*ROLES, GHOST_ROLE])),
    st.builds(_role_types, st.sampled_from(ROLES),
              st.lists(st.sampled_from(CHECKPOINT_TYPES), min_size=1, unique=True)),
    st.builds(_roles_kept, st.sets(st.sampled_from(ROLES), min_size=1)),
    st.builds(_first_connector, st.sampled_from(["claims_api", "ledger"])),
)


# --- what a path answered ---------------------------------------------------------------------

Diag = tuple[str, str | None, str | None, str, str | None]
Committed = tuple[tuple[str, str, str, bytes], ...]


@dataclass
class Outcome:
    path: str
    accepted: bool
    errors: frozenset[Diag] = frozenset()  # the rules' errors, where refused by one
    refusal: str | None = None  # the deletion rule's sentence, locations left out
    warnings: frozenset[tuple[str, str | None, str | None]] | None = None  # None: not shown
    committed: Committed | None = None  # the revision's changes; None: no revision
    written: tuple[str, ...] | None = None  # the files the revision wrote
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    detail: Any = None  # REST: the answer's detail


def _without_files(text: str | None) -> str | None:
    """A message without the `(file:line)` of a resource it names (an access rule's, say):
    the manifests for the CLI and the watch loop (each in its own copy), the registry files
    for the library."""
    return None if text is None else re.sub(r" \([^()\s]+\.(?:yaml|json)(?::\d+)?\)", "", text)


def _diag(found: dict[str, Any]) -> Diag:
    message = _without_files(found["message"])
    assert message is not None
    return (found["code"], found.get("resource"), found.get("path"), message,
            _without_files(found.get("hint")))


def _beyond_fixture(found: list[dict[str, Any]]) -> frozenset[tuple[str, str | None, str | None]]:
    return frozenset((d["code"], d.get("resource"), d.get("path")) for d in found
                     if (d["code"], d.get("path")) not in FIXTURE_WARNINGS)


def _without_places(message: str) -> str:
    """A refusal without the `(file:line)` of each user: manifests for some paths, the
    registry files for others."""
    return re.sub(r" \([^()]*\)", "", message)


def _committed(registries: Path) -> tuple[Committed | None, tuple[str, ...] | None]:
    store = open_store(registries)
    head = store.head()
    if head == 0:
        return None, None
    assert head == 1, f"one change made {head} revisions"
    record = store.revision(head)
    return (tuple((c["kind"], c["name"], c["action"], orjson.dumps(c["after"]))
                  for c in record["changes"]), tuple(sorted(record["files"])))


def _files(registries: Path) -> dict[str, bytes]:
    """Every registry file, with the `last_updated` stamps a write refreshes made equal."""
    found = {}
    for path in sorted(registries.rglob("*")):
        relative = path.relative_to(registries)
        if path.is_file() and not relative.parts[0].startswith("."):
            found[relative.as_posix()] = re.sub(rb'"last_updated": *"[^"]*"',
                                                b'"last_updated": "-"', path.read_bytes())
    return found


def _manifest_text(key: ResourceKey, entry: dict[str, Any]) -> str:
    """The entry as a manifest (JSON, which YAML reads as it is)."""
    id_field = kinds.info(key.kind).id_field
    spec = {name: value for name, value in entry.items() if name != id_field}
    return json.dumps({"apiVersion": "agentmesh.io/v1", "kind": key.kind.value,
                       "metadata": {"name": key.name}, "spec": spec}, indent=2)


def _edit_manifests(manifests: Path, change: Change) -> Path:
    """Make the change in the manifests; the file changed."""
    path = manifests / FOLDER[change.key.kind] / f"{change.key.name}.yaml"
    if change.entry is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_manifest_text(change.key, change.entry), encoding="utf-8")
    return path


def _cli(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return code, out.getvalue(), err.getvalue()


def through_cli(root: Path, change: Change) -> Outcome:
    manifests = copy_tree(FIXTURE_MANIFESTS, root / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, root / "registries")
    _edit_manifests(manifests, change)
    code, out, err = _cli("plan", manifests, "--registries", registries, "-o", "json")
    planned = json.loads(out)
    applied, _, apply_err = _cli("apply", manifests, "--registries", registries,
                                 "--auto-approve")
    committed, written = _committed(registries)
    if "diagnostics" in planned:  # no plan: a rule's error
        assert code == 1 and not planned["valid"] and applied == 1, (code, applied, err)
        return Outcome("cli", False, frozenset(_diag(d) for d in planned["diagnostics"]
                                               if d["severity"] == "error"),
                       committed=committed, written=written, files=_files(registries))
    refused = [c["refused"] for c in planned["changes"] if c.get("refused")]
    assert (code, applied) == ((1, 1) if refused else (0, 0)), (code, applied, err, apply_err)
    actionable = tuple((c["kind"], c["name"], c["action"], orjson.dumps(c["after"]))
                       for c in planned["changes"] if c["action"] != "noop")
    if not refused:  # the plan shown is the plan committed
        assert committed == (actionable or None), (actionable, committed)
    return Outcome("cli", not refused, refusal=_without_places("; ".join(refused)) or None,
                   warnings=_beyond_fixture(planned["warnings"]), committed=committed,
                   written=written, files=_files(registries))


def through_watch(root: Path, change: Change) -> Outcome:
    manifests = copy_tree(FIXTURE_MANIFESTS, root / "manifests")
    registries = copy_tree(FIXTURE_REGISTRIES, root / "registries")
    manager = RegistryManager(registries, watch=False, source="watch")
    controller = Controller([str(manifests)], registries, manager=manager, interval=1e9,
                            watch_files=False)
    controller._start()
    try:
        started = controller.last_report
        assert started is not None and started.result is SyncResult.IN_SYNC, started
        path = _edit_manifests(manifests, change)
        controller._handle([Event(EventKind.FILE, str(path))])
        report = controller.last_report
        assert report is not None and report is not started
    finally:
        controller._finish()
    committed, written = _committed(registries)
    assert report.revision == (1 if committed else 0 if report.result.ok else None), (
        report.message, committed)
    if report.result is SyncResult.FAILED:
        assert all("code" in error for error in report.errors), report.errors
        return Outcome("watch", False, frozenset(_diag(e) for e in report.errors),
                       committed=committed, written=written, files=_files(registries))
    if report.result is SyncResult.REFUSED:
        return Outcome("watch", False, refusal=_without_places(
            "; ".join(error["message"] for error in report.errors)), committed=committed,
            written=written, files=_files(registries))
    return Outcome("watch", True, warnings=_beyond_fixture(report.warnings),
                   committed=committed, written=written, files=_files(registries))


def _writes(change: Change) -> dict[ResourceKey, tuple[dict[str, Any] | None, Intent]]:
    """What the library's write hands `writes.commit_changes` (a governance policy: the
    whole document, every policy PUT)."""
    if change.key.kind is not Kind.GOVERNANCE_POLICY:
        return {change.key: (change.entry, change.intent)}
    found: dict[ResourceKey, tuple[dict[str, Any] | None, Intent]] = {
        ResourceKey(Kind.GOVERNANCE_POLICY, name): (_entry(
            ResourceKey(Kind.GOVERNANCE_POLICY, name)), Intent.PUT) for name in POLICIES}
    found[change.key] = (change.entry, Intent.PUT if change.entry is not None else Intent.DELETE)
    return found


def _governance_document(change: Change) -> dict[str, Any]:
    policies = {name: _entry(ResourceKey(Kind.GOVERNANCE_POLICY, name)) for name in POLICIES}
    if change.entry is None:
        del policies[change.key.name]
    else:
        policies[change.key.name] = change.entry
    header = LIVE.headers[Kind.GOVERNANCE_POLICY]
    return {**{k: v for k, v in header.items() if k != "last_updated"}, "policies": policies}


def _library_call(change: Change) -> Callable[[RegistryManager], None]:
    key, entry = change.key, change.entry
    if key.kind is Kind.GOVERNANCE_POLICY:
        document = _governance_document(change)
        return lambda manager: manager.update_governance_policies(document)
    word = NAMED[key.kind][0]
    if not word:  # a connector has no typed create: the one the REST API calls
        assert change.intent is Intent.CREATE and entry is not None
        return lambda manager: manager.create(key.kind, entry)
    if change.intent is Intent.CREATE:
        return lambda manager: getattr(manager, f"create_{word}")(entry)
    if change.intent is Intent.UPDATE:
        return lambda manager: getattr(manager, f"update_{word}")(key.name, entry)
    return lambda manager: getattr(manager, f"delete_{word}")(key.name)


def through_library(root: Path, change: Change) -> Outcome:
    registries = copy_tree(FIXTURE_REGISTRIES, root / "registries")
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    live, referrers, _ = manager.view()
    try:  # the plan the write commits (its warnings are not shown to a caller otherwise)
        plan = writes.plan_changes(live, referrers, _writes(change))
        warnings = _beyond_fixture([d.to_dict() for d in plan.warnings])
        planned: Committed | None = tuple(
            (str(c.key.kind.value), c.key.name, c.action.value, orjson.dumps(c.after))
            for c in plan.actionable) or None
        judged: ChangeRejected | None = None
    except ChangeRejected as error:
        warnings, planned, judged = None, None, error
    try:
        _library_call(change)(manager)
    except ChangeRejected as error:
        assert judged is not None and str(judged) == str(error), (judged, error)
        committed, written = _committed(registries)
        return Outcome("library", False, frozenset(_diag(d.to_dict()) for d in error.diagnostics),
                       refusal=None if error.diagnostics else _without_places(str(error)),
                       committed=committed, written=written, files=_files(registries),
                       detail=str(error).replace(str(registries), "REGISTRIES"))
    assert judged is None, f"the plan was rejected ({judged}), the write was not"
    committed, written = _committed(registries)
    assert committed == planned, (planned, committed)
    return Outcome("library", True, warnings=warnings, committed=committed, written=written,
                   files=_files(registries))


def _request(change: Change) -> tuple[str, str, dict[str, Any] | None]:
    if change.key.kind is Kind.GOVERNANCE_POLICY:
        return "PUT", "/registries/governance", _governance_document(change)
    base = f"/registries/{NAMED[change.key.kind][1]}"
    if change.intent is Intent.CREATE:
        return "POST", base, change.entry
    if change.intent is Intent.UPDATE:
        return "PUT", f"{base}/{change.key.name}", change.entry
    return "DELETE", f"{base}/{change.key.name}", None


def through_rest(root: Path, change: Change) -> Outcome:
    registries = copy_tree(FIXTURE_REGISTRIES, root / "registries")
    app = create_app(registries, watch=False)
    method, url, body = _request(change)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://localhost") as client:
            return await client.request(method, url, json=body)

    answer = asyncio.run(call())
    committed, written = _committed(registries)
    accepted = answer.status_code in (200, 201)
    assert accepted or answer.status_code in (400, 404, 409, 422), answer.text
    return Outcome("rest", accepted, committed=committed, written=written,
                   files=_files(registries),
                   detail=None if accepted else orjson.loads(orjson.dumps(
                       answer.json()["detail"]).replace(str(registries).encode(),
                                                        b"REGISTRIES")))


# --- the property ----------------------------------------------------------------------------

ORIGINAL = _files(FIXTURE_REGISTRIES)


def _agree(change: Change, cli: Outcome, other: Outcome) -> None:
    def same(what: str) -> None:
        mine, theirs = getattr(cli, what), getattr(other, what)
        assert theirs == mine, (f"{change!r}: {what} differs: the CLI's {mine!r}, "
                                f"the {other.path}'s {theirs!r}")

    same("accepted")
    same("committed")
    same("written")
    if other.files != cli.files:  # name the files, not their bytes
        differ = sorted(name for name in {*cli.files, *other.files}
                        if cli.files.get(name) != other.files.get(name))
        raise AssertionError(f"{change!r}: the registries differ after the CLI and the "
                             f"{other.path}: {differ}")
    if other.path != "rest":  # REST shows the library's message: checked beside it
        same("errors")
        same("refusal")
    if cli.accepted and other.warnings is not None:
        same("warnings")


def _rest_says_what_the_library_says(change: Change, library: Outcome, rest: Outcome) -> None:
    said = f"{change!r}: the library said {library.detail!r}, REST said {rest.detail!r}"
    if library.accepted:
        return
    if isinstance(rest.detail, list):  # 422: the body's schema, before the engine
        assert library.errors and all(d[0].startswith("S") for d in library.errors), said
        named = {".".join(str(part) for part in item["loc"][1:]) for item in rest.detail}
        assert named <= {d[2] for d in library.errors}, said
    elif rest.detail.startswith("Cannot delete") and " used by " in rest.detail:
        # An in-use refusal names who uses it, as the library does, but never a file of the
        # server's disk (a browser shows it): the library's words without the locations.
        assert rest.detail == re.sub(r" \(REGISTRIES/[^)]*\)", "", library.detail), said
    else:
        assert rest.detail == library.detail, said


def _as_expected(change: Change, cli: Outcome) -> None:
    said = (f"{change!r}: expected {change.expect}; the CLI: accepted={cli.accepted}, "
            f"errors={sorted(cli.errors)}, refusal={cli.refusal!r}, warnings={cli.warnings}")
    expect = change.expect
    assert cli.accepted == (not expect.refused and not expect.errors), said
    assert {d[0] for d in cli.errors} == expect.errors, said
    assert (cli.refusal is not None) == expect.refused, said
    if cli.accepted:
        assert cli.warnings is not None
        assert {w[0] for w in cli.warnings} == expect.warnings, said
    else:
        assert cli.committed is None and cli.files == ORIGINAL, said


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(change=CHANGES)
@example(change=_first_connector("claims_api"))  # issue 23: C008 on every path
@example(change=_delete(ResourceKey(Kind.MODEL_PROFILE, "default_gpt35")))  # 7 agents use it
@example(change=_role_types("approver", ["decision"]))  # a policy change warns of a workflow
@example(change=_new_agent(0, GHOST_PROFILE, [GHOST_TOOL]))  # two errors at once
@example(change=_agent_tools("coverage_agent", ["decision_rules"]))  # A003: a rule denies it
@example(change=_delete(ResourceKey(Kind.GOVERNANCE_POLICY, "agent_invocation_access")))
def test_the_same_change_gets_the_same_plan_through_every_path(
        change: Change, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("change")
    try:
        cli = through_cli(root / "cli", change)
        _as_expected(change, cli)
        library = through_library(root / "library", change)
        rest = through_rest(root / "rest", change)
        for other in (through_watch(root / "watch", change), library, rest):
            _agree(change, cli, other)
        _rest_says_what_the_library_says(change, library, rest)
    finally:
        shutil.rmtree(root, ignore_errors=True)
