"""Work run in a forked copy of this process, beside what this process does next.

Parts of a run at 100,000 manifests need only what the process already holds: the
mesh-wide checks need the state, the stat of half the files needs their names. A copy
made by `fork` does such work on the second core without importing anything again or
being sent its inputs; only its answer (bytes) comes back, through a pipe.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


def may_fork(jobs: int | None = None) -> bool:
    """Whether work may go to a forked copy: `fork` exists, there is more than one core
    (unless `jobs` says one process), and no other thread runs in this process (one of a
    server's or the watch loop's threads may hold a lock the copy would inherit held)."""
    return (jobs != 1 and hasattr(os, "fork") and (jobs or os.cpu_count() or 1) > 1
            and threading.active_count() == 1)


def done(answer: bytes) -> Callable[[], bytes]:
    """An answer already there, in the form `beside` gives one."""
    return lambda: answer


def beside(work: Callable[[], bytes]) -> Callable[[], bytes]:
    """`work` run in a forked copy of this process; the function returned waits for its
    answer. The copy only computes (no file, database or thread of ours is touched
    there) and leaves by `os._exit`, running no exit handler. Should it fail, `work`
    runs here, so its error is raised as without it."""
    reading, writing = os.pipe()
    try:
        child = os.fork()
    except OSError:
        os.close(reading)
        os.close(writing)
        return done(work())
    if child == 0:  # the copy
        status = 1
        try:
            os.close(reading)
            with open(writing, "wb") as answer:
                answer.write(work())
            status = 0
        finally:
            os._exit(status)
    os.close(writing)

    def answered() -> bytes:
        with open(reading, "rb") as answer:
            data = answer.read()
        _, status = os.waitpid(child, 0)
        return data if status == 0 else work()
    return answered
