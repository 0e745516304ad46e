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

from ._version import __version__
from .errors import (
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

# Heavier parts load on first use (PEP 562), so ``import scenario_frames`` stays quick.
_LAZY: dict[str, tuple[str, str | None]] = {
    "ScenarioClient": ("transport.client", "ScenarioClient"),
    "fetch_catalog": ("fetch", "fetch_catalog"),
    "fetch_pages": ("fetch", "fetch_pages"),
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
