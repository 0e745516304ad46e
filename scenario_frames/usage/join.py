"""Usage joined with the catalog: the latest one, or the catalog as it was when each point happened.

``join_usage`` attaches ``CATALOG_COLUMNS`` from one catalog; ``join_usage_asof`` picks, for
each usage row, the last snapshot taken at or before its time.  Rows whose model is missing
from the catalog (deleted or private models, a job log from another account) are never
dropped: they are kept with ``in_catalog = False`` and a warning is logged;
``unmatched_usage`` lists them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, overload

import polars as pl

from ..errors import UsageColumnError
from ..schema import KEY
from ..tables.costs import model_p50
from .load import load_usage
from .shape import TIME_DTYPE, USAGE_SCHEMA, _as_utc, _parse_time_expr

log = logging.getLogger(__name__)


# Catalog columns that the joins attach to each usage row.
CATALOG_COLUMNS = ("name", "type", "capabilities", "default_variant_key", "cost_per_asset_p50_cu")
# Columns the joins add besides the catalog's own.
JOIN_FLAGS = ("in_catalog", "snapshot_at", "catalog_status")

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
        *[
            pl.col(c) if c in mcols else pl.lit(None, pl.String).alias(c)
            for c in ("name", "type", "default_variant_key")
        ],
        (
            pl.col("capabilities")
            if "capabilities" in mcols
            else pl.lit(None, pl.List(pl.String)).alias("capabilities")
        ),
    ).unique(subset=keys, keep="last", maintain_order=True)
    vcols = variants.collect_schema().names() if variants is not None else []
    if variants is None or "cost_per_asset_p50_cu" not in vcols:
        return base.with_columns(pl.lit(None, pl.Float64).alias("cost_per_asset_p50_cu")).select(
            *keys, *CATALOG_COLUMNS
        )
    # A model's p50 cost has one definition, shared with the panel and charts (costs.py).
    default = model_p50(
        variants, keys=keys, default_variant_keys=base, cost_name="cost_per_asset_p50_cu"
    ).select(*keys, "cost_per_asset_p50_cu")
    return base.join(default, on=keys, how="left", maintain_order="left").select(
        *keys, *CATALOG_COLUMNS
    )


@overload
def _lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame: ...
@overload
def _lazy(frame: pl.DataFrame | pl.LazyFrame | None) -> pl.LazyFrame | None: ...
def _lazy(frame: pl.DataFrame | pl.LazyFrame | None) -> pl.LazyFrame | None:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def catalog_lookup(catalog: Any) -> pl.DataFrame:
    """One row per model: id, name, type, capabilities, default variant and its p50 cost.

    ``cost_per_asset_p50_cu`` is the model's p50 cost as ``scenario_frames.tables.costs`` defines it
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
    log.warning(
        "%d usage row(s) for %d model(s) have no match in the %s (%s): %s",
        missing.height,
        ids.len(),
        what,
        why,
        shown,
    )


def join_usage(catalog: Any, usage: pl.DataFrame) -> pl.DataFrame:
    """Attach each usage row's model: name, type, capabilities and p50 cost (see costs.py).

    A left join: every usage row stays, in its order.  ``in_catalog`` is False for rows whose
    model the catalog does not hold (their catalog columns are null) and a warning is logged;
    :func:`unmatched_usage` or :class:`UsageSummary` list them.  Joining a frame that was
    joined before replaces the earlier join's columns.

    Parameters
    ----------
    catalog : Catalog or mapping of str to polars.DataFrame
        The catalog (or its tables) to look models up in.
    usage : polars.DataFrame
        Tidy usage (:func:`fetch_model_usage`, :func:`load_usage`), or anything
        :func:`load_usage` reads.

    Returns
    -------
    polars.DataFrame
        The usage columns, then ``name``, ``type``, ``capabilities``,
        ``default_variant_key``, ``cost_per_asset_p50_cu`` and ``in_catalog``.

    Raises
    ------
    UsageColumnError
        ``usage`` lacks a model column.

    See Also
    --------
    join_usage_asof : Join with the catalog as it was at each usage row's time.
    usage_summary : Totals of joined usage.

    Examples
    --------
    The demo's usage includes a few public models, which its private listing does not hold:

    >>> from scenario_frames import fetch_catalog, fetch_model_usage, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, progress=False)
    ...     usage = fetch_model_usage("2026-01-01", "2026-01-08", **account)
    >>> from scenario_frames import join_usage
    >>> joined = join_usage(catalog, usage)
    >>> joined.columns[-3:]
    ['default_variant_key', 'cost_per_asset_p50_cu', 'in_catalog']
    >>> joined["in_catalog"].value_counts(sort=True).rows()
    [(True, 98), (False, 21)]
    """
    usage = _drop_join_outputs(_ensure_usage(usage))
    right = catalog_lookup(catalog).with_columns(pl.lit(True).alias("in_catalog"))
    right = _attach_names(usage, right)
    joined = usage.join(right, on=KEY, how="left", maintain_order="left").with_columns(
        pl.col("in_catalog").fill_null(False)
    )
    _report_unmatched(joined, "catalog")
    return joined


