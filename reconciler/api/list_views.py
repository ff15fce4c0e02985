"""The list tabs' rows (issue 27): each agent, tool, model profile and workflow with the
columns an operator reads (an agent's model and capabilities, a tool's endpoint and lineage
tags, a profile's provider, model and parameters, a workflow's mode and agent and step
counts), how many resources refer to it, whether the runtime loads it (L007) and, for an
agent, whether it can run (the orchestrator lists it and governance lets it be invoked and
use its tools). Searched, sorted and paged here, so a browser never holds the whole mesh:
`GET /registries/views/{agents,tools,model-profiles,workflows}`.

A kind's table is built once per snapshot (one revision) from the library's snapshot: its
reverse reference index (`users`), its access model (`access.grants`) and what rule L007
reports (`validate.check_live`); nothing here decides anything of its own. A row whose
sources (its entry, its users, the orchestrator and the governance policies, its model
profile) are the same objects as in the snapshot before is carried over, so a write costs
the rows it changed (and a governance change, the agents' verdicts).

No `from __future__ import annotations`: FastAPI reads the handler's annotations.
"""

import logging
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Query

from reconciler import access, validate
from reconciler.api.errors import ApiError
from reconciler.api.kind_paths import LISTED
from reconciler.library import RegistryManager
from reconciler.library.snapshot import Snapshot
from reconciler.model import kinds
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import Resource, ResourceKey

Row = dict[str, Any]
log = logging.getLogger("reconciler.api")
DEFAULT_LIMIT = 50
WARM_AFTER = 1.0  # seconds from the panel's page served to its list tables built ahead
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a list tab: `key` names it in `sort=`; `type` is how the panel draws
    it (`id`, `text`, `list`, `count`, `model`, `parameters`, `used_by`, `runs`); `narrow`,
    whether it is shown at phone widths too."""

    key: str
    label: str
    type: str
    narrow: bool = True


ID, NAME, USED_BY = Column("id", "Id", "id"), Column("name", "Name", "text", False), \
    Column("used_by", "Used by", "used_by", False)
COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.AGENT: (ID, NAME, Column("model", "Model", "model", False),
                 Column("capabilities", "Capabilities", "list", False),
                 Column("tools", "Tools", "list", False), USED_BY,
                 Column("runs", "Can run", "runs")),
    Kind.TOOL: (ID, NAME, Column("endpoint", "Endpoint", "text", False),
                Column("lineage_tags", "Lineage tags", "list", False),
                Column("used_by", "Used by", "used_by")),
    Kind.MODEL_PROFILE: (ID, NAME, Column("provider", "Provider", "text"),
                         Column("model", "Model", "text"),
                         Column("parameters", "Parameters", "parameters", False),
                         USED_BY),
    Kind.WORKFLOW: (ID, NAME, Column("mode", "Mode", "text"),
                    Column("agents", "Agents", "count"), Column("steps", "Steps", "count"),
                    USED_BY),
}
# How a "Can run" verdict sorts: what needs a look first (and, of those that can run, the
# ones with tools governance denies them first).
RUNS_RANK = {"does not load": 0, "cannot run": 1, "can run": 2}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _names(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _shown(value: Any) -> str:
    """A parameter's value as the panel shows it (JSON's spelling of true, false, null)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


# -- what a row shows of its entry alone ---------------------------------------------------

def _agent(entry: dict[str, Any]) -> Row:
    return {"model_profile_id": _text(entry.get("model_profile_id")),
            "capabilities": _names(entry.get("capabilities")),
            "tools": _names(entry.get("allowed_tools"))}


def _tool(entry: dict[str, Any]) -> Row:
    return {"endpoint": _text(entry.get("endpoint")),
            "lineage_tags": _names(entry.get("lineage_tags"))}


def _profile(entry: dict[str, Any]) -> Row:
    parameters = entry.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    return {"provider": _text(entry.get("provider")), "model": _text(entry.get("model_name")),
            "parameters": parameters,
            "parameters_text": " · ".join(f"{name} {_shown(value)}"
                                          for name, value in parameters.items())}


