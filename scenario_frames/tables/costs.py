"""One definition of "a model's p50 cost" (and p50 latency), shared by the panel, charts and usage.

A model has one row per variant (capability x resolution) in ``catalog.variants``, each with
its own median cost and latency.  People still ask "what does this model cost?", so the
toolkit boils the variants down to one figure per model, and does it in exactly one place:

* the **default variant's** figure: the variant flagged ``is_default`` (when a table has no
  ``is_default`` column, the variant whose key equals the model's ``default_variant_key``);
  the API offers the default variant "for quick comparison between models";
* otherwise, when the model has no default variant or the default lacks the figure, the
  **lowest** figure across the model's variants, so models without a default stay comparable
  (the cheapest way to run it is what a budget reader would pick);
* a model with no variant carrying the figure has none (null).

The panel's ``p50_cost_cu`` / ``p50_latency_sec``, the charts and the usage join's
``cost_per_asset_p50_cu`` all come from :func:`model_p50`, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

__all__ = ["P50_COST", "P50_LATENCY", "DEFINITION", "model_p50", "data_dictionary"]

P50_COST = "p50_cost_cu"
P50_LATENCY = "p50_latency_sec"
VARIANT_COST = "cost_per_asset_p50_cu"
VARIANT_LATENCY = "total_latency_p50_sec"

DEFINITION = (
    "the default variant's figure (is_default, else the variant keyed default_variant_key); "
    "when there is no default variant or it lacks the figure, the lowest figure across the "
    "model's variants; null when no variant has one"
)

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _pick(column: str, is_default: pl.Expr, position: pl.Expr | None) -> pl.Expr:
    """Within one model's variants: the default variant's value, else the minimum.

    Should several variants be flagged default, the first by ``position`` wins (sorting only
    those few, not the whole table).
    """
    default = pl.col(column).filter(is_default)
    if position is not None:
        default = default.sort_by(position.filter(is_default))
    return default.first().fill_null(pl.col(column).min())


def model_p50(
    variants: Frame,
    *,
    keys: Sequence[str] = ("model_id",),
    default_variant_keys: pl.DataFrame | pl.LazyFrame | None = None,
    cost_name: str = P50_COST,
    latency_name: str = P50_LATENCY,
) -> Frame:
    """One row per ``keys`` (a model, or a model in one snapshot) with its p50 cost and latency.

    ``variants`` is a variants table (eager or lazy) holding ``keys``, ``cost_per_asset_p50_cu``
    and ``total_latency_p50_sec`` (a missing figure column gives nulls) and, to find the default,
    ``is_default``; without that flag pass ``default_variant_keys`` (``keys`` plus
    ``default_variant_key``, e.g. the models table) and the variant with that key counts as the
    default.  See the module docstring for the rule and why.  Output columns are ``keys``,
    ``cost_name`` and ``latency_name`` (rows in no particular order); of several flagged
    defaults the first by ``position`` wins.
    """
    keys = list(keys)
    names = variants.collect_schema().names()
    if "is_default" in names:
        frame = variants
        flag = pl.col("is_default").fill_null(False)
    elif default_variant_keys is not None and "variant_key" in names:
        lookup = default_variant_keys.select(*keys, "default_variant_key")
        if isinstance(variants, pl.LazyFrame):
            lookup = lookup.lazy()
        elif isinstance(lookup, pl.LazyFrame):
            lookup = lookup.collect()
        frame = variants.join(lookup.unique(keys, keep="last"), on=keys, how="left")
        flag = (pl.col("variant_key") == pl.col("default_variant_key")).fill_null(False)
    else:
        frame = variants
        flag = pl.lit(False)
    missing = [c for c in (VARIANT_COST, VARIANT_LATENCY) if c not in names]
    if missing:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in missing)
    position = pl.col("position") if "position" in names else None
    return frame.group_by(keys).agg(
        _pick(VARIANT_COST, flag, position).alias(cost_name),
        _pick(VARIANT_LATENCY, flag, position).alias(latency_name),
    )


def data_dictionary() -> pl.DataFrame:
    """The derived per-model figures in the data dictionary's layout (column, dtype, ...)."""
    return pl.DataFrame(
        {
            "column": [P50_COST, P50_LATENCY],
            "dtype": ["Float64", "Float64"],
            "description": [
                f"A model's median cost per asset, in compute units: {DEFINITION}.",
                f"A model's median total latency per asset, in seconds: {DEFINITION}.",
            ],
            "source": [
                f"(derived from variants.{VARIANT_COST})",
                f"(derived from variants.{VARIANT_LATENCY})",
            ],
        }
    )
