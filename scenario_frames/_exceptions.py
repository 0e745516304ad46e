"""Errors of scenario_frames, in one place.

API errors carry the HTTP status, the server's message and reason, and the request path
(never the query string's secrets, never credentials), so a notebook user sees what went
wrong without a traceback dive, and nothing sensitive ends up in logs.
"""

from __future__ import annotations


class ScenarioFramesError(Exception):
    """Base class of every error this package raises on purpose."""


class QueryError(ScenarioFramesError, ValueError):
    """A query breaks one of the documented rules of ``GET /models``; raised before any request.

    ``rule`` is a short stable identifier (e.g. ``"type-with-types"``) that tests and callers
    can match on; the message names the rule and how to fix the query in Python terms.
    ``query.cli_message(exc)`` words the same error with the command line's flags.
    """

    def __init__(self, rule: str, message: str, *, params: tuple[str, ...] = ()) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.message = message
        self.params = params  # the snake_case keywords at fault, when known (the CLI names their flags)


class ScenarioAPIError(ScenarioFramesError):
    """The API answered with an error, or could not be reached in the allowed attempts."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        method: str = "GET",
        path: str = "",
    ) -> None:
        self.status = status
        self.message = message
        self.reason = reason
        self.method = method
        self.path = path
        parts = [f"{method} {path}".strip()]
        if status is not None:
            parts.append(f"-> {status}")
        text = " ".join(p for p in parts if p)
        detail = message + (f" (reason: {reason})" if reason else "")
        super().__init__(f"{text}: {detail}" if text else detail)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"reason={self.reason!r}, path={self.path!r})"
        )


class BadRequestError(ScenarioAPIError):
    """400: the server refused the query."""


class AuthenticationError(ScenarioAPIError):
    """401: missing or wrong credentials."""


class PermissionDeniedError(ScenarioAPIError):
    """403: the credentials may not do this."""


class NotFoundError(ScenarioAPIError):
    """404: no such endpoint or resource."""


class RateLimitError(ScenarioAPIError):
    """429 still answered after every allowed attempt."""


class ServerError(ScenarioAPIError):
    """5xx, a broken body, or a transport failure still present after every allowed attempt."""


class PaginationError(ScenarioAPIError):
    """Paging went wrong: a token came back twice (a loop) or the page cap was reached."""


STATUS_ERRORS: dict[int, type[ScenarioAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[ScenarioAPIError]:
    """The exception class that stands for an HTTP status."""
    if status >= 500:
        return ServerError
    return STATUS_ERRORS.get(status, ScenarioAPIError)
