"""Usage you bring yourself: a CSV, parquet, JSON file or a DataFrame, read into the tidy shape.

``load_usage`` finds the columns it needs by name (``COLUMN_ALIASES``, compared after
``normalize_name``), or by the names you pass (``model_column=...``); a column it cannot find
or read raises ``UsageColumnError`` naming the columns it saw and the names it tried.
Everything is done with polars expressions; no Python loop runs per row.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import UsageColumnError
from ..schema import KEY
from .shape import TIME_DTYPE, USAGE_SCHEMA, _parse_time_expr

log = logging.getLogger(__name__)


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
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}


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
            raise ValueError(
                f"cannot tell the format of {path.name!r}; pass format= one of "
                f"{sorted(set(_SUFFIX_FORMATS.values()))}"
            )
        if kind in ("csv", "tsv"):
            return pl.read_csv(
                path, separator="\t" if kind == "tsv" else ",", infer_schema_length=10_000
            )
        if kind == "parquet":
            return pl.read_parquet(path)
        if kind == "ndjson":
            return pl.read_ndjson(path)
        if kind == "json":
            return pl.read_json(path)
        raise ValueError(f"unknown format {kind!r}")
    raise TypeError(
        f"load_usage takes a path or a polars/pandas DataFrame, not {type(source).__name__}"
    )


def resolve_columns(
    columns: Sequence[str],
    overrides: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """Map canonical usage columns to the source's columns (canonical -> source name).

    An explicit override wins; otherwise the first alias (in priority order) whose
    comparison form matches a source column.  A source column is used at most once.
    """
    chosen: dict[str, str] = {k: v for k, v in (overrides or {}).items() if v}
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalize_name(col), col)
    found: dict[str, str] = {}
    used: set[str] = set()
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in chosen:
            name = chosen[canon]
            if name not in columns:
                raise UsageColumnError(
                    f"{canon}: column {name!r} was asked for but is not in the source; "
                    f"columns seen: {list(columns)}",
                    target=canon,
                    seen=columns,
                    tried=[name],
                )
            found[canon] = name
            used.add(name)
            continue
        for alias in aliases:
            match = by_norm.get(alias)
            if match is not None and match not in used:
                found[canon] = match
                used.add(match)
                break
    return found


def _alias_examples(canon: str) -> list[str]:
    """Readable names tried for a canonical column (for error messages)."""
    pretty = {
        "modelid": ["modelId", "model_id", "Model ID"],
        "jobcount": ["job_count"],
        "computeunits": ["compute_units"],
        "createdat": ["created_at"],
    }
    out: list[str] = []
    for alias in COLUMN_ALIASES[canon]:
        out.extend(pretty.get(alias, [alias]))
    return out


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
    raise UsageColumnError(
        f"time column {name!r} has dtype {dtype}, which cannot be read as a time",
        target="time",
        seen=[name],
        tried=[name],
    )


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

    Job logs and billing exports name their columns in many ways; this reads them into the
    same tidy shape as :func:`fetch_model_usage`, so the joins and summaries work on either.

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

    Parameters
    ----------
    source : str, os.PathLike, polars.DataFrame or pandas.DataFrame
        A file path, or a frame already in memory.
    model_column, time_column, jobs_column, cost_column : str, optional
        The name of that column in ``source``, when the loose matching would not find it.
    format : str, optional
        The file format (``"csv"``, ``"tsv"``, ``"parquet"``, ``"ndjson"``, ``"json"``);
        default from the file's suffix.

    Returns
    -------
    polars.DataFrame
        The usage columns (``model_id``, ``time``, ``jobs``, ``cost``, ``discount``,
        ``api_key_cost``, ``api_key_discount``, ``granularity``) with their types, then
        ``source``'s other columns.

    Raises
    ------
    UsageColumnError
        No model column was found, or a named column is missing or cannot be read.

    Examples
    --------
    A job log with its own column names, one row per job:

    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from scenario_frames import load_usage
    >>> import polars as pl
    >>> jobs = pl.DataFrame(
    ...     {
    ...         "Model ID": ["model_a", "model_b"],
    ...         "Timestamp": ["2026-01-02T10:00:00Z", "2026-01-03"],
    ...         "CU": [2.5, 1.25],
    ...     }
    ... )
    >>> jobs.write_csv(workdir / "jobs.csv")
    >>> usage = load_usage(workdir / "jobs.csv")
    >>> usage.select("model_id", "jobs", "cost").rows()
    [('model_a', 1, 2.5), ('model_b', 1, 1.25)]
    >>> usage.schema["time"]
    Datetime(time_unit='us', time_zone='UTC')
    >>> scratch.cleanup()
    """
    frame = _read_source(source, format)
    columns = list(frame.columns)
    overrides = {
        "model_id": model_column,
        "time": time_column,
        "jobs": jobs_column,
        "cost": cost_column,
    }
    found = resolve_columns(columns, overrides)
    if KEY not in found:
        tried = _alias_examples(KEY)
        raise UsageColumnError(
            f"no model column found. Columns seen: {columns}. Names tried (case, spaces, '_' "
            f"and '-' ignored): {tried}. Pass model_column='...' to name it.",
            target=KEY,
            seen=columns,
            tried=tried,
        )

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
                f"e.g. {samples}",
                target=canon,
                seen=list(raw.columns),
                tried=[src],
            )


# =============================================================================================