def _drop_join_outputs(usage: pl.DataFrame) -> pl.DataFrame:
    """Remove the flag columns an earlier join added, so joining twice stays well defined."""
    return usage.drop([c for c in JOIN_FLAGS if c in usage.columns])


def _ensure_usage(usage: Any) -> pl.DataFrame:
    """Accept a tidy usage frame, or anything load_usage reads."""
    if (
        isinstance(usage, pl.DataFrame)
        and set(USAGE_SCHEMA).issubset(usage.columns)
        and usage.schema["time"] == TIME_DTYPE
    ):
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
        from .. import store as snapshot

        if not snapshot.list_snapshots(source):
            raise ValueError(
                f"no snapshots under {os.fspath(source)!r}; write one with "
                "`scenario-frames snapshot` first"
            )
        return _catalog_states(snapshot.history(source))
    if isinstance(source, Mapping) and "models" in source:
        models, variants = _lazy(source["models"]), _lazy(source.get("variants"))
        return _lookup(
            _with_snapshot_time(models), _with_snapshot_time(variants), ["snapshot_at", KEY]
        ).collect()
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        frame = _with_snapshot_time(_lazy(source)).collect()
        if KEY not in frame.columns:
            raise UsageColumnError(
                f"a history frame needs {KEY}; columns seen: {frame.columns}",
                target=KEY,
                seen=frame.columns,
                tried=[KEY],
            )
        cols = [pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in CATALOG_COLUMNS]
        return frame.select(pl.col("snapshot_at"), KEY, *cols)
    pairs = source.items() if isinstance(source, Mapping) else source
    frames = [
        catalog_lookup(cat).with_columns(pl.lit(_as_utc(at, "snapshot_at")).alias("snapshot_at"))
        for at, cat in pairs
    ]
    if not frames:
        raise ValueError("no snapshots given for the as-of join")
    return pl.concat(frames, how="diagonal_relaxed")


