"""Model usage: fetch it from ``GET /v1/usages``, load your own, join it with the catalog.

The catalog says what a model *should* cost; usage says what the team *did* run and what it
was billed.  This module brings both into one tidy shape so they can be joined:

``model_id`` (String), ``time`` (Datetime UTC, the start of the bucket a point covers),
``jobs`` (Int64), ``cost``, ``discount``, ``api_key_cost``, ``api_key_discount`` (Float64,
compute units) and ``granularity`` (String: ``hour``, ``day``, ``week`` or ``month``).

Date ranges are half-open everywhere: ``start`` is included, ``end`` is excluded, so
``start=2025-01-01, end=2025-02-01`` is exactly January.  A bare date means midnight UTC.
Half-open windows tile a long period with no overlap and no gap, which is what lets
:func:`fetch_model_usage` cut a period into calls of at most 120 days (the API's limit) and
glue the answers back together.  A point is kept when its time (the start of its bucket)
falls inside the period, so with daily buckets pass whole days: a start of 06:00 would drop
that day's point, stamped 00:00.

Usage rows whose model is missing from the catalog (deleted or private models, a job log
from another account) are never dropped: the joins keep them with ``in_catalog = False``,
log a warning, and :class:`UsageSummary` lists them in its ``unmatched`` frame.

Everything is done with polars expressions; no Python loop runs per row.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from ..errors import QueryError, ServerError, UsageColumnError
from ..listing.query import as_list, iso_utc, to_utc
from ..schema import KEY
from ..tables.costs import model_p50
from ..transport.client import ClientConfigError, ScenarioClient, expect_list

log = logging.getLogger(__name__)

USAGE_PATH = "/usages"
MAX_WINDOW_DAYS = 120  # the API refuses startDate/endDate further apart than this

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

# Catalog columns that the joins attach to each usage row.
CATALOG_COLUMNS = ("name", "type", "capabilities", "default_variant_key", "cost_per_asset_p50_cu")
# Columns the joins add besides the catalog's own.
JOIN_FLAGS = ("in_catalog", "snapshot_at", "catalog_status")


# =============================================================================================
# Errors
# =============================================================================================


# =============================================================================================
# Date windows
# =============================================================================================


def _as_utc(value: str | date | datetime, what: str) -> datetime:
    """A timezone-aware UTC datetime from a date, a datetime or an ISO string."""
    return to_utc(value, rule="usage-range", what=what)


def usage_windows(start: str | date | datetime, end: str | date | datetime, *,
                  max_days: int = MAX_WINDOW_DAYS) -> list[tuple[datetime, datetime]]:
    """Cut the half-open period ``[start, end)`` into consecutive windows of at most ``max_days``.

    Each window's end is the next one's start, so together they cover the period exactly
    once.  Raises :class:`QueryError` (a ValueError) when ``end`` is not after ``start``.
    """
    lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
    if hi <= lo:
        raise QueryError("usage-range", f"end ({iso_utc(hi)}) must be after start ({iso_utc(lo)}); "
                                        "the range is start-inclusive, end-exclusive")
    if max_days < 1:
        raise QueryError("usage-range", f"max_days must be at least 1, got {max_days}")
    step = timedelta(days=max_days)
    windows: list[tuple[datetime, datetime]] = []
    cursor = lo
    while cursor < hi:
        nxt = min(cursor + step, hi)
        windows.append((cursor, nxt))
        cursor = nxt
    return windows


# =============================================================================================
# Fetch
# =============================================================================================


def empty_usage() -> pl.DataFrame:
    """A usage frame with no rows and the full schema (what a quiet period returns)."""
    return pl.DataFrame(schema=USAGE_SCHEMA)


_HAS_LIST = expect_list("modelUsages")


def check_model_usages_body(data: Any) -> str | None:
    """Body check for a 200 of ``/usages?type=model-usages`` (plugged into the client).

    Gets the parsed JSON; returns ``None`` when it is usable, else a short reason.  The body
    must be an object with a ``modelUsages`` list whose items are objects with a string
    ``modelId`` and a ``points`` list.  A failing 200 is retried by the client like a 5xx.
    """
    problem = _HAS_LIST(data)
    if problem:
        return problem
    for i, item in enumerate(data["modelUsages"]):
        if not isinstance(item, dict) or not isinstance(item.get("modelId"), str) \
                or not isinstance(item.get("points", []), list):
            return f"modelUsages[{i}] is not an object with a modelId and a points list"
    return None


_POINT_STRUCT = pl.Struct(
    {
        "time": pl.String(),
        "jobs": pl.Float64(),
        "cost": pl.Float64(),
        "discount": pl.Float64(),
        "apiKeyCost": pl.Float64(),
        "apiKeyDiscount": pl.Float64(),
    }
)


def _granularity_expr(time: pl.Expr, window_days: float) -> pl.Expr:
    """Guess the bucket size from the smallest step between distinct timestamps.

    The documented answer carries no granularity field; the bucket size follows the
    length of the requested range.
    With a single timestamp the window length decides (≤ 2 days: hourly, else daily).
    """
    gaps = time.unique().sort().diff().dt.total_seconds()
    step = gaps.filter(gaps > 0).min()
    fallback = pl.lit("hour" if window_days <= 2 else "day")
    return (
        pl.when(step.is_null()).then(fallback)
        .when(step <= 3600).then(pl.lit("hour"))
        .when(step <= 86400).then(pl.lit("day"))
        .when(step <= 7 * 86400).then(pl.lit("week"))
        .otherwise(pl.lit("month"))
    )


def parse_model_usages(body: bytes | str | Mapping[str, Any], *,
                       window: tuple[datetime, datetime] | None = None) -> pl.DataFrame:
    """Turn one ``{"modelUsages": [...]}`` body into tidy usage rows.

    When ``window`` is given, points outside the half-open window are dropped: whatever the
    server's own convention for ``endDate``, consecutive windows then never share a point.
    """
    try:
        data = orjson.loads(body) if isinstance(body, bytes | bytearray | str) else body
    except orjson.JSONDecodeError:
        raise ServerError("usage answer is not valid JSON", path=USAGE_PATH) from None
    problem = check_model_usages_body(data)
    if problem:
        raise ServerError(f"unusable usage answer: {problem}", path=USAGE_PATH)
    usages = data["modelUsages"]
    if not usages:
        return empty_usage()
    raw = pl.from_dicts(
        usages, schema={"modelId": pl.String(), "points": pl.List(_POINT_STRUCT)}, strict=False
    )
    frame = (
        raw.explode("points")
        .filter(pl.col("points").is_not_null())
        .unnest("points")
        .select(
            pl.col("modelId").alias("model_id"),
            _parse_time_expr(pl.col("time")).alias("time"),
            pl.col("jobs").round(0).cast(pl.Int64),
            pl.col("cost"),
            pl.col("discount"),
            pl.col("apiKeyCost").alias("api_key_cost"),
            pl.col("apiKeyDiscount").alias("api_key_discount"),
        )
    )
    bad = frame.filter(pl.col("time").is_null()).height
    if bad:
        raise ServerError(f"{bad} usage points have no readable time", path=USAGE_PATH)
    days = (window[1] - window[0]).total_seconds() / 86400 if window else 31.0
    frame = frame.with_columns(_granularity_expr(pl.col("time"), days).alias("granularity"))
    if window is not None:
        before = frame.height
        frame = frame.filter((pl.col("time") >= window[0]) & (pl.col("time") < window[1]))
        if frame.height != before:
            log.debug("dropped %d usage points outside [%s, %s)", before - frame.height,
                      iso_utc(window[0]), iso_utc(window[1]))
    return frame.select(pl.col(n).cast(t) for n, t in USAGE_SCHEMA.items())


def fetch_model_usage(
    start: str | date | datetime,
    end: str | date | datetime,
    project_ids: str | Iterable[str] | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    client: ScenarioClient | None = None,
    progress: bool = False,
    max_days: int = MAX_WINDOW_DAYS,
) -> pl.DataFrame:
    """Per-model usage points for the half-open period ``[start, end)`` as one tidy frame.

    Periods longer than ``max_days`` (120, the API's limit) are fetched in consecutive
    windows (see :func:`usage_windows`); each answer is cut to its own window and the rows
    are de-duplicated on ``(model_id, time)``, so the result has neither overlap nor gap.
    Credentials, base URL, retries and the secrecy rules are the :class:`ScenarioClient`'s;
    pass ``client`` to reuse one (e.g. with a custom deadline).
    """
    windows = usage_windows(start, end, max_days=max_days)
    own_client = client is None
    if client is None:
        client = ScenarioClient(base_url=base_url, api_key=api_key, api_secret=api_secret)
    if client.is_public:
        if own_client:
            client.close()
        raise ClientConfigError(
            "usage is private to an account: pass api_key and api_secret, or set "
            "SCENARIO_API_KEY and SCENARIO_API_SECRET (the public token cannot read usage)")
    ids = as_list(project_ids or [])
    frames: list[pl.DataFrame] = []
    iterator: Iterable[tuple[datetime, datetime]] = windows
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(windows, desc="usage windows", unit="call")
        iterator = bar
    try:
        for lo, hi in iterator:
            params = {"type": "model-usages", "startDate": iso_utc(lo), "endDate": iso_utc(hi)}
            if ids:
                params["projectIds"] = ",".join(ids)
            _raw, data = client.get_json(USAGE_PATH, params, check=check_model_usages_body)
            frames.append(parse_model_usages(data, window=(lo, hi)))
    finally:
        if bar is not None:
            bar.close()
        if own_client:
            client.close()
    usage = pl.concat(frames, how="vertical") if frames else empty_usage()
    before = usage.height
    usage = usage.unique(subset=[KEY, "time"], keep="first", maintain_order=True)
    if usage.height != before:
        log.info("removed %d duplicate usage points at window edges", before - usage.height)
    log.info("fetched %d usage points for %d models in %d call(s)", usage.height,
             usage.get_column(KEY).n_unique(), len(windows))
    return usage.sort(KEY, "time")


# =============================================================================================
# Bring your own usage
# =============================================================================================


def normalize_name(name: str) -> str:
    """The comparison form of a column name: lower case, letters and digits only.

    ``"Model ID"``, ``"model_id"``, ``"modelId"`` and ``"MODEL-ID"`` all become ``"modelid"``.
    """
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Canonical column -> accepted names in comparison form, most specific first.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "model_id": ("modelid", "model"),
    "time": ("time", "timestamp", "datetime", "date", "day", "createdat", "ts"),
    "jobs": ("jobs", "jobcount", "jobscount", "numjobs", "njobs", "job"),
    "cost": ("cost", "cu", "computeunits", "computeunit", "costcu"),
    "discount": ("discount", "discountcu"),
    "api_key_cost": ("apikeycost",),
    "api_key_discount": ("apikeydiscount",),
    "granularity": ("granularity",),
}

_SUFFIX_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json",
}  # fmt: skip


def _read_source(source: Any, fmt: str | None) -> pl.DataFrame:
    """Read a path or take a frame (polars, lazy polars or pandas) as a polars DataFrame."""
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if type(source).__module__.startswith("pandas") and hasattr(source, "columns"):
        return pl.from_pandas(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        kind = fmt or _SUFFIX_FORMATS.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"cannot tell the format of {path.name!r}; pass format= one of "
                             f"{sorted(set(_SUFFIX_FORMATS.values()))}")
        if kind in ("csv", "tsv"):
            return pl.read_csv(path, separator="\t" if kind == "tsv" else ",",
                               infer_schema_length=10_000)
        if kind == "parquet":
            return pl.read_parquet(path)
        if kind == "ndjson":
            return pl.read_ndjson(path)
        if kind == "json":
            return pl.read_json(path)
        raise ValueError(f"unknown format {kind!r}")
    raise TypeError(f"load_usage takes a path or a polars/pandas DataFrame, not {type(source).__name__}")


def resolve_columns(columns: Sequence[str], overrides: Mapping[str, str | None] | None = None,
                    ) -> dict[str, str]:
    """Map canonical usage columns to the source's columns (canonical -> source name).

    An explicit override wins; otherwise the first alias (in priority order) whose
    comparison form matches a source column.  A source column is used at most once.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalize_name(col), col)
    found: dict[str, str] = {}
    used: set[str] = set()
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in overrides:
            name = overrides[canon]
            if name not in columns:
                raise UsageColumnError(
                    f"{canon}: column {name!r} was asked for but is not in the source; "
                    f"columns seen: {list(columns)}", target=canon, seen=columns, tried=[name])
            found[canon] = name
            used.add(name)
            continue
        for alias in aliases:
            col = by_norm.get(alias)
            if col is not None and col not in used:
                found[canon] = col
                used.add(col)
                break
    return found


