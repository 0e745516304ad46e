"""A short summary of joined usage: jobs and compute units per model, type and capability.

``usage_summary`` reads the output of the joins; its ``unmatched`` frame lists the usage of
models the catalog does not hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..schema import KEY
from .join import join_usage, unmatched_usage

log = logging.getLogger(__name__)


# Summary
# =============================================================================================


def _cu_per_job() -> pl.Expr:
    return (
        pl.when(pl.col("jobs") > 0)
        .then(pl.col("cost") / pl.col("jobs"))
        .otherwise(None)
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
        return {
            "by_model": self.by_model,
            "by_type": self.by_type,
            "by_capability": self.by_capability,
            "by_week": self.by_week,
            "unmatched": self.unmatched,
        }


def usage_summary(joined: pl.DataFrame, catalog: Any = None) -> UsageSummary:
    """Summarize a joined usage frame (from :func:`join_usage` or :func:`join_usage_asof`).

    Given raw usage and a ``catalog``, joins first.  Jobs and CU are summed; CU per job is
    total CU over total jobs of the group (null when there were no jobs).  The answer to
    "where do our compute units go": by model, type, capability and week, with the usage of
    models the catalog does not hold kept apart rather than lost.

    Parameters
    ----------
    joined : polars.DataFrame
        Joined usage; or raw usage when ``catalog`` is given.
    catalog : Catalog, optional
        Join ``joined`` with this catalog first.

    Returns
    -------
    UsageSummary
        ``by_model``, ``by_type``, ``by_capability``, ``by_week`` and ``unmatched`` frames,
        and the headline figures in ``totals``.

    Raises
    ------
    ValueError
        ``joined`` was not joined and no ``catalog`` was given.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, fetch_model_usage, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, progress=False)
    ...     usage = fetch_model_usage("2026-01-01", "2026-01-08", **account)
    >>> from scenario_frames import usage_summary
    >>> summary = usage_summary(usage, catalog)
    >>> summary.totals["jobs"], summary.totals["unmatched_models"]
    (1672, 3)
    >>> list(summary.frames())
    ['by_model', 'by_type', 'by_capability', 'by_week', 'unmatched']
    >>> summary.by_type.columns
    ['type', 'models', 'jobs', 'cost', 'discount', 'cu_per_job']
    """
    if catalog is not None:
        joined = join_usage(catalog, joined)
    if "in_catalog" not in joined.columns:
        raise ValueError(
            "usage_summary needs joined usage: call join_usage(catalog, usage) "
            "first, or pass catalog="
        )
    sums = [
        pl.col("jobs").sum().alias("jobs"),
        pl.col("cost").sum().alias("cost"),
        pl.col("discount").sum().alias("discount"),
    ]
    known_jobs = pl.col("jobs").filter(pl.col("cost_per_asset_p50_cu").is_not_null()).sum()
    weighted = (
        pl.when(known_jobs > 0)
        .then((pl.col("cost_per_asset_p50_cu") * pl.col("jobs")).sum() / known_jobs)
        .otherwise(pl.col("cost_per_asset_p50_cu").mean())  # no jobs: the plain mean
        .alias("catalog_p50_cu")
    )

    by_model = (
        joined.group_by(KEY)
        .agg(
            pl.col("name").drop_nulls().last().alias("name"),
            pl.col("type").drop_nulls().last().alias("type"),
            pl.col("in_catalog").any().alias("in_catalog"),
            *sums,
            weighted,
        )
        .with_columns(_cu_per_job())
        .with_columns(
            (pl.col("cu_per_job") / pl.col("catalog_p50_cu")).alias("cu_per_job_vs_catalog")
        )
        .select(
            KEY,
            "name",
            "type",
            "in_catalog",
            "jobs",
            "cost",
            "discount",
            "cu_per_job",
            "catalog_p50_cu",
            "cu_per_job_vs_catalog",
        )
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
