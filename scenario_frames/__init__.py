"""scenario_frames: the Scenario model catalog as typed polars tables.

The package reads as its data flow, one subpackage per layer: ``transport`` (HTTP, auth,
retries) -> ``listing`` (query rules, pagination, partitioned parallel listing, resume) ->
``fetch`` (a listing fed to the tables) -> ``tables`` (typed polars tables) -> ``store``
(parquet snapshots, history, diff) -> ``usage`` (joins) -> ``notebook`` (panel, charts) ->
``cli``; ``schema``, ``errors``, ``files`` and ``urls`` lie below them all.  ``demo`` is an
embedded Scenario API.  The common names are importable from here; older names (``client``,
``pages``, ``frames``, ``snapshot``, ``panel``, ``charts``, ``query``) still resolve to their new
modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIRequest,
    APIResponse,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
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
from .listing.query import ModelQuery

if TYPE_CHECKING:
    # The lazily loaded names with their real types, for type checkers and IDEs (at run time
    # ``__getattr__`` below imports them on first use).  ``X as X`` marks a re-export (PEP 484);
    # the older module names keep working but are not re-exported for new code.
    from . import demo as demo
    from . import errors as errors
    from . import fetch as fetch
    from . import listing as listing
    from . import notebook as notebook
    from . import schema as schema
    from . import store as snapshot  # noqa: F401  (older name of ``store``)
    from . import store as store
    from . import tables as tables
    from . import transport as transport
    from . import usage as usage
    from .demo import serve_demo as serve_demo
    from .fetch import fetch_catalog as fetch_catalog
    from .fetch import fetch_pages as fetch_pages
    from .fetch_stats import FetchStats as FetchStats
    from .listing import partition as pages  # noqa: F401  (older name)
    from .listing import query as query
    from .notebook import charts as charts
    from .notebook import panel as panel
    from .notebook.panel import FilterPanel as FilterPanel
    from .schema import data_dictionary as data_dictionary
    from .store import diff as diff
    from .store import history as history
    from .store import latest_snapshot as latest_snapshot
    from .store import read_snapshot as read_snapshot
    from .store import write_snapshot as write_snapshot
    from .tables import catalog as frames  # noqa: F401  (older name)
    from .tables.catalog import Catalog as Catalog
    from .tables.catalog import CatalogMeta as CatalogMeta
    from .transport import client as client
    from .transport.client import ScenarioClient as ScenarioClient
    from .usage import fetch_model_usage as fetch_model_usage
    from .usage import join_usage as join_usage
    from .usage import join_usage_asof as join_usage_asof
    from .usage import load_usage as load_usage
    from .usage import usage_summary as usage_summary

# Heavier parts load on first use (PEP 562), so ``import scenario_frames`` stays quick.
_LAZY: dict[str, tuple[str, str | None]] = {
    "ScenarioClient": ("transport.client", "ScenarioClient"),
    "fetch_catalog": ("fetch", "fetch_catalog"),
    "fetch_pages": ("fetch", "fetch_pages"),
    "FetchStats": ("fetch_stats", "FetchStats"),
    "Catalog": ("tables.catalog", "Catalog"),
    "CatalogMeta": ("tables.catalog", "CatalogMeta"),
    "write_snapshot": ("store", "write_snapshot"),
    "read_snapshot": ("store", "read_snapshot"),
    "latest_snapshot": ("store", "latest_snapshot"),
    "history": ("store", "history"),
    "diff": ("store", "diff"),
    "fetch_model_usage": ("usage", "fetch_model_usage"),
    "load_usage": ("usage", "load_usage"),
    "join_usage": ("usage", "join_usage"),
    "join_usage_asof": ("usage", "join_usage_asof"),
    "usage_summary": ("usage", "usage_summary"),
    "FilterPanel": ("notebook.panel", "FilterPanel"),
    "serve_demo": ("demo", "serve_demo"),
    "data_dictionary": ("schema", "data_dictionary"),
    "schema": ("schema", None),
    "query": ("listing.query", None),
    "client": ("transport.client", None),
    "pages": ("listing.partition", None),
    "fetch": ("fetch", None),
    "frames": ("tables.catalog", None),
    "snapshot": ("store", None),
    "usage": ("usage", None),
    "panel": ("notebook.panel", None),
    "charts": ("notebook.charts", None),
    "demo": ("demo", None),
    "errors": ("errors", None),
    "transport": ("transport", None),
    "listing": ("listing", None),
    "tables": ("tables", None),
    "store": ("store", None),
    "notebook": ("notebook", None),
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first use."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'scenario_frames' has no attribute {name!r}") from None
    import importlib

    mod = importlib.import_module(f".{module}", __name__)
    return mod if attr is None else getattr(mod, attr)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "APIConnectionError",
    "APIRequest",
    "APIResponse",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
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
    *[k for k, (_, attr) in _LAZY.items() if attr is not None],
]