def _alias_examples(canon: str) -> list[str]:
    """Readable names tried for a canonical column (for error messages)."""
    pretty = {"modelid": ["modelId", "model_id", "Model ID"], "jobcount": ["job_count"],
              "computeunits": ["compute_units"], "createdat": ["created_at"]}
    out: list[str] = []
    for alias in COLUMN_ALIASES[canon]:
        out.extend(pretty.get(alias, [alias]))
    return out


def _parse_time_expr(col: pl.Expr) -> pl.Expr:
    """Parse ISO-like text to Datetime UTC: offsets are honoured, no offset means UTC."""
    c = col.str.strip_chars()
    zoned = [f"%Y-%m-%d{sep}%H:%M:%S%.f%#z" for sep in ("T", " ")] + \
            [f"%Y-%m-%d{sep}%H:%M%#z" for sep in ("T", " ")]
    naive = [f"%Y-%m-%d{sep}%H:%M:%S%.f" for sep in ("T", " ")] + \
            [f"%Y-%m-%d{sep}%H:%M" for sep in ("T", " ")]
    attempts = [c.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in zoned]
    attempts += [c.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
                 for f in naive]
    attempts += [c.str.to_date(f, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                 for f in ("%Y-%m-%d", "%Y/%m/%d")]
    return pl.coalesce(attempts)


def _time_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """An expression turning column ``name`` of ``dtype`` into Datetime(us, UTC)."""
    col = pl.col(name)
    if dtype == pl.String:
        return _parse_time_expr(col)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").cast(TIME_DTYPE)
        return col.dt.convert_time_zone("UTC").cast(TIME_DTYPE)
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_numeric():
        # Epoch numbers: seconds unless they are too large to be seconds of this era.
        as_float = col.cast(pl.Float64)
        millis = pl.when(as_float.abs() > 1e11).then(as_float).otherwise(as_float * 1000)
        return pl.from_epoch(millis.round(0).cast(pl.Int64), time_unit="ms").cast(TIME_DTYPE)
    raise UsageColumnError(f"time column {name!r} has dtype {dtype}, which cannot be read as a time",
                           target="time", seen=[name], tried=[name])


def load_usage(
    source: Any,
    *,
    model_column: str | None = None,
    time_column: str | None = None,
    jobs_column: str | None = None,
    cost_column: str | None = None,
    format: str | None = None,
) -> pl.DataFrame:
    """Load usage you keep yourself (CSV, TSV, Parquet, NDJSON/JSON, a polars or pandas frame).

    Column names are matched loosely (case, spaces, ``_`` and ``-`` are ignored): ``modelId``,
    ``model_id``, ``Model ID`` or ``model`` become ``model_id``; ``time``, ``timestamp``,
    ``date``, ``day`` or ``created_at`` become ``time`` (parsed to Datetime UTC; naive times
    are taken as UTC, epoch numbers as seconds or milliseconds); ``jobs``/``job_count``
    become ``jobs``; ``cost``/``cu``/``compute_units`` become ``cost``.  The ``*_column``
    arguments name a column explicitly.  Columns the toolkit does not know are kept after the
    standard ones.

    A missing usage column is filled in: ``jobs`` with 1 (a job log has one row per job),
    the others with nulls.  Only ``model_id`` is required; without it a
    :class:`UsageColumnError` (a ValueError) lists the columns seen and the names tried.
    """
    frame = _read_source(source, format)
    columns = list(frame.columns)
    overrides = {"model_id": model_column, "time": time_column, "jobs": jobs_column,
                 "cost": cost_column}
    found = resolve_columns(columns, overrides)
    if KEY not in found:
        tried = _alias_examples(KEY)
        raise UsageColumnError(
            f"no model column found. Columns seen: {columns}. Names tried (case, spaces, '_' "
            f"and '-' ignored): {tried}. Pass model_column='...' to name it.",
            target=KEY, seen=columns, tried=tried)

    exprs: list[pl.Expr] = []
    for canon, dtype in USAGE_SCHEMA.items():
        src = found.get(canon)
        if src is None:
            fill = pl.lit(1, pl.Int64) if canon == "jobs" else pl.lit(None, dtype)
            exprs.append(fill.alias(canon))
        elif canon == "time":
            exprs.append(_time_expr(src, frame.schema[src]).alias(canon))
        elif canon in ("model_id", "granularity"):
            exprs.append(pl.col(src).cast(pl.String).alias(canon))
        elif canon == "jobs":
            exprs.append(_number_expr(src, frame.schema[src]).round(0).cast(pl.Int64).alias(canon))
        else:
            exprs.append(_number_expr(src, frame.schema[src]).alias(canon))
    if "jobs" not in found:
        log.info("usage has no jobs column; counting each row as one job")
    extras = [c for c in columns if c not in found.values() and c not in USAGE_SCHEMA]
    out = frame.select(*exprs, *[pl.col(c) for c in extras])
    _check_unreadable(frame, out, found)
    return out


def _number_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Float64 from a numeric or text column (text may carry spaces)."""
    if dtype == pl.String:
        return pl.col(name).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.col(name).cast(pl.Float64, strict=False)


def _check_unreadable(raw: pl.DataFrame, out: pl.DataFrame, found: Mapping[str, str]) -> None:
    """Fail when a value was present in the source but became null (unreadable) in the output."""
    for canon in ("time", "jobs", "cost", "discount", "api_key_cost", "api_key_discount"):
        src = found.get(canon)
        if src is None:
            continue
        lost = raw.get_column(src).is_not_null() & out.get_column(canon).is_null()
        if lost.any():
            samples = raw.get_column(src).filter(lost).head(3).to_list()
            raise UsageColumnError(
                f"{int(lost.sum())} value(s) of column {src!r} cannot be read as {canon}, "
                f"e.g. {samples}", target=canon, seen=list(raw.columns), tried=[src])


# =============================================================================================
# Joins
# =============================================================================================


def _tables(catalog: Any) -> Mapping[str, pl.DataFrame]:
    """The tables of a Catalog, or a mapping of tables given as is."""
    if isinstance(catalog, Mapping):
        return catalog
    tables = getattr(catalog, "tables", None)
    if isinstance(tables, Mapping):
        return tables
    raise TypeError(f"expected a Catalog or a dict of tables, got {type(catalog).__name__}")


def _lookup(models: pl.LazyFrame, variants: pl.LazyFrame | None, keys: list[str]) -> pl.LazyFrame:
    """Lookup rows (see :func:`catalog_lookup`) per ``keys``: the model id, plus the snapshot."""
    mcols = models.collect_schema().names()
    base = models.select(
        *keys,
        *[pl.col(c) if c in mcols else pl.lit(None, pl.String).alias(c)
          for c in ("name", "type", "default_variant_key")],
        (pl.col("capabilities") if "capabilities" in mcols
         else pl.lit(None, pl.List(pl.String)).alias("capabilities")),
    ).unique(subset=keys, keep="last", maintain_order=True)
    vcols = variants.collect_schema().names() if variants is not None else []
    if variants is None or "cost_per_asset_p50_cu" not in vcols:
        return base.with_columns(pl.lit(None, pl.Float64).alias("cost_per_asset_p50_cu")) \
            .select(*keys, *CATALOG_COLUMNS)
    # A model's p50 cost has one definition, shared with the panel and charts (costs.py).
    default = model_p50(variants, keys=keys, default_variant_keys=base,
                        cost_name="cost_per_asset_p50_cu").select(*keys, "cost_per_asset_p50_cu")
    return base.join(default, on=keys, how="left", maintain_order="left").select(*keys, *CATALOG_COLUMNS)


def _lazy(frame: pl.DataFrame | pl.LazyFrame | None) -> pl.LazyFrame | None:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def catalog_lookup(catalog: Any) -> pl.DataFrame:
    """One row per model: id, name, type, capabilities, default variant and its p50 cost.

    ``cost_per_asset_p50_cu`` is the model's p50 cost as ``scenario_frames.costs`` defines it
    for the whole toolkit (panel and charts included): the default variant's figure (flagged
    ``is_default``, or keyed ``default_variant_key`` when the flag is missing), else the lowest
    figure across the model's variants.  ``catalog`` is a Catalog or a dict of its tables
    (``models`` and, for the cost, ``variants``).
    """
    tables = _tables(catalog)
    return _lookup(_lazy(tables["models"]), _lazy(tables.get("variants")), [KEY]).collect()


def _attach_names(usage: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """Rename catalog columns that collide with usage columns to ``<name>_catalog``."""
    clash = {c: f"{c}_catalog" for c in right.columns if c != KEY and c in usage.columns}
    return right.rename(clash) if clash else right


def _report_unmatched(joined: pl.DataFrame, what: str) -> None:
    """Log one warning naming the usage rows the catalog could not describe (and why)."""
    missing = joined.filter(~pl.col("in_catalog"))
    if not missing.height:
        return
    ids = missing.get_column(KEY).unique(maintain_order=True)
    shown = ", ".join(str(i) for i in ids.head(5).to_list()) + (", ..." if ids.len() > 5 else "")
    why = "deleted or private models?"
    if "catalog_status" in missing.columns:
        counts = missing.get_column("catalog_status").value_counts(sort=True)
        why = ", ".join(f"{n} {status}" for status, n in counts.iter_rows())
    log.warning("%d usage row(s) for %d model(s) have no match in the %s (%s): %s",
                missing.height, ids.len(), what, why, shown)


def join_usage(catalog: Any, usage: pl.DataFrame) -> pl.DataFrame:
    """Each usage row with its model's name, type, capabilities and p50 cost (see costs.py).

    A left join: every usage row stays, in its order.  ``in_catalog`` is False for rows whose
    model the catalog does not hold (their catalog columns are null) and a warning is logged;
    :func:`unmatched_usage` or :class:`UsageSummary` list them.
    """
    usage = _drop_join_outputs(_ensure_usage(usage))
    right = catalog_lookup(catalog).with_columns(pl.lit(True).alias("in_catalog"))
    right = _attach_names(usage, right)
    joined = usage.join(right, on=KEY, how="left", maintain_order="left").with_columns(
        pl.col("in_catalog").fill_null(False))
    _report_unmatched(joined, "catalog")
    return joined


def _drop_join_outputs(usage: pl.DataFrame) -> pl.DataFrame:
    """Remove the flag columns an earlier join added, so joining twice stays well defined."""
    return usage.drop([c for c in JOIN_FLAGS if c in usage.columns])


def _ensure_usage(usage: Any) -> pl.DataFrame:
    """Accept a tidy usage frame, or anything load_usage reads."""
    if isinstance(usage, pl.DataFrame) and set(USAGE_SCHEMA).issubset(usage.columns) \
            and usage.schema["time"] == TIME_DTYPE:
        return usage
    return load_usage(usage)


def _catalog_states(source: Any) -> pl.DataFrame:
    """The catalog at each snapshot: ``snapshot_at`` (Datetime UTC) plus lookup columns.

    ``source`` is a snapshots directory (read with ``snapshot.history``), the dict of tables
    ``history`` returns (lazy or not, with ``snapshot_time`` or a Datetime ``snapshot_at``),
    a single history frame already holding lookup columns, a mapping
    ``{snapshot_at: Catalog}`` or an iterable of ``(snapshot_at, Catalog)`` pairs.
    """
    if isinstance(source, str | os.PathLike):
        from ..store import snapshot

        if not snapshot.list_snapshots(source):
            raise ValueError(f"no snapshots under {os.fspath(source)!r}; write one with "
                             "`scenario-frames snapshot` first")
        return _catalog_states(snapshot.history(source))
    if isinstance(source, Mapping) and "models" in source:
        models, variants = _lazy(source["models"]), _lazy(source.get("variants"))
        return _lookup(_with_snapshot_time(models), _with_snapshot_time(variants),
                       ["snapshot_at", KEY]).collect()
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        frame = _with_snapshot_time(_lazy(source)).collect()
        if KEY not in frame.columns:
            raise UsageColumnError(f"a history frame needs {KEY}; columns seen: {frame.columns}",
                                   target=KEY, seen=frame.columns, tried=[KEY])
        cols = [pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in CATALOG_COLUMNS]
        return frame.select(pl.col("snapshot_at"), KEY, *cols)
    pairs = source.items() if isinstance(source, Mapping) else source
    frames = [catalog_lookup(cat).with_columns(pl.lit(_as_utc(at, "snapshot_at")).alias("snapshot_at"))
              for at, cat in pairs]
    if not frames:
        raise ValueError("no snapshots given for the as-of join")
    return pl.concat(frames, how="diagonal_relaxed")


def _with_snapshot_time(frame: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """Make ``snapshot_at`` the snapshot's instant (Datetime UTC).

    ``snapshot.history`` gives ``snapshot_at`` as the folder's text and ``snapshot_time`` as
    its instant; the text sorts in time order, so sorting by it first and keeping the last
    row per instant picks the later of two snapshots taken in the same second.
    """
    if frame is None:
        return None
    names = frame.collect_schema().names()
    if "snapshot_time" in names:
        if "snapshot_at" in names:
            frame = frame.sort("snapshot_at", maintain_order=True)
        return frame.drop("snapshot_at", strict=False).rename({"snapshot_time": "snapshot_at"})
    if "snapshot_at" not in names:
        raise UsageColumnError(f"a history table needs snapshot_at or snapshot_time; columns seen: "
                               f"{names}", target="snapshot_at", seen=names,
                               tried=["snapshot_at", "snapshot_time"])
    dtype = frame.collect_schema()["snapshot_at"]
    if dtype == pl.String:
        return frame.with_columns(_parse_time_expr(pl.col("snapshot_at")).alias("snapshot_at"))
    return frame


def join_usage_asof(history_or_snapshots_dir: Any, usage: pl.DataFrame) -> pl.DataFrame:
    """Each usage row with the catalog as it was at the row's time.

    For every row, the latest snapshot taken at or before ``time`` supplies the model's
    name, type, capabilities and default cost (``snapshot_at`` says which snapshot).  A
    model missing from that snapshot (deleted since, or not yet listed), a time before the
    first snapshot, or a row without a time gives ``in_catalog = False``, with the reason in
    ``catalog_status`` (``matched``, ``not_in_snapshot``, ``before_first_snapshot``,
    ``no_time``).  Rows keep their order and none is dropped.
    """
    usage = _drop_join_outputs(_ensure_usage(usage))
    states = _catalog_states(history_or_snapshots_dir).with_columns(
        pl.col("snapshot_at").cast(TIME_DTYPE), pl.col(KEY).cast(pl.String))
    states = states.filter(pl.col("snapshot_at").is_not_null()) \
        .unique(subset=["snapshot_at", KEY], keep="last", maintain_order=True)
    if states.height == 0:
        raise ValueError("the snapshots hold no models; nothing to join usage with")
    first_snapshot = states.get_column("snapshot_at").min()

    # A model that disappears between two snapshots gets a "tombstone" row at the snapshot
    # where it went missing, so later usage does not match its last known state.
    present = states.select(KEY, "snapshot_at", pl.lit(True).alias("present"))
    grid = (
        states.select(KEY).unique()
        .join(states.select("snapshot_at").unique(), how="cross")
        .join(present, on=[KEY, "snapshot_at"], how="left")
        .with_columns(pl.col("present").fill_null(False))
        .sort(KEY, "snapshot_at")
    )
    tombstones = grid.filter(
        ~pl.col("present") & pl.col("present").shift(1).over(KEY).fill_null(False)
    ).select(KEY, "snapshot_at")
    right = pl.concat(
        [states.with_columns(pl.lit(True).alias("in_catalog")),
         tombstones.with_columns(pl.lit(False).alias("in_catalog"))],
        how="diagonal_relaxed",
    ).sort("snapshot_at").select(KEY, *CATALOG_COLUMNS, "in_catalog", "snapshot_at")
    right = _attach_names(usage, right)

    indexed = usage.with_row_index("__row")
    timed = indexed.filter(pl.col("time").is_not_null()).sort("time")
    matched = timed.join_asof(right, left_on="time", right_on="snapshot_at", by=KEY,
                              strategy="backward", check_sortedness=False)
    untimed = indexed.filter(pl.col("time").is_null())
    joined = pl.concat([matched, untimed], how="diagonal_relaxed").sort("__row").drop("__row")
    status = (
        pl.when(pl.col("time").is_null()).then(pl.lit("no_time"))
        .when(pl.col("time") < pl.lit(first_snapshot)).then(pl.lit("before_first_snapshot"))
        .when(pl.col("in_catalog").fill_null(False)).then(pl.lit("matched"))
        .otherwise(pl.lit("not_in_snapshot"))
    )
    joined = joined.with_columns(pl.col("in_catalog").fill_null(False), status.alias("catalog_status"))
    joined = joined.select(*usage.columns, *[c for c in right.columns if c != KEY], "catalog_status")
    _report_unmatched(joined, "catalog snapshots")
    return joined


def unmatched_usage(joined: pl.DataFrame) -> pl.DataFrame:
    """Usage the catalog could not describe, one row per model: rows, jobs, CU and time span.

    After an as-of join, ``reasons`` lists the ``catalog_status`` values met for the model.
    """
    reasons = ([pl.col("catalog_status").unique().sort().alias("reasons")]
               if "catalog_status" in joined.columns else [])
    return (
        joined.filter(~pl.col("in_catalog"))
        .group_by(KEY)
        .agg(
            pl.len().alias("rows"),
            pl.col("jobs").sum().alias("jobs"),
            pl.col("cost").sum().alias("cost"),
            pl.col("time").min().alias("first_time"),
            pl.col("time").max().alias("last_time"),
            *reasons,
        )
        .sort(["cost", KEY], descending=[True, False], nulls_last=True)
    )


# =============================================================================================
# Summary
# =============================================================================================


def _cu_per_job() -> pl.Expr:
    return (
        pl.when(pl.col("jobs") > 0).then(pl.col("cost") / pl.col("jobs")).otherwise(None)
        .alias("cu_per_job")
    )


@dataclass
class UsageSummary:
    """Usage totals, several ways.

    ``by_model``: jobs, CU, CU per job and the catalog's median cost per asset
    (``catalog_p50_cu``; jobs-weighted when it changed over time), with their ratio
    ``cu_per_job / catalog_p50_cu`` (above 1 when jobs make several assets or cost more than
    the median); its ``name`` and ``type`` are the latest known and ``in_catalog`` is True
    when any row matched.  ``by_type`` and ``by_week`` (weeks start on Monday, UTC) add up to the
    total.  ``by_capability`` counts a model's usage under each of its capabilities, because
    usage does not say which one a job used, so its rows overlap.  ``unmatched`` lists the
    models not in the catalog; ``totals`` holds the headline figures.
    """

    by_model: pl.DataFrame
    by_type: pl.DataFrame
    by_capability: pl.DataFrame
    by_week: pl.DataFrame
    unmatched: pl.DataFrame
    totals: dict[str, Any] = field(default_factory=dict)

    def frames(self) -> dict[str, pl.DataFrame]:
        """The frames by name (handy to write them all out)."""
        return {"by_model": self.by_model, "by_type": self.by_type,
                "by_capability": self.by_capability, "by_week": self.by_week,
                "unmatched": self.unmatched}


def usage_summary(joined: pl.DataFrame, catalog: Any = None) -> UsageSummary:
    """Summarize a joined usage frame (from :func:`join_usage` or :func:`join_usage_asof`).

    Given raw usage and a ``catalog``, joins first.  Jobs and CU are summed; CU per job is
    total CU over total jobs of the group (null when there were no jobs).
    """
    if catalog is not None:
        joined = join_usage(catalog, joined)
    if "in_catalog" not in joined.columns:
        raise ValueError("usage_summary needs joined usage: call join_usage(catalog, usage) "
                         "first, or pass catalog=")
    sums = [pl.col("jobs").sum().alias("jobs"), pl.col("cost").sum().alias("cost"),
            pl.col("discount").sum().alias("discount")]
    known_jobs = pl.col("jobs").filter(pl.col("cost_per_asset_p50_cu").is_not_null()).sum()
    weighted = (
        pl.when(known_jobs > 0)
        .then((pl.col("cost_per_asset_p50_cu") * pl.col("jobs")).sum() / known_jobs)
        .otherwise(pl.col("cost_per_asset_p50_cu").mean())  # no jobs: the plain mean
        .alias("catalog_p50_cu")
    )

    by_model = (
        joined.group_by(KEY)
        .agg(pl.col("name").drop_nulls().last().alias("name"),
             pl.col("type").drop_nulls().last().alias("type"),
             pl.col("in_catalog").any().alias("in_catalog"),
             *sums, weighted)
        .with_columns(_cu_per_job())
        .with_columns((pl.col("cu_per_job") / pl.col("catalog_p50_cu")).alias("cu_per_job_vs_catalog"))
        .select(KEY, "name", "type", "in_catalog", "jobs", "cost", "discount", "cu_per_job",
                "catalog_p50_cu", "cu_per_job_vs_catalog")
        .sort(["cost", KEY], descending=[True, False], nulls_last=True)
    )
    by_type = (
        joined.group_by("type")
        .agg(pl.col(KEY).n_unique().alias("models"), *sums)
        .with_columns(_cu_per_job())
        .sort(["cost", "type"], descending=[True, False], nulls_last=True)
    )
    by_capability = (
        joined.select(KEY, "jobs", "cost", "discount", pl.col("capabilities").alias("capability"))
        .explode("capability")
        .group_by("capability")
        .agg(pl.col(KEY).n_unique().alias("models"), *sums)
        .with_columns(_cu_per_job())
        .sort(["cost", "capability"], descending=[True, False], nulls_last=True)
    )
    by_week = (
        joined.with_columns(pl.col("time").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(pl.col(KEY).n_unique().alias("models"), *sums)
        .with_columns(_cu_per_job())
        .sort("week", nulls_last=True)
    )
    unmatched = unmatched_usage(joined)
    jobs = int(joined.get_column("jobs").sum() or 0)
    cost = float(joined.get_column("cost").sum() or 0.0)
    totals = {
        "rows": joined.height,
        "models": joined.get_column(KEY).n_unique(),
        "jobs": jobs,
        "cost": cost,
        "cu_per_job": cost / jobs if jobs else None,
        "start": joined.get_column("time").min(),
        "end": joined.get_column("time").max(),
        "unmatched_rows": int((~joined.get_column("in_catalog")).sum()),
        "unmatched_models": unmatched.height,
        "unmatched_cost": float(unmatched.get_column("cost").sum() or 0.0),
    }
    return UsageSummary(by_model, by_type, by_capability, by_week, unmatched, totals)
