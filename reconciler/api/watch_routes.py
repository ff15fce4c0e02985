"""The watch controller inside the server (`meshctl serve --watch`): its status, a sync on
request, and `POST /hooks/git` for push webhooks from GitHub and GitLab.

A webhook carries no bearer token: it proves itself with the shared secret, as GitHub does
(`X-Hub-Signature-256`: the HMAC-SHA256 of the body) or as GitLab does (`X-Gitlab-Token`:
the secret itself), compared in constant time. A push to the followed branch asks the
controller to fetch and sync now; a burst of pushes makes one sync of the newest commit.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import hashlib
import hmac
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reconciler.api.errors import ApiError
from reconciler.api.shown_paths import ShownPaths
from reconciler.store import Store
from reconciler.watch import status as status_file
from reconciler.watch.controller import Controller

WEBHOOK_SECRET_ENV = "MESHCTL_WEBHOOK_SECRET"


def add_routes(app: FastAPI, controller: Controller | None, *, store: Store,
               webhook_secret: str | None, paths: ShownPaths, viewer: Any,
               editor: Any) -> None:

    @app.get("/registries/watch/status", tags=["watch"], dependencies=[viewer])
    def watch_status() -> dict[str, Any]:
        """The watch controller's last sync, last good sync and the resources out of sync
        (the controller in this server, else the status file another one wrote). With
        neither: `"configured": false, "running": false` and why (200: there is simply
        no controller to report on)."""
        if controller is not None:
            return {"configured": True, "running": True, **paths.watch(controller.status())}
        found = status_file.read(store)
        if found is None:
            return {"configured": False, "running": False,
                    "detail": "no watch controller runs here: start the server with "
                              "--watch, or run `meshctl watch`"}
        return {"configured": True, **paths.watch(found),
                "running": status_file.is_running(found)}

    @app.post("/registries/watch/sync", tags=["watch"], dependencies=[editor],
              status_code=202)
    def watch_sync() -> dict[str, Any]:
        """Sync now instead of at the next interval (a git source fetches first)."""
        if controller is None:
            raise ApiError(404, "the server was started without --watch")
        controller.trigger("api")
        return {"accepted": True}

    @app.post("/hooks/git", tags=["watch"], status_code=202)
    async def git_hook(request: Request) -> JSONResponse:
        """A push webhook (GitHub or GitLab), checked with the shared secret."""
        if controller is None:
            raise ApiError(404, "the server was started without --watch")
        if not webhook_secret:
            raise ApiError(403, "webhooks are off: start the server with "
                                f"--webhook-secret-file (or ${WEBHOOK_SECRET_ENV})")
        body = await request.body()
        if not _authentic(request, body, webhook_secret):
            raise ApiError(401, "the webhook's signature or token does not match the secret")
        if request.headers.get("x-github-event") == "ping":
            return JSONResponse({"accepted": False, "reason": "ping"}, 200)
        try:
            payload = json.loads(body or b"{}")
        except ValueError as error:
            raise ApiError(400, f"the webhook body is not JSON: {error}") from error
        ref = payload.get("ref") if isinstance(payload, dict) else None
        branch = controller.git.branch if controller.git is not None else None
        if branch is not None and ref != f"refs/heads/{branch}":
            return JSONResponse({"accepted": False,
                                 "reason": f"a push to {ref}, not to refs/heads/{branch}"},
                                200)
        controller.trigger("webhook")
        return JSONResponse({"accepted": True}, 202)


def _authentic(request: Request, body: bytes, secret: str) -> bool:
    signature = request.headers.get("x-hub-signature-256")
    if signature is not None:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip(), expected)
    token = request.headers.get("x-gitlab-token")
    if token is not None:
        return hmac.compare_digest(token.encode(), secret.encode())
    return False
