"""The one error the practice raises for a request it refuses: an HTTP status, a code and a plain message."""

from __future__ import annotations


class PracticeError(Exception):
    """A refusal: ``status`` for HTTP, ``code`` for programs, ``message`` for people, ``extra`` fields."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, **self.extra}