@overload
def _with_snapshot_time(frame: pl.LazyFrame) -> pl.LazyFrame: ...
@overload
def _with_snapshot_time(frame: pl.LazyFrame | None) -> pl.LazyFrame | None: ...
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
        raise UsageColumnError(
            f"a history table needs snapshot_at or snapshot_time; columns seen: {names}",
            target="snapshot_at",
            seen=names,
            tried=["snapshot_at", "snapshot_time"],
        )
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

    So a month of usage is priced and named with the catalog of its day, not today's: a
    model renamed, repriced or deleted since keeps what it was when the jobs ran.

    Parameters
    ----------
    history_or_snapshots_dir : str, os.PathLike, dict, polars.DataFrame or mapping
        A folder of snapshots (read with :func:`history`), the dict of tables
        :func:`history` returns, a single models history frame, a mapping
        ``{snapshot_at: Catalog}`` or an iterable of ``(snapshot_at, Catalog)`` pairs.
    usage : polars.DataFrame
        Tidy usage, or anything :func:`load_usage` reads.

    Returns
    -------
    polars.DataFrame
        The usage columns, the catalog columns of :func:`join_usage`, ``snapshot_at``
        (Datetime UTC), ``in_catalog`` and ``catalog_status``.

    Raises
    ------
    ValueError
        The folder holds no snapshots, or the snapshots hold no models.
    UsageColumnError
        A history frame lacks ``model_id`` or ``snapshot_at``.

    Examples
    --------
    One snapshot taken on 4 January: earlier usage has no catalog to match yet.

    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from scenario_frames import fetch_catalog, fetch_model_usage, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, progress=False)
    ...     usage = fetch_model_usage("2026-01-01", "2026-01-08", **account)
    >>> from datetime import UTC, datetime
    >>> from scenario_frames import join_usage_asof, write_snapshot
    >>> _ = write_snapshot(catalog, workdir, at=datetime(2026, 1, 4, tzinfo=UTC))
    >>> joined = join_usage_asof(workdir, usage)
    >>> joined["catalog_status"].value_counts().sort("catalog_status").rows()
    [('before_first_snapshot', 51), ('matched', 56), ('not_in_snapshot', 12)]
    >>> scratch.cleanup()
    """
    usage = _drop_join_outputs(_ensure_usage(usage))
    states = _catalog_states(history_or_snapshots_dir).with_columns(
        pl.col("snapshot_at").cast(TIME_DTYPE), pl.col(KEY).cast(pl.String)
    )
    states = states.filter(pl.col("snapshot_at").is_not_null()).unique(
        subset=["snapshot_at", KEY], keep="last", maintain_order=True
    )
    if states.height == 0:
        raise ValueError("the snapshots hold no models; nothing to join usage with")
    first_snapshot = states.get_column("snapshot_at").min()

    # A model that disappears between two snapshots gets a "tombstone" row at the snapshot
    # where it went missing, so later usage does not match its last known state.
    present = states.select(KEY, "snapshot_at", pl.lit(True).alias("present"))
    grid = (
        states.select(KEY)
        .unique()
        .join(states.select("snapshot_at").unique(), how="cross")
        .join(present, on=[KEY, "snapshot_at"], how="left")
        .with_columns(pl.col("present").fill_null(False))
        .sort(KEY, "snapshot_at")
    )
    tombstones = grid.filter(
        ~pl.col("present") & pl.col("present").shift(1).over(KEY).fill_null(False)
    ).select(KEY, "snapshot_at")
    right = (
        pl.concat(
            [
                states.with_columns(pl.lit(True).alias("in_catalog")),
                tombstones.with_columns(pl.lit(False).alias("in_catalog")),
            ],
            how="diagonal_relaxed",
        )
        .sort("snapshot_at")
        .select(KEY, *CATALOG_COLUMNS, "in_catalog", "snapshot_at")
    )
    right = _attach_names(usage, right)

    indexed = usage.with_row_index("__row")
    timed = indexed.filter(pl.col("time").is_not_null()).sort("time")
    matched = timed.join_asof(
        right,
        left_on="time",
        right_on="snapshot_at",
        by=KEY,
        strategy="backward",
        check_sortedness=False,
    )
    untimed = indexed.filter(pl.col("time").is_null())
    joined = pl.concat([matched, untimed], how="diagonal_relaxed").sort("__row").drop("__row")
    status = (
        pl.when(pl.col("time").is_null())
        .then(pl.lit("no_time"))
        .when(pl.col("time") < pl.lit(first_snapshot))
        .then(pl.lit("before_first_snapshot"))
        .when(pl.col("in_catalog").fill_null(False))
        .then(pl.lit("matched"))
        .otherwise(pl.lit("not_in_snapshot"))
    )
    joined = joined.with_columns(
        pl.col("in_catalog").fill_null(False), status.alias("catalog_status")
    )
    joined = joined.select(
        *usage.columns, *[c for c in right.columns if c != KEY], "catalog_status"
    )
    _report_unmatched(joined, "catalog snapshots")
    return joined


def unmatched_usage(joined: pl.DataFrame) -> pl.DataFrame:
    """Usage the catalog could not describe, one row per model: rows, jobs, CU and time span.

    After an as-of join, ``reasons`` lists the ``catalog_status`` values met for the model.
    """
    reasons = (
        [pl.col("catalog_status").unique().sort().alias("reasons")]
        if "catalog_status" in joined.columns
        else []
    )
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
