"""The one tidy shape of usage every part reads and writes, and the time helpers they share.

``model_id`` (String), ``time`` (Datetime UTC, the start of the bucket a point covers),
``jobs`` (Int64), ``cost``, ``discount``, ``api_key_cost``, ``api_key_discount`` (Float64,
compute units) and ``granularity`` (String: ``hour``, ``day``, ``week`` or ``month``).
Date ranges are half-open everywhere: ``start`` is included, ``end`` excluded; a bare date
means midnight UTC.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import polars as pl

from ..listing.query import to_utc

log = logging.getLogger(__name__)


TIME_DTYPE = pl.Datetime("us", "UTC")
USAGE_SCHEMA = pl.Schema(
    {
        "model_id": pl.String(),
        "time": TIME_DTYPE,
        "jobs": pl.Int64(),
        "cost": pl.Float64(),
        "discount": pl.Float64(),
        "api_key_cost": pl.Float64(),
        "api_key_discount": pl.Float64(),
        "granularity": pl.String(),
    }
)


def _as_utc(value: str | date | datetime, what: str) -> datetime:
    """A timezone-aware UTC datetime from a date, a datetime or an ISO string."""
    return to_utc(value, rule="usage-range", what=what)


def empty_usage() -> pl.DataFrame:
    """A usage frame with no rows and the full schema (what a quiet period returns)."""
    return pl.DataFrame(schema=USAGE_SCHEMA)


def _parse_time_expr(col: pl.Expr) -> pl.Expr:
    """Parse ISO-like text to Datetime UTC: offsets are honoured, no offset means UTC."""
    c = col.str.strip_chars()
    zoned = [f"%Y-%m-%d{sep}%H:%M:%S%.f%#z" for sep in ("T", " ")] + [
        f"%Y-%m-%d{sep}%H:%M%#z" for sep in ("T", " ")
    ]
    naive = [f"%Y-%m-%d{sep}%H:%M:%S%.f" for sep in ("T", " ")] + [
        f"%Y-%m-%d{sep}%H:%M" for sep in ("T", " ")
    ]
    attempts = [c.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in zoned]
    attempts += [
        c.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in naive
    ]
    attempts += [
        c.str.to_date(f, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        for f in ("%Y-%m-%d", "%Y/%m/%d")
    ]
    return pl.coalesce(attempts)
