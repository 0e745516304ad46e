"""Altair charts of the catalog: one function per question people ask in a notebook.

* ``models_by_type_and_capability`` – which model families offer which capabilities;
* ``cost_vs_latency``               – what each variant costs against how long it takes;
* ``catalog_growth``                – how the catalog grew over time (cumulative models);
* ``snapshot_changes``              – models added, removed and changed between snapshots.

Every function aggregates with polars first and hands Altair only the small result, so the
charts stay light in the notebook file and never hit Altair's 5,000-row embedding limit (the
scatter of variants samples down to ``max_points`` instead, and says so in its title).  The
functions return ``alt.Chart`` objects so callers can restyle them (``.properties(...)``).

Altair is pinned below 6 (``altair>=5.4,<6``): Altair 6 writes Vega-Lite 6 specs, which
JupyterLab 4's built-in renderer does not draw; with Altair 5 and
``alt.renderers.enable("mimetype")`` the charts render in JupyterLab with no network access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import polars as pl

__all__ = [
    "models_by_type_and_capability",
    "type_capability_counts",
    "cost_vs_latency",
    "catalog_growth",
    "growth_counts",
    "snapshot_changes",
    "snapshot_counts",
]

NONE_LABEL = "(none)"
CHANGE_KINDS = ("added", "changed", "removed")
_CHANGE_COLORS = ("#2ca02c", "#1f77b4", "#d62728")


def _table(source: Any, name: str) -> pl.DataFrame:
    """The named table of a Catalog, or the frame itself when a DataFrame is given."""
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if isinstance(source, pl.DataFrame):
        return source
    table = getattr(source, name, None)
    if isinstance(table, pl.DataFrame):
        return table
    raise TypeError(f"expected a Catalog or a {name} DataFrame, got {type(source).__name__}")


# ---------------------------------------------------------------------------------------------
# Models by type and capability
# ---------------------------------------------------------------------------------------------


def type_capability_counts(catalog_or_models: Any) -> pl.DataFrame:
    """Models per (type, capability); a model with no capability counts under ``(none)``."""
    models = _table(catalog_or_models, "models")
    return (
        models.select(
            "model_id",
            pl.col("type").fill_null(NONE_LABEL),
            # An empty or missing list becomes one "(none)" row instead of vanishing.
            pl.when(pl.col("capabilities").list.len() > 0).then(pl.col("capabilities"))
            .otherwise(pl.lit([NONE_LABEL], dtype=pl.List(pl.String))).alias("capability"),
        )
        .explode("capability")
        .group_by("type", "capability")
        .agg(pl.col("model_id").n_unique().alias("models"))
        .sort("type", "capability")
    )


def models_by_type_and_capability(catalog_or_models: Any) -> alt.Chart:
    """A heat map: model type down, capability across, colour = number of models.

    Types are ordered by their total number of models (largest first) so the families that
    matter most sit at the top; hover a cell for the exact count.
    """
    models = _table(catalog_or_models, "models")
    counts = type_capability_counts(models)
    type_order = (
        models.get_column("type").fill_null(NONE_LABEL).value_counts(sort=True)
        .get_column("type").to_list()
    )  # fmt: skip
    return (
        alt.Chart(counts, title="Models by type and capability")
        .mark_rect()
        .encode(
            x=alt.X("capability:N", title="capability", axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("type:N", title="model type", sort=type_order),
            color=alt.Color("models:Q", title="models", scale=alt.Scale(scheme="blues")),
            tooltip=["type:N", "capability:N", alt.Tooltip("models:Q", format=",")],
        )
    )


# ---------------------------------------------------------------------------------------------
# Cost vs latency of variants
# ---------------------------------------------------------------------------------------------

COST = "cost_per_asset_p50_cu"
LATENCY = "total_latency_p50_sec"


def cost_vs_latency(
    catalog_or_variants: Any, *, max_points: int = 5000, seed: int = 0, log: bool = False
) -> alt.Chart:
    """Each variant as a point: median total latency across, median cost per asset up.

    Variants lacking either figure are left out.  Above ``max_points`` variants a uniform
    random sample (fixed ``seed``) is drawn and the title says how many were shown.  ``log``
    switches both axes to symlog scales, which suits long-tailed costs.
    """
    variants = _table(catalog_or_variants, "variants")
    points = variants.select(
        "model_id", "variant_key", "capability", "resolution", COST, LATENCY
    ).drop_nulls([COST, LATENCY])
    total = points.height
    title = "Cost vs latency of variants (p50)"
    if total > max_points:
        points = points.sample(max_points, seed=seed)
        title += f" — {max_points:,} of {total:,} variants sampled"
    scale = alt.Scale(type="symlog") if log else alt.Scale(zero=True)
    return (
        alt.Chart(points, title=title)
        .mark_circle(size=40, opacity=0.6)
        .encode(
            x=alt.X(f"{LATENCY}:Q", title="total latency p50 (s)", scale=scale),
            y=alt.Y(f"{COST}:Q", title="cost per asset p50 (CU)", scale=scale),
            color=alt.Color("capability:N", title="capability"),
            tooltip=["model_id:N", "variant_key:N", "resolution:N",
                     alt.Tooltip(f"{COST}:Q", format=".3g"),
                     alt.Tooltip(f"{LATENCY}:Q", format=".3g")],
        )  # fmt: skip
    )


# ---------------------------------------------------------------------------------------------
# Catalog growth
# ---------------------------------------------------------------------------------------------


def growth_counts(
    catalog_or_models: Any, *, every: str = "1mo", by: str | None = None, top: int = 6
) -> pl.DataFrame:
    """Models created per period and the running total, optionally split by a column.

    ``every`` is a polars duration (``"1w"``, ``"1mo"``, ``"1q"``...).  With ``by`` (e.g.
    ``"type"``) the ``top`` most common values keep their name and the rest become
    ``other``; the running total is then per group.  Columns: ``period``, ``group`` (only
    with ``by``), ``created``, ``total``.
    """
    models = _table(catalog_or_models, "models").filter(pl.col("created_at").is_not_null())
    period = pl.col("created_at").dt.truncate(every).alias("period")
    if by is None:
        return (
            models.group_by(period).agg(pl.len().alias("created")).sort("period")
            .with_columns(pl.col("created").cum_sum().alias("total"))
        )  # fmt: skip
    keep = models.get_column(by).drop_nulls().value_counts(sort=True).head(top).get_column(by)
    group = (
        pl.when(pl.col(by).is_in(keep.implode())).then(pl.col(by).cast(pl.String))
        .otherwise(pl.lit("other")).alias("group")
    )  # fmt: skip
    return (
        models.group_by(period, group).agg(pl.len().alias("created")).sort("group", "period")
        .with_columns(pl.col("created").cum_sum().over("group").alias("total"))
    )  # fmt: skip


def catalog_growth(
    catalog_or_models: Any, *, every: str = "1mo", by: str | None = None, top: int = 6
) -> alt.Chart:
    """The number of models in the catalog over time, by creation date (cumulative).

    Only models still listed are counted, so this is how today's catalog was built up, not
    a record of models since removed (snapshots tell that story: ``snapshot_changes``).
    """
    counts = growth_counts(catalog_or_models, every=every, by=by, top=top)
    base = alt.Chart(counts, title="Catalog growth (models by creation date, cumulative)")
    x = alt.X("period:T", title="created")
    tooltip: list[Any] = [alt.Tooltip("period:T", title="period"),
                          alt.Tooltip("created:Q", format=","), alt.Tooltip("total:Q", format=",")]
    if by is None:
        return base.mark_area(line=True, opacity=0.3).encode(
            x=x, y=alt.Y("total:Q", title="models"), tooltip=tooltip
        )
    return base.mark_area(opacity=0.8).encode(
        x=x,
        y=alt.Y("total:Q", title="models", stack="zero"),
        color=alt.Color("group:N", title=by),
        tooltip=["group:N", *tooltip],
    )


# ---------------------------------------------------------------------------------------------
# Changes between snapshots
# ---------------------------------------------------------------------------------------------


def _from_history(models: pl.DataFrame) -> pl.DataFrame:
    """Counts per snapshot from a models history frame (``snapshot_at``, ``model_id``, ...)."""
    cols = ["snapshot_at", "model_id"] + (["updated_at"] if "updated_at" in models.columns else [])
    rows = models.select(cols).unique(["snapshot_at", "model_id"], keep="last")
    out = []
    previous: pl.DataFrame | None = None
    for part in rows.sort("snapshot_at").partition_by("snapshot_at", maintain_order=True):
        stamp, current = part.item(0, "snapshot_at"), part.drop("snapshot_at")
        record = {"snapshot_at": stamp, "models": current.height, "added": 0, "removed": 0,
                  "changed": 0}  # fmt: skip
        if previous is not None:
            record["added"] = current.join(previous, on="model_id", how="anti").height
            record["removed"] = previous.join(current, on="model_id", how="anti").height
            if "updated_at" in current.columns:
                both = current.join(previous, on="model_id", how="inner", suffix="_old")
                record["changed"] = both.filter(
                    pl.col("updated_at").ne_missing(pl.col("updated_at_old"))
                ).height
        out.append(record)
        previous = current
    return pl.DataFrame(out, schema={"snapshot_at": rows.schema["snapshot_at"],
                                     "models": pl.Int64, "added": pl.Int64,
                                     "removed": pl.Int64, "changed": pl.Int64})  # fmt: skip


def snapshot_counts(source: Any) -> pl.DataFrame:
    """Per snapshot: ``snapshot_at``, ``models`` (when known), ``added``, ``removed``, ``changed``.

    Accepts, in order of preference:

    * the dict returned by ``snapshot.history(out)`` (its ``models`` frame is used), or a
      models history frame (DataFrame / LazyFrame with ``snapshot_at`` and ``model_id``):
      added / removed by model id against the previous snapshot, changed = ``updated_at``
      moved (a cheap proxy; ``snapshot.diff`` compares every column);
    * one ``CatalogDiff`` or a sequence of them (``snapshot_at`` = each diff's new label);
    * a DataFrame that already has ``snapshot_at`` and some of ``added`` / ``removed`` /
      ``changed`` (counts per snapshot): returned with missing kinds as 0.
    """
    if isinstance(source, Mapping):
        source = source["models"]
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        if "model_id" in source.columns:
            return _from_history(source)
        if "snapshot_at" not in source.columns:
            raise ValueError("a counts frame needs a snapshot_at column")
        return source.with_columns(
            pl.lit(0, pl.Int64).alias(k) for k in CHANGE_KINDS if k not in source.columns
        ).sort("snapshot_at")
    diffs = [source] if hasattr(source, "added") else list(_iter_diffs(source))
    return pl.DataFrame(
        [{"snapshot_at": d.new_label, "models": getattr(d, "new_models", None),
          "added": len(d.added), "removed": len(d.removed), "changed": len(d.changed)}
         for d in diffs],
        schema={"snapshot_at": pl.String, "models": pl.Int64, "added": pl.Int64,
                "removed": pl.Int64, "changed": pl.Int64},
    )  # fmt: skip


def _iter_diffs(source: Iterable[Any]) -> Iterable[Any]:
    for d in source:
        if not all(hasattr(d, k) for k in CHANGE_KINDS):
            raise TypeError(f"not a CatalogDiff: {type(d).__name__}")
        yield d


def snapshot_changes(source: Any) -> alt.Chart:
    """Bars per snapshot: models added and changed above the axis, removed below it.

    ``source`` is anything ``snapshot_counts`` accepts (history, diffs or a counts frame).
    The first snapshot of a history has nothing to compare with and shows no bars.
    """
    counts = snapshot_counts(source)
    long = (
        counts.select(pl.col("snapshot_at").cast(pl.String), *CHANGE_KINDS)
        .unpivot(index="snapshot_at", on=list(CHANGE_KINDS), variable_name="change",
                 value_name="models")
        .with_columns(
            pl.when(pl.col("change") == "removed").then(-pl.col("models"))
            .otherwise(pl.col("models")).alias("signed")
        )
    )  # fmt: skip
    return (
        alt.Chart(long, title="Changes between snapshots")
        .mark_bar()
        .encode(
            x=alt.X("snapshot_at:N", title="snapshot", sort=None,
                    axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("signed:Q", title="models (removed below zero)"),
            color=alt.Color("change:N", title="change",
                            scale=alt.Scale(domain=list(CHANGE_KINDS), range=list(_CHANGE_COLORS))),
            tooltip=["snapshot_at:N", "change:N", alt.Tooltip("models:Q", format=",")],
        )  # fmt: skip
    )
