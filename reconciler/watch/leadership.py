"""Which of several controller replicas on one store syncs: the one holding the lease.

The others stand by and try again every `LEADER_RETRY` seconds; a leader that loses its
lease stops syncing at once (its late commits are refused by their epoch, in the store).
A file store elects no one: it runs one controller, whose lease is never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from reconciler import store as store_
from reconciler.errors import MeshctlError

log = logging.getLogger("reconciler.watch")

LEADERSHIP = "watch"  # what controller replicas elect a leader for
LEADER_RETRY = 2.0  # seconds between a standby replica's attempts to take the lead


def await_lease(store: store_.Store, stop: threading.Event,
                on_lost: Callable[[], None]) -> store_.Lease | None:
    """The lease, once no other replica holds it (None: `stop` was set first)."""
    announced = False
    while True:
        try:
            lease = store.lead(LEADERSHIP, on_lost=on_lost)
        except MeshctlError as error:
            log.warning("cannot reach the store to take the lead: %s", error)
            lease = None
        if lease is not None:
            if announced or lease.epoch is not None:
                log.info("leading on %s (epoch %s)", store.location, lease.epoch,
                         extra={"fields": {"event": "leader", "epoch": lease.epoch}})
            return lease
        if stop.is_set():
            return None
        if not announced:
            log.info("another controller leads on %s; standing by", store.location,
                     extra={"fields": {"event": "standby"}})
            announced = True
        stop.wait(LEADER_RETRY)
