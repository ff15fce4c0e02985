"""An error that is already an HTTP answer: a status, a detail, and any extra fields."""

from typing import Any

from reconciler.errors import MeshctlError


class ApiError(MeshctlError):
    """Raised by a route for an answer the engine's errors do not give (a bad path, a
    missing document); the app's handler turns it into JSON with `status`."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra
