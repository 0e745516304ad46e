"""scenario_frames: the Scenario model catalog as typed polars tables.

The package reads as its data flow: ``client`` (HTTP, auth, retries) -> ``query`` (parameters
and rules) -> ``pages`` (pagination, partitioned parallel listing, resume) -> ``schema`` /
``frames`` (typed tables) -> ``snapshot`` (parquet history, diff) -> ``usage`` (joins) ->
``panel`` / ``charts`` (notebooks) -> ``cli``.  ``demo`` is an embedded Scenario API.
"""

from __future__ import annotations

from ._exceptions import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    QueryError,
    RateLimitError,
    ScenarioAPIError,
    ScenarioFramesError,
    ServerError,
)
from ._version import __version__
from .query import ModelQuery

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ModelQuery",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "QueryError",
    "RateLimitError",
    "ScenarioAPIError",
    "ScenarioFramesError",
    "ServerError",
    "__version__",
]
