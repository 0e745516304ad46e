"""Usage: per-model usage fetched from ``GET /v1/usages`` or loaded from your files, joined to the catalog.

``shape`` is the one tidy usage table; ``fetch`` reads it from the API, ``load`` from your
files, ``join`` attaches the catalog (latest or as of each point) and ``summary`` sums it up.
The public names of all of them are importable from here.
"""

from __future__ import annotations

from ..errors import UsageColumnError
from .fetch import (
    MAX_WINDOW_DAYS,
    USAGE_PATH,
    check_model_usages_body,
    fetch_model_usage,
    parse_model_usages,
    usage_windows,
)
from .join import (
    CATALOG_COLUMNS,
    JOIN_FLAGS,
    catalog_lookup,
    join_usage,
    join_usage_asof,
    unmatched_usage,
)
from .load import COLUMN_ALIASES, load_usage, normalize_name, resolve_columns
from .shape import TIME_DTYPE, USAGE_SCHEMA, empty_usage
from .summary import UsageSummary, usage_summary

__all__ = [
    "CATALOG_COLUMNS",
    "COLUMN_ALIASES",
    "JOIN_FLAGS",
    "MAX_WINDOW_DAYS",
    "TIME_DTYPE",
    "USAGE_PATH",
    "USAGE_SCHEMA",
    "UsageColumnError",
    "UsageSummary",
    "catalog_lookup",
    "check_model_usages_body",
    "empty_usage",
    "fetch_model_usage",
    "join_usage",
    "join_usage_asof",
    "load_usage",
    "normalize_name",
    "parse_model_usages",
    "resolve_columns",
    "unmatched_usage",
    "usage_summary",
    "usage_windows",
]
