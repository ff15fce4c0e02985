"""The API's app answering in-process, called as a plain client: what the API tests that
need no real server share (the tests of the server itself start uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reconciler.api import create_app
from reconciler.store import default_info
from reconciler.store.registry_files import read_live_state
from tests.conftest import copy_tree


class InProcess:
    """`app` over httpx's ASGI transport, one event loop a call."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **given: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://localhost") as client:
                return await client.request(method, path, **given)
        return asyncio.run(send())

    def get(self, path: str, **given: Any) -> httpx.Response:
        return self.request("GET", path, **given)

    def post(self, path: str, **given: Any) -> httpx.Response:
        return self.request("POST", path, **given)

    def put(self, path: str, **given: Any) -> httpx.Response:
        return self.request("PUT", path, **given)

    def entry(self, path: str) -> dict[str, Any]:
        """The entry at `path` as a client writes it back: without its `resource_version`."""
        found: dict[str, Any] = self.get(path).json()
        found.pop("resource_version", None)
        return found


def served(request: pytest.FixtureRequest, tmp_path: Path,
           registries: Path) -> Iterator[InProcess]:
    """The API over a copy of `registries`: on the file store, or imported into PostgreSQL
    when the fixture's param is "postgres" (its revision 1, the import)."""
    if request.param == "postgres":
        from reconciler.store import pgstore

        url: str = request.getfixturevalue("pg_url")
        made = pgstore.PostgresStore(url)
        made.import_state(read_live_state(registries), {}, [], default_info("import"))
        made.close()
        location = url
    else:
        location = str(copy_tree(registries, tmp_path / "registries"))
    app = create_app(location, watch=False)
    yield InProcess(app)
    app.state.registry.close()
