"""Every error class of scenario_frames, in one place (the foundation layer: imports nothing of ours).

API errors carry the HTTP status, the server's message and reason, and the request path
(never the query string's secrets, never credentials), so a notebook user sees what went
wrong without a traceback dive, and nothing sensitive ends up in logs.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence


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
        self.params = (
            params  # the snake_case keywords at fault, when known (the CLI names their flags)
        )


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


class ClientConfigError(ScenarioFramesError, ValueError):
    """The client was configured in a way we refuse (e.g. plain http to a remote host)."""


class CheckpointMismatchError(ScenarioFramesError, ValueError):
    """The checkpoint folder holds the pages of a different query or server."""


class UsageColumnError(ScenarioFramesError, ValueError):
    """A usage table lacks a column we need, or a column holds values we cannot read.

    ``seen`` lists the columns the source had and ``tried`` the names that were looked for,
    so the message alone tells the user which argument (``model_column=...``) to pass.
    """

    def __init__(
        self, message: str, *, target: str, seen: Sequence[str] = (), tried: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.target = target
        self.seen = list(seen)
        self.tried = list(tried)


class SnapshotError(ScenarioFramesError, ValueError):
    """A snapshot is missing, damaged (a sha256 mismatch) or cannot serve the request."""


class PortInUseError(OSError):
    """The demo server could not bind its port; the message names the host and the port."""

    def __init__(self, code: int, host: str, port: int) -> None:
        why = "is already in use" if code == errno.EADDRINUSE else "may not be bound by this user"
        super().__init__(code, f"port {port} on {host} {why}")
        self.host, self.port = host, port

    def __str__(self) -> str:
        return f"{self.strerror}; choose another port, or 0 for a free one"