def _workflow(entry: dict[str, Any]) -> Row:
    steps = entry.get("steps")
    steps = [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []
    agents = {*(_text(step.get("agent_id")) for step in steps),
              *_names(entry.get("required_agents")), *_names(entry.get("optional_agents"))}
    agents.discard("")
    return {"mode": _text(entry.get("mode")), "agents": len(agents), "steps": len(steps)}


OWN: dict[Kind, Callable[[dict[str, Any]], Row]] = {
    Kind.AGENT: _agent, Kind.TOOL: _tool, Kind.MODEL_PROFILE: _profile,
    Kind.WORKFLOW: _workflow}
# The text of a row's own fields that a search reads (`q`), beside its id and name.
OWN_TEXT: dict[Kind, Callable[[Row], list[str]]] = {
    Kind.AGENT: lambda row: [row["model_profile_id"], *row["capabilities"], *row["tools"]],
    Kind.TOOL: lambda row: [row["endpoint"], *row["lineage_tags"]],
    Kind.MODEL_PROFILE: lambda row: [row["provider"], row["model"], row["parameters_text"]],
    Kind.WORKFLOW: lambda row: [row["mode"]],
}


def _many(label: str) -> str:
    return f"{label[:-1]}ies" if label.endswith("y") else f"{label}s"


def _used_by(users: frozenset[ResourceKey]) -> Row:
    """How many resources refer to one (the reverse reference index's users), by kind."""
    counted = Counter(user.kind for user in users)
    ordered = sorted(counted.items(), key=lambda item: kinds.KIND_ORDER.index(item[0]))
    return {"count": len(users),
            "by_kind": {kind.value: count for kind, count in ordered},
            "text": ", ".join(f"{count} {_named(kind, count)}" for kind, count in ordered)}


def _named(kind: Kind, count: int) -> str:
    label = kinds.info(kind).label
    return label if count == 1 else _many(label)


# -- whether an agent can run ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Running:
    """What decides whether the agents of one snapshot can run: its orchestrator and the
    invocations governance denies it (of the agents it lists)."""

    governance: access.Governance
    orchestrator: Resource | None
    listed: frozenset[str]
    not_invoked: dict[str, access.Decision]

    @classmethod
    def of(cls, snapshot: Snapshot) -> "Running":
        governance = snapshot.access()
        orchestrator = snapshot.live.state.get(ResourceKey(Kind.AGENT, ORCHESTRATOR_ID))
        if orchestrator is None:
            return cls(governance, None, frozenset(), {})
        return cls(governance, orchestrator,
                   frozenset(access.asked(orchestrator, access.Verb.INVOKE)),
                   {grant.asked: grant.decision for grant in access.grants(
                       orchestrator, access.Verb.INVOKE, governance, denied_only=True)})

    def verdict(self, agent: Resource, load_problem: str | None) -> Row:
        """`{verdict, text, reason, denied_tools}`: what the "Can run" column says."""
        name = agent.name
        denied = [{"tool": grant.asked, "reason": grant.decision.reason()}
                  for grant in access.grants(agent, access.Verb.USE, self.governance,
                                             denied_only=True)]
        if load_problem is not None:
            return {"verdict": "unloadable", "text": "does not load", "reason": load_problem,
                    "denied_tools": denied}
        if name == ORCHESTRATOR_ID:
            runs, reason = True, "(the orchestrator)"
        elif self.orchestrator is None:
            runs, reason = False, "there is no orchestrator"
        elif name not in self.listed:
            runs, reason = False, "not listed by the orchestrator"
        elif name in self.not_invoked:
            runs, reason = False, ("the orchestrator may not invoke it: "
                                   f"{self.not_invoked[name].reason()}")
        else:
            runs, reason = True, ""
        return {"verdict": "runs" if runs else "blocked",
                "text": "can run" if runs else "cannot run", "reason": reason,
                "denied_tools": denied}


def runs_text(runs: Row) -> str:
    """The "Can run" cell as text: what a search reads of it."""
    denied = runs["denied_tools"]
    tools = ""
    if denied:
        count = len(denied)
        tools = (f" {count} tool{'' if count == 1 else 's'} denied "
                 f"({', '.join(item['tool'] for item in denied)})")
    return f"{runs['text']} {runs['reason']}{tools}"


# -- a kind's table, per snapshot -----------------------------------------------------------

@dataclass(slots=True)
class Table:
    """Every row of a kind at one snapshot, in registry order, with each row's searched
    text (lower case), and its orders by column, made when first asked for."""

    kind: Kind
    rows: list[Row]
    search: list[str]
    orders: dict[tuple[str, bool], list[int]] = field(default_factory=dict)
    positions: dict[str, int] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def order(self, sort: str, descending: bool) -> list[int]:
        with self.lock:
            found = self.orders.get((sort, descending))
            if found is None:
                key = sort_key(self.kind, sort)
                rows = self.rows
                found = sorted(range(len(rows)), key=lambda index: key(rows[index]),
                               reverse=descending)  # stable: ties keep the registry order
                self.orders[(sort, descending)] = found
            return found

    def page(self, q: str | None, sort: str | None, descending: bool, offset: int,
             limit: int, *, by_id: bool = False,
             ids: list[str] | None = None) -> tuple[list[Row], int]:
        """The rows of one page, and how many rows match `q` (every word of it, anywhere
        in the row's shown text, or in its id alone when `by_id`: what a picker shows);
        `ids`, only the rows of those ids (a form's chosen values: which exist)."""
        order: Any = (self.order(sort, descending) if sort is not None
                      else range(len(self.rows) - 1, -1, -1) if descending
                      else range(len(self.rows)))
        if ids is not None:
            wanted = {self.position(name) for name in ids} - {None}
            order = [index for index in order if index in wanted]
        terms = (q or "").casefold().split()
        if terms:
            search = [row["id"].casefold() for row in self.rows] if by_id else self.search
            order = [index for index in order if all(term in search[index] for term in terms)]
        return [self.rows[index] for index in order[offset:offset + limit]], len(order)

    def position(self, name: str) -> int | None:
        """Where the row of id `name` is (None: no such row); the index is made once."""
        with self.lock:
            if self.positions is None:
                self.positions = {row["id"]: index for index, row in enumerate(self.rows)}
            return self.positions.get(name)


def sort_key(kind: Kind, sort: str) -> Callable[[Row], Any]:
    column = next(column for column in COLUMNS[kind] if column.key == sort)
    if column.type == "used_by":
        return lambda row: row["used_by"]["count"]
    if column.type == "count":
        return lambda row: row[sort]
    if column.type == "list":
        return lambda row: [item.casefold() for item in row[sort]]
    if column.type == "model":
        return lambda row: (row["model_name"].casefold(), row["model_profile_id"].casefold())
    if column.type == "parameters":
        return lambda row: row["parameters_text"].casefold()
    if column.type == "runs":
        return lambda row: (RUNS_RANK[row["runs"]["text"]], not row["runs"]["denied_tools"],
                            runs_text(row["runs"]).casefold())
    return lambda row: row[sort].casefold()


@dataclass(frozen=True, slots=True)
class Made:
    """A row as made, with what it was made from (compared by identity: an entry, its
    users' set, the `Running` and the agent's profile entry are the same objects in the
    next snapshot when unchanged, so the row is too)."""

    sources: tuple[Any, ...]
    row: Row
    text: str


class Views:
    """The tables of the snapshot served now, each built on first use and kept for as long
    as that snapshot is served; a row whose sources did not change is carried over."""

    def __init__(self, registry: RegistryManager) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._tables: weakref.WeakKeyDictionary[Snapshot, dict[Kind, Table]] = \
            weakref.WeakKeyDictionary()
        self._made: dict[Kind, dict[str, Made]] = {kind: {} for kind in COLUMNS}
        self._running: tuple[tuple[Any, ...], Running] | None = None
        self._used: set[Kind] = set()  # the kinds listed since the server started
        self._refreshing = False
        registry.add_listener(lambda *_: self._refresh())

    def snapshot(self) -> Snapshot:
        """The snapshot served now (its names need no table)."""
        return self._registry.snapshot()

    def table(self, kind: Kind) -> tuple[Table, Snapshot]:
        snapshot = self._registry.snapshot()
        with self._lock:
            self._used.add(kind)
            tables = self._tables.setdefault(snapshot, {})
            found = tables.get(kind)
            if found is None:
                found = tables[kind] = self._build(kind, snapshot)
            return found, snapshot

    def warm(self) -> None:
        """Build every kind's table ahead, on a thread of its own: the panel was opened, its
        list tabs are what is asked for next (the first build of 10,000 agents' rows takes
        a few hundred milliseconds, which the first click then does not wait for). Started
        WARM_AFTER seconds later: the build holds the interpreter, and the page's scripts
        and its first tab's requests are served first."""
        with self._lock:
            self._used.update(COLUMNS)
        timer = threading.Timer(WARM_AFTER, self._refresh)
        timer.daemon = True
        timer.start()

    def _refresh(self) -> None:
        """After a new snapshot, build the tables of the kinds listed so far, on a thread of
        their own (a listener must be quick): the next page asked for is served at once. A
        server nobody lists from builds nothing."""
        with self._lock:
            if self._refreshing or not self._used:
                return
            self._refreshing = True
        threading.Thread(target=self._rebuild, name="meshctl-list-views", daemon=True).start()

    def _rebuild(self) -> None:
        try:
            while True:
                snapshot = self._registry.snapshot()
                for kind in list(self._used):
                    self.table(kind)
                with self._lock:
                    if self._registry.snapshot() is snapshot:
                        self._refreshing = False
                        return
        except Exception:  # the next request builds what is missing, and says why
            log.debug("the list views were not built ahead", exc_info=True)
            with self._lock:
                self._refreshing = False

    def _running_of(self, snapshot: Snapshot) -> Running:
        """The snapshot's `Running`: the one before when the orchestrator and the
        governance policies are the same entries (so every decision is the same)."""
        state = snapshot.live.state
        orchestrator = state.get(ResourceKey(Kind.AGENT, ORCHESTRATOR_ID))
        sources = (snapshot.access().governed,
                   None if orchestrator is None else orchestrator.entry,
                   *(policy.entry for policy in
                     state.of_kind(Kind.GOVERNANCE_POLICY).values()))
        if self._running is not None and len(self._running[0]) == len(sources) and all(
                a is b for a, b in zip(self._running[0], sources, strict=True)):
            return self._running[1]
        running = Running.of(snapshot)
        self._running = (sources, running)
        return running

    def _build(self, kind: Kind, snapshot: Snapshot) -> Table:
        state = snapshot.live.state
        referrers = snapshot.referrers
        running = self._running_of(snapshot) if kind is Kind.AGENT else None
        profiles = state.of_kind(Kind.MODEL_PROFILE)
        # What rule L007 reports, when the snapshot found it already (the server does at
        # start-up); else found per entry, for the rows made anew only.
        prefix = f"{kinds.info(kind).label.replace(' ', '-')}/"
        skipped = None if snapshot.skipped is None else {
            d.resource[len(prefix):]: d.message for d in snapshot.skipped
            if d.resource is not None and d.resource.startswith(prefix)}
        earlier, made = self._made[kind], {}
        rows: list[Row] = []
        search: list[str] = []
        for name, resource in state.of_kind(kind).items():
            entry = resource.entry
            users = referrers.users(resource.key)
            profile = None
            if running is not None:
                found = profiles.get(_text(entry.get("model_profile_id")))
                profile = None if found is None else found.entry
            sources = (entry, users, running, profile)
            kept = earlier.get(name)
            if kept is None or not all(a is b for a, b in zip(kept.sources, sources,
                                                               strict=True)):
                problem = (skipped.get(name) if skipped is not None else next(
                    (d.message for d in validate.check_live([resource])), None))
                kept = _make(kind, resource, sources, problem)
            made[name] = kept
            rows.append(kept.row)
            search.append(kept.text)
        self._made[kind] = made
        return Table(kind, rows, search)


def _make(kind: Kind, resource: Resource, sources: tuple[Any, ...],
          problem: str | None) -> Made:
    """A row of `resource` from its sources (its entry, its users, the agents' `Running`,
    the agent's model profile entry) and what rule L007 reports of it (None: it loads)."""
    entry, users, running, profile = sources
    own = OWN[kind](entry)
    row: Row = {"id": resource.name, "name": _text(entry.get("name")), **own,
                "used_by": _used_by(users), "loads": problem is None,
                "load_problem": problem}
    text = [resource.name, row["name"], *OWN_TEXT[kind](own)]
    if running is not None:
        row["model_name"] = "" if profile is None else _text(profile.get("model_name"))
        row["runs"] = running.verdict(resource, problem)
        text += [row["model_name"], runs_text(row["runs"])]
    elif problem is not None:
        text.append("does not load")
    return Made(sources, row, "\n".join(text).casefold())


def paths() -> dict[Kind, str]:
    """Where each kind with list columns is served a page at a time (under /registries)."""
    return {listed.kind: f"views/{listed.path}" for listed in LISTED if listed.kind in COLUMNS}


def add_routes(app: FastAPI, registry: RegistryManager, *, viewer: Any) -> Views:
    """`GET /registries/views/{path}` for each kind with list columns; the tables they
    serve (`warm()` them when a client is about to list)."""
    views = Views(registry)
    for kind, path in paths().items():
        _route(app, views, kind, path, viewer)
    return views


def _ids_only(fields: str | None, match: str, q: str | None, sort: str | None) -> bool:
    """Whether a request asks for ids alone, found by id, in registry order: what the
    snapshot's names answer, without the kind's table (whose first build, at 10,000
    agents, a picker would wait for)."""
    return (fields is not None and {key.strip() for key in fields.split(",")} <= {"id", ""}
            and (match == "id" or not (q or "").strip()) and sort is None)


def id_page(names: list[str], q: str | None, descending: bool, offset: int, limit: int,
            ids: list[str] | None) -> tuple[list[Row], int]:
    """A page of `names` (registry order) as rows of their id: those holding every word of
    `q`, of `ids` alone when given; and how many match."""
    found = names[::-1] if descending else names
    if ids is not None:
        wanted = set(ids)
        found = [name for name in found if name in wanted]
    terms = (q or "").casefold().split()
    if terms:
        found = [name for name in found if all(term in name.casefold() for term in terms)]
    return [{"id": name} for name in found[offset:offset + limit]], len(found)


def _only(rows: list[Row], fields: str | None) -> list[Row]:
    """`rows` with only the keys `fields` names (and the id): a picker needs the ids, not
    every column (a page of 50 agents' ids is 2 KB, their rows 27 KB)."""
    if fields is None:
        return rows
    keys = {"id", *(key.strip() for key in fields.split(",") if key.strip())}
    return [{key: value for key, value in row.items() if key in keys} for row in rows]


def _route(app: FastAPI, views: Views, kind: Kind, path: str, viewer: Any) -> None:
    plural = kinds.info(kind).plural
    columns = COLUMNS[kind]
    keys = [column.key for column in columns]

    def listed(q: str | None = Query(default=None, description=(
                   "Words to find (each, anywhere in a row's shown text; case-insensitive)")),
               sort: str | None = Query(default=None, description=(
                   f"A column to sort by: {', '.join(keys)} (default: registry order)")),
               order: str = Query(default="asc", pattern="^(asc|desc)$"),
               offset: int = Query(default=0, ge=0),
               limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
               match: str = Query(default="all", pattern="^(all|id)$", description=(
                   "What `q` reads: every shown field (all), or the id alone (id: a "
                   "picker of ids)")),
               ids: Annotated[list[str] | None, Query(
                   max_length=MAX_LIMIT, description="Only the rows of these ids")] = None,
               fields: str | None = Query(default=None, description=(
                   "The row keys to send, comma-separated (default: all); id always"))
               ) -> dict[str, Any]:
        if sort is not None and sort not in keys:
            raise ApiError(400, f"cannot sort by {sort!r}: the columns are {', '.join(keys)}")
        if _ids_only(fields, match, q, sort):  # a picker: no column is built for it
            snapshot = views.snapshot()
            names = list(snapshot.live.state.of_kind(kind))
            rows, matched = id_page(names, q, order == "desc", offset, limit, ids)
            total = len(names)
        else:
            table, snapshot = views.table(kind)
            rows, matched = table.page(q, sort, order == "desc", offset, limit,
                                       by_id=match == "id", ids=ids)
            rows, total = _only(rows, fields), len(table.rows)
        return {"kind": kind.value, "revision": snapshot.revision,
                "columns": [{"key": c.key, "label": c.label, "type": c.type,
                             "narrow": c.narrow} for c in columns],
                "rows": rows, "total_count": total, "matched_count": matched,
                "offset": offset, "limit": limit, "q": q, "sort": sort, "order": order}

    app.add_api_route(f"/registries/{path}", listed, methods=["GET"], tags=[plural],
                      dependencies=[viewer], summary=f"A page of the {plural} list, with "
                      "its columns, searched and sorted")
