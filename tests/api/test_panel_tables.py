"""The panel holds no copy of the server's tables: the kinds it lists (API path, list key,
id field, label) are rendered into its page from the API's route table and model/kinds.py,
and its forms' pickers are the graph's reference fields. Each test fails as soon as a copy
could drift: a table the page does not get, a path or id spelled in a script, a picker
that is not a reference."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reconciler import graph
from reconciler.api import create_app, kind_paths
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey
from reconciler.model.specs import SPEC_MODELS
from reconciler.web import fields
from tests.conftest import FULL_REGISTRIES, copy_tree

STATIC = Path(fields.__file__).parent / "static"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    registries = copy_tree(FULL_REGISTRIES, tmp_path / "registries")
    return create_app(str(registries), watch=False)


async def page_table(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    page = await api.get("/config")
    assert page.status_code == 200
    found = re.search(r'<script id="kinds" type="application/json">(.*?)</script>', page.text,
                      re.S)
    assert found is not None, "the page carries no kinds table"
    table: dict[str, dict[str, Any]] = json.loads(found.group(1))
    return table


def test_the_page_gets_the_kinds_table_the_server_has(app: FastAPI) -> None:
    async def check() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
            table = await page_table(api)
            assert {Kind(row["kind"]) for row in table.values()} == {
                kind for kind, info in kinds.KINDS.items() if info.id_field is not None}
            for name, row in table.items():
                kind = Kind(row["kind"])
                assert (row["id"], row["label"]) == (kinds.info(kind).id_field,
                                                     kinds.info(kind).label), name
                listed = await api.get(f"/registries/{row['path']}")  # the page's path
                assert listed.status_code == 200, (name, listed.text)
                entries = listed.json()[row["list"]]
                assert entries and all(row["id"] in entry for entry in entries), name
                one = await api.get(f"/registries/{row['path']}/{entries[0][row['id']]}")
                assert one.status_code == 200, (name, one.text)

    asyncio.run(check())


def test_the_scripts_spell_no_path_or_id_of_a_listed_kind() -> None:
    scripts = {path.name: path.read_text() for path in STATIC.glob("*.js")}
    for listed in kind_paths.LISTED:
        id_field = kinds.info(listed.kind).id_field
        spelled = [f'path: "{listed.path}"', f"/registries/{listed.path}",
                   f'id: "{id_field}"', f'list: "{listed.list_key}"']
        for name, text in scripts.items():
            for needle in spelled:
                assert needle not in text, f"{name} spells {needle!r}: take it from KINDS"


def top_level_references(kind: Kind) -> dict[str, tuple[Kind, bool]]:
    """What `graph.references` follows in the top-level fields of an entry of `kind`: each
    field filled with an id, then with a list of ids."""
    found: dict[str, tuple[Kind, bool]] = {}
    names = SPEC_MODELS[kind].model_json_schema()["properties"]
    for value, many in (("some_id", False), (["some_id"], True)):
        entry = dict.fromkeys(names, value)
        for edge in graph.references(Resource(ResourceKey(kind, "x"), entry)):
            field = edge.path.split("[")[0]
            if "." not in field and edge.target.name == "some_id":
                found[field] = (edge.target.kind, many)
    return found


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_form_pickers_are_the_references_the_graph_follows(kind: Kind) -> None:
    pickers = {field["name"]: (Kind(field["of"]), field["control"] == "multi")
               for field in fields.form_fields(kind) if field["control"] in ("picker", "multi")}
    assert pickers == top_level_references(kind)


def test_a_workflow_steps_agent_picker_is_the_reference_the_graph_follows() -> None:
    [steps] = [field for field in fields.form_fields(Kind.WORKFLOW) if field["name"] == "steps"]
    assert steps["control"] == "agent_steps"
    entry = {"steps": [{"step_id": "one", "agent_id": "some_id"}]}
    followed = {(edge.path, edge.target.kind)
                for edge in graph.references(Resource(ResourceKey(Kind.WORKFLOW, "x"), entry))}
    assert followed == {("steps[0].agent_id", Kind(steps["agent_of"]))}
