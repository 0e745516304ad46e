"""Usage: per-model usage fetched from ``GET /v1/usages`` or loaded from your files, joined to the catalog."""

from __future__ import annotations

from .core import (
    CATALOG_COLUMNS,
    COLUMN_ALIASES,
    JOIN_FLAGS,
    MAX_WINDOW_DAYS,
    TIME_DTYPE,
    USAGE_PATH,
    USAGE_SCHEMA,
    UsageColumnError,
    UsageSummary,
    catalog_lookup,
    check_model_usages_body,
    empty_usage,
    fetch_model_usage,
    join_usage,
    join_usage_asof,
    load_usage,
    normalize_name,
    parse_model_usages,
    resolve_columns,
    unmatched_usage,
    usage_summary,
    usage_windows,
)

__all__ = [
    "CATALOG_COLUMNS", "COLUMN_ALIASES", "JOIN_FLAGS", "MAX_WINDOW_DAYS", "TIME_DTYPE", "USAGE_PATH",
    "USAGE_SCHEMA", "UsageColumnError", "UsageSummary", "catalog_lookup", "check_model_usages_body",
    "empty_usage", "fetch_model_usage", "join_usage", "join_usage_asof", "load_usage",
    "normalize_name", "parse_model_usages", "resolve_columns", "unmatched_usage", "usage_summary",
    "usage_windows",
]  # fmt: skip
