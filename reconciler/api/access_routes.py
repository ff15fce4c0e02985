"""Effective access over REST (the `kubectl auth can-i` of the mesh), and writes of several
entries as one plan: what the panel uses to show whether an agent can run, and to add the
governance rule it needs in the same save.

The answers come from the library's snapshot and meshctl's one access model
(`reconciler.access`), the same that judges every plan.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Response
from pydantic import BaseModel, Field

from reconciler import access
from reconciler.api import errors as api_errors
from reconciler.api import resources
from reconciler.api.errors import ApiError
from reconciler.api.plan_answer import plan_answer
from reconciler.api.shown_paths import ShownPaths
from reconciler.errors import ChangeRejected
from reconciler.library import EntryChange, Fence, RegistryManager
from reconciler.library.snapshot import version_of
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey

STALE_PLAN: dict[int | str, dict[str, Any]] = {412: {
    "description": "An item's `resource_version`, a kind's version, or the plan's token "
                   "(If-Match) is not current any more: nothing was written; "
                   "`current_version` says what it is now"}}


class ChangeItem(BaseModel):
    kind: str = Field(description="The kind: Agent, GovernancePolicy, tools, ...")
    name: str
    entry: dict[str, Any] | None = Field(
        default=None, description="The whole entry to write; null deletes the resource.")
    resource_version: str | None = Field(
        default=None, description="The version it was read at: the write is refused (412) "
                                  "when it changed since.")
    create: bool = Field(default=False, description="It must not exist yet (400 if it does).")


class ChangeBatch(BaseModel):
    changes: list[ChangeItem] = Field(min_length=1, max_length=100)
    dry_run: bool = Field(default=False, description="Plan only; commit nothing.")
    kind_versions: dict[str, str] = Field(
        default_factory=dict, description="A kind's version as its document or list answers "
        "it (`resource_version` of the governance document, of the processor pipeline): "
        "412 when any entry of the kind changed since.")


def add_routes(app: FastAPI, registry: RegistryManager, *, paths: ShownPaths, viewer: Any,
               editor: Any) -> None:

    @app.get("/registries/access/check", tags=["access"], dependencies=[viewer])
    def check(subject: str = Query(description="The agent that asks"),
              verb: str = Query(description="invoke (an agent) or use (a tool)",
                                pattern="^(invoke|use)$"),
              object: str = Query(description="The agent or tool it asks for")
              ) -> dict[str, Any]:
        """Whether the runtime lets `subject` invoke or use `object`, and which rule (or the
        default) decides: upstream's `is_agent_invocation_allowed`/`is_tool_access_allowed`,
        with the reason."""
        action = access.Verb(verb)
        live, governance = registry.access_view()
        state = live.state
        _known(state, Kind.AGENT, subject)
        _known(state, action.object_kind, object)
        agent = state.get(ResourceKey(Kind.AGENT, subject))
        asked = object in access.asked(agent, action)
        return access.to_dict(governance.decide(subject, action, object), state, asked)

    @app.get("/registries/access", tags=["access"], dependencies=[viewer])
    def matrix(as_agent: str | None = Query(default=None, alias="as",
                                            description="One agent's rows only"),
               differs: bool = Query(default=False,
                                     description="Only rows where asks and grants differ")
               ) -> dict[str, Any]:
        """What each agent asks for (its allowed_tools; the orchestrator's allowed_agents)
        and what governance grants it, each decided, with the rule that decides."""
        live, governance = registry.access_view()
        state = live.state
        if as_agent is not None:
            _known(state, Kind.AGENT, as_agent)
        rows = [row for row in access.matrix(state, governance, as_agent)
                if row.differs or not differs]
        return {"governed": governance.governed,
                "rows": [access.to_dict(row.decision, state, row.asked) for row in rows],
                "total_count": len(rows)}

    @app.get("/registries/access/policy", tags=["access"], dependencies=[viewer])
    def policy(verb: str = Query(description="invoke (agents) or use (tools)",
                                 pattern="^(invoke|use)$"),
               subject: str | None = Query(default=None, description=(
                   "An agent, existing or not yet created")),
               objects: Annotated[list[str] | None, Query(alias="object", description=(
                   "Names to decide for `subject` (repeatable)"))] = None) -> dict[str, Any]:
        """The access policy of `verb` as a change writes it (its entry, or null, its
        version, which a batch adding a rule to it beside an agent names, and the names of
        its rules' lists) and, for `subject`, the decision on each `object`. Unlike `check`,
        the names need not exist: the panel asks about an agent it is creating."""
        action = access.Verb(verb)
        live, governance = registry.access_view()
        state = live.state
        found = state.get(ResourceKey(Kind.GOVERNANCE_POLICY, action.policy))
        decisions = [] if subject is None else [
            access.to_dict(governance.decide(subject, action, name), state)
            for name in dict.fromkeys(objects or [])]
        return {"verb": action.value, "policy": action.policy,
                "allowed_list": action.allowed_list, "denied_list": action.denied_list,
                "governed": governance.governed,
                "entry": None if found is None else found.entry,
                "resource_version": None if found is None else version_of(found.entry),
                "decisions": decisions}

    @app.post("/registries/changes", tags=["mesh"], dependencies=[editor],
              responses=STALE_PLAN)
    def change(batch: ChangeBatch, response: Response,
               if_match: str | None = Header(default=None)) -> dict[str, Any]:
        """Several entries written as one plan and one revision (or, with `dry_run`, the
        plan alone, with its `token`, also the ETag): every rule judges them together, so
        an agent and the governance rule that lets it run are saved at once. A commit with
        `If-Match: "<token>"` commits exactly the plan shown: 412 (nothing written, the
        new token in `current_version`) when the registries changed since."""
        items = [EntryChange(_kind(item.kind), item.name, item.entry, item.resource_version,
                             item.create) for item in batch.changes]
        token = resources.version_wanted(if_match, None)
        fence = Fence(None if batch.dry_run else token,
                      {_kind(name): version for name, version in batch.kind_versions.items()})
        try:
            plan = registry.change(items, dry_run=batch.dry_run, fence=fence)
        except ChangeRejected as error:
            if not batch.dry_run:
                raise
            # "What would it do" has an answer: it would be refused. 200, as a restore's
            # plan answers, with the refusal the commit would get (a form marks its fields).
            status, body = api_errors.refusal(error)
            return {"committed": False, "token": None, "committable": False,
                    "detail": body["detail"], "changes": [], "plan": None, "revision": None,
                    "refusal": {"status": status, **body}}
        if batch.dry_run:  # the token a commit of this plan names
            response.headers["ETag"] = f'"{plan.live_fingerprint}"'
        return {"committed": not batch.dry_run, **plan_answer(plan, paths),
                "revision": None if batch.dry_run else registry.stats()["revision"]}


def _kind(name: str) -> Kind:
    kind = kinds.kind_by_name(name)
    if kind is None:
        raise ApiError(400, f"unknown kind {name!r}")
    return kind


def _known(state: MeshState, kind: Kind, name: str) -> None:
    problem = access.unknown(state, kind, name)
    if problem is not None:
        raise ApiError(404, problem)
