"""Route handlers that block (the store's reads and writes) run on a worker thread, and
nothing else of the request does.

FastAPI runs a plain `def` handler on a worker thread, and with it each plain dependency
and the check of the handler's answer: three hand-offs between threads for one request,
each a wake-up and a turn of the GIL (about a millisecond of an API write, measured with
bench/pg.py). `OffloadedRoute`, the app's route class, declares such a handler a
coroutine that hands only its own call to a worker thread, so the dependencies (the token
check is async) and the answer's check stay on the event loop.
"""

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
R = TypeVar("R")


def blocking(handler: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`handler` run on a worker thread; FastAPI reads its parameters and answer type
    through the wrapper (`functools.wraps`)."""

    @functools.wraps(handler)
    async def on_worker_thread(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_in_threadpool(handler, *args, **kwargs)

    return on_worker_thread


class OffloadedRoute(APIRoute):
    """A route whose plain handler runs as `blocking` makes it (a coroutine as it is)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = blocking(endpoint)
        super().__init__(path, endpoint, **options)
