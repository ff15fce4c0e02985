"""An error that is already an HTTP answer: a status, a detail, and any extra fields."""

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra
