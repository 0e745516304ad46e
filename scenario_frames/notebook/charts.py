"""Altair charts of the catalog: one function per question people ask in a notebook.

* ``models_by_type_and_capability`` – which model families offer which capabilities;
* ``cost_vs_latency``               – what each variant costs against how long it takes;
* ``catalog_growth``                – how the catalog grew over time (cumulative models);
* ``snapshot_changes``              – models added, removed and changed between snapshots;
* ``cu_per_job_chart``              – which models cost the most CU per job this month, and
  how that moved week by week (from usage, joined or not).

Every function aggregates with polars first and hands Altair only the small result, so the
charts stay light in the notebook file and never hit Altair's 5,000-row embedding limit (the
scatter of variants samples down to ``max_points`` instead, and says so in its title).  The
functions return ``alt.Chart`` objects so callers can restyle them (``.properties(...)``).

Altair is pinned below 6 (``altair>=5.4,<6``): Altair 6 writes Vega-Lite 6 specs, which
JupyterLab 4's built-in renderer does not draw; with Altair 5 and
``alt.renderers.enable("mimetype")`` the charts render in JupyterLab with no network access.
JupyterLab 4.6 bundles Vega-Lite 5.6.1 and its renderer warns (in the browser console, for
every chart) when a spec's ``$schema`` names a newer 5.x than that; Altair 5.5 writes v5.20.1,
so every chart here declares ``VEGA_LITE_SCHEMA`` instead and uses nothing newer than 5.6.

Honest pictures (decisions):

* stacked cumulative series are computed on the complete (group, period) grid, so a group
  with no new model in a period keeps its running total there instead of vanishing from the
  stack (which made the stack dip);
* categorical colours come from one fixed palette of clearly distinct colours
  (``PALETTE``): the most frequent categories keep their name and colour, the rest share a
  grey ``other``, so no two capabilities ever share a colour;
* skewed costs and latencies get log axes with ticks placed on a 1-2-5 ladder over the range
  the data covers (``log_ticks``), so labels sit where the points are.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import altair as alt
import polars as pl

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = [
    "models_by_type_and_capability",
    "type_capability_counts",
    "cost_vs_latency",
    "catalog_growth",
    "growth_counts",
    "snapshot_changes",
    "snapshot_counts",
    "cu_per_job",
    "cu_per_job_chart",
]

NONE_LABEL = "(none)"
OTHER_LABEL = "other"
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.6.1.json"
# 20 colours picked greedily from the Kelly, Trubetskoy and Tableau sets so that every pair
# (and each against OTHER_COLOR, and white) stays far apart in CIELAB (delta E above 29);
# OTHER_COLOR is for whatever is lumped together.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#f032e6",
    "#DCD300",
    "#d62728",
    "#000075",
    "#3cb44b",
    "#2B3D26",
    "#9A6324",
    "#B3446C",
    "#dbdb8d",
    "#ff7f0e",
    "#42d4f4",
    "#4363d8",
    "#dcbeff",
    "#ff9896",
    "#808000",
    "#469990",
    "#875692",
    "#ffbb78",
    "#911eb4",
)
OTHER_COLOR = "#B8B8B8"
CHANGE_KINDS = ("added", "changed", "removed")
_CHANGE_COLORS = ("#2ca02c", "#1f77b4", "#d62728")


_ChartT = TypeVar("_ChartT", bound=alt.TopLevelMixin)


def _float(value: object) -> float:
    """A numeric column's min or max as a float (polars types them as any Python value)."""
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _finish(chart: _ChartT) -> _ChartT:
    """Declare the Vega-Lite version JupyterLab 4's renderer bundles (see the module doc)."""
    # altair's hints give TopLevelMixin no __setitem__; every top-level chart is also a
    # SchemaBase, which has it.
    chart["$schema"] = VEGA_LITE_SCHEMA  # type: ignore[index]
    return chart


def top_labels(values: pl.Series, top: int = len(PALETTE)) -> list[str]:
    """The ``top`` most frequent non-null values (ties by name), most frequent first.

    The charts name these categories and lump the rest into ``other``, so the colours stay
    few enough to tell apart.

    Parameters
    ----------
    values : polars.Series
        The values to count (compared as text).
    top : int, default len(PALETTE)
        How many to keep.

    Returns
    -------
    list of str
        At most ``top`` values.

    Examples
    --------
    >>> import polars as pl
    >>> from scenario_frames.notebook.charts import top_labels
    >>> top_labels(pl.Series(["a", "b", "b", "c", "c", None]), top=2)
    ['b', 'c']
    """
    counts = values.drop_nulls().cast(pl.String).value_counts(name="n")
    name = counts.columns[0]
    return counts.sort(["n", name], descending=[True, False]).head(top)[name].to_list()


def lump(column: str, keep: list[str], label: str = OTHER_LABEL) -> pl.Expr:
    """``column`` as text where it is one of ``keep``, else ``label``.

    Parameters
    ----------
    column : str
        The column to relabel.
    keep : list of str
        The values that keep their name (see ``top_labels``).
    label : str, default "other"
        The name of everything else.

    Returns
    -------
    polars.Expr
        A String expression named after ``column``.

    Examples
    --------
    >>> import polars as pl
    >>> from scenario_frames.notebook.charts import lump
    >>> pl.DataFrame({"type": ["a", "b", "c"]}).select(lump("type", ["a"]))["type"].to_list()
    ['a', 'other', 'other']
    """
    text = pl.col(column).cast(pl.String)
    return pl.when(text.is_in(keep)).then(text).otherwise(pl.lit(label))


def color_scale(keep: list[str], lumped: bool) -> alt.Scale:
    """A categorical scale giving each kept value its own palette colour (and grey 'other').

    Parameters
    ----------
    keep : list of str
        The named categories, in order; at most ``len(PALETTE)``.
    lumped : bool
        Whether an ``other`` category follows them (it is drawn grey).

    Returns
    -------
    altair.Scale
        The scale's domain and colours.

    Raises
    ------
    ValueError
        More categories than the palette has colours.

    Examples
    --------
    >>> from scenario_frames.notebook.charts import color_scale
    >>> scale = color_scale(["txt2img", "img2img"], lumped=True)
    >>> scale.domain, scale.range
    (['txt2img', 'img2img', 'other'], ['#1f77b4', '#f032e6', '#B8B8B8'])
    """
    if len(keep) > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} named categories fit the palette")
    domain, colours = list(keep), list(PALETTE[: len(keep)])
    if lumped:
        domain.append(OTHER_LABEL)
        colours.append(OTHER_COLOR)
    return alt.Scale(domain=domain, range=colours)


def log_ticks(values: pl.Series, most: int = 12) -> list[float]:
    """Tick values on a 1-2-5 ladder spanning the positive values (fewer steps when long).

    A log axis labels its decades only; costs and latencies spanning a decade or two then
    get few or no labels near the points, so the charts place their own.

    Parameters
    ----------
    values : polars.Series
        The figures on the axis; nulls, zeros and negatives are ignored.
    most : int, default 12
        The most ticks wanted: above it the ladder becomes 1-3, then decades.

    Returns
    -------
    list of float
        From the step at or below the smallest value to the one at or above the largest;
        empty when no value is positive.

    Examples
    --------
    >>> import polars as pl
    >>> from scenario_frames.notebook.charts import log_ticks
    >>> log_ticks(pl.Series([0.3, 4.0, 70.0]))
    [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    """
    positive = values.drop_nulls().filter(values.drop_nulls() > 0)
    if positive.is_empty():
        return []
    lo, hi = _float(positive.min()), _float(positive.max())
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = []
        decade = 10.0 ** math.floor(math.log10(lo))
        while decade <= hi * 10:
            ticks += [decade * m for m in steps]
            decade *= 10
        # Keep the ladder from the step at or below the minimum to the one at or above the max.
        below = [t for t in ticks if t <= lo]
        above = [t for t in ticks if t >= hi]
        start = ticks.index(below[-1]) if below else 0
        end = ticks.index(above[0]) if above else len(ticks) - 1
        chosen = [float(f"{t:.6g}") for t in ticks[start : end + 1]]
        if len(chosen) <= most:
            return chosen
    return chosen


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
    """Models per (type, capability); a model with no capability counts under ``(none)``.

    The table behind ``models_by_type_and_capability``.

    Parameters
    ----------
    catalog_or_models : Catalog or polars.DataFrame
        A catalog, or its models table.

    Returns
    -------
    polars.DataFrame
        ``type``, ``capability`` and ``models`` (a missing type also reads ``(none)``).

    Raises
    ------
    TypeError
        The argument is neither a catalog nor a DataFrame.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> counts = charts.type_capability_counts(catalog)
    >>> counts.columns
    ['type', 'capability', 'models']
    >>> counts.filter(type="flux.1-lora", capability="img2img")["models"].item()
    4
    """
    models = _table(catalog_or_models, "models")
    return (
        models.select(
            "model_id",
            pl.col("type").fill_null(NONE_LABEL),
            # An empty or missing list becomes one "(none)" row instead of vanishing.
            pl.when(pl.col("capabilities").list.len() > 0)
            .then(pl.col("capabilities"))
            .otherwise(pl.lit([NONE_LABEL], dtype=pl.List(pl.String)))
            .alias("capability"),
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

    Parameters
    ----------
    catalog_or_models : Catalog or polars.DataFrame
        A catalog, or its models table.

    Returns
    -------
    altair.Chart
        The heat map (restyle it with ``.properties(...)``).

    Raises
    ------
    TypeError
        The argument is neither a catalog nor a DataFrame.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> chart = charts.models_by_type_and_capability(catalog)
    >>> chart.to_dict()["mark"]["type"]
    'rect'
    """
    models = _table(catalog_or_models, "models")
    counts = type_capability_counts(models)
    type_order = (
        models.get_column("type")
        .fill_null(NONE_LABEL)
        .value_counts(sort=True)
        .get_column("type")
        .to_list()
    )
    return _finish(
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


def _axis_scale(values: pl.Series, log: bool) -> tuple[alt.Scale, alt.Axis]:
    """A linear scale from zero, or a log scale (symlog when zeros occur) with 1-2-5 ticks."""
    if not log:
        return alt.Scale(zero=True), alt.Axis(format="~s")
    ticks = log_ticks(values)
    clean = values.drop_nulls()
    if clean.is_empty() or _float(clean.min()) > 0:
        lo, hi = (ticks[0], ticks[-1]) if ticks else (None, None)
        scale = alt.Scale(type="log", domain=[lo, hi] if ticks else alt.Undefined, nice=False)
        return scale, alt.Axis(values=ticks, format="~g", grid=True)
    smallest = _float(clean.filter(clean > 0).min()) if (clean > 0).any() else 1.0
    scale = alt.Scale(
        type="symlog",
        constant=smallest,
        nice=False,
        domain=[0, ticks[-1]] if ticks else alt.Undefined,
    )
    return scale, alt.Axis(values=[0.0, *ticks], format="~g", grid=True)


def cost_vs_latency(
    catalog_or_variants: Any,
    *,
    max_points: int = 5000,
    seed: int = 0,
    log: bool = False,
    title: str | None = None,
) -> alt.Chart:
    """Each variant as a point: median total latency across, median cost per asset up.

    Variants lacking either figure are left out.  Above ``max_points`` variants a uniform
    random sample (fixed ``seed``) is drawn and the title says how many were shown.  ``log``
    switches both axes to log scales (symlog when a figure is 0) with ticks on a 1-2-5 ladder
    over the data's range, which suits long-tailed costs.  Colours: the ``len(PALETTE)`` most
    common capabilities by name, the rest as ``other`` (see the module doc).  ``title``
    replaces the first part of the title (e.g. to say which selection is shown).

    Parameters
    ----------
    catalog_or_variants : Catalog or polars.DataFrame
        A catalog, or its variants table.
    max_points : int, default 5000
        The most points drawn (Altair embeds at most 5,000 rows).
    seed : int, default 0
        The seed of the sample drawn above ``max_points``.
    log : bool, default False
        Log scales on both axes.
    title : str, optional
        The first part of the title.

    Returns
    -------
    altair.Chart
        The scatter plot.

    Raises
    ------
    TypeError
        The argument is neither a catalog nor a DataFrame.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> chart = charts.cost_vs_latency(catalog, log=True)
    >>> chart.to_dict()["title"]
    'Cost vs latency of variants (p50)'
    """
    variants = _table(catalog_or_variants, "variants")
    points = variants.select(
        "model_id", "variant_key", "capability", "resolution", COST, LATENCY
    ).drop_nulls([COST, LATENCY])
    total = points.height
    title = title or "Cost vs latency of variants (p50)"
    if total > max_points:
        points = points.sample(max_points, seed=seed)
        title += f" — {max_points:,} of {total:,} variants sampled"
    keep = top_labels(points["capability"].fill_null(NONE_LABEL))
    points = points.with_columns(pl.col("capability").fill_null(NONE_LABEL)).with_columns(
        lump("capability", keep)
    )
    lumped = (
        points.filter(pl.col("capability") == OTHER_LABEL).height > 0 and OTHER_LABEL not in keep
    )
    x_scale, x_axis = _axis_scale(points[LATENCY], log)
    y_scale, y_axis = _axis_scale(points[COST], log)
    return _finish(
        alt.Chart(points, title=title)
        .mark_circle(size=40, opacity=0.6)
        .encode(
            x=alt.X(f"{LATENCY}:Q", title="total latency p50 (s)", scale=x_scale, axis=x_axis),
            y=alt.Y(f"{COST}:Q", title="cost per asset p50 (CU)", scale=y_scale, axis=y_axis),
            color=alt.Color(
                "capability:N",
                title="capability",
                scale=color_scale(keep, lumped),
                legend=alt.Legend(columns=1, symbolLimit=0, labelLimit=200),
            ),
            tooltip=[
                "model_id:N",
                "variant_key:N",
                "resolution:N",
                alt.Tooltip(f"{COST}:Q", format=".3g"),
                alt.Tooltip(f"{LATENCY}:Q", format=".3g"),
            ],
        )
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

    The result holds every period from the first to the last creation date, and with ``by``
    every (group, period) pair, with ``created = 0`` where nothing was created: a running
    total is then defined everywhere and a stack of the groups' totals never dips, ending at
    the number of models with a creation date.

    Parameters
    ----------
    catalog_or_models : Catalog or polars.DataFrame
        A catalog, or its models table.
    every : str, default "1mo"
        The period, as a polars duration.
    by : str, optional
        A column of the models table to split by.
    top : int, default 6
        How many of ``by``'s values keep their name.

    Returns
    -------
    polars.DataFrame
        ``period`` (Datetime UTC), ``group`` (with ``by``), ``created`` and ``total``.

    Raises
    ------
    TypeError
        The argument is neither a catalog nor a DataFrame.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> counts = charts.growth_counts(catalog, every="1d")
    >>> counts.columns, counts["total"].to_list()
    (['period', 'created', 'total'], [3, 3, 3, 7, 10, 14, 19, 20, 23, 26])
    >>> charts.growth_counts(catalog, every="1y", by="privacy").columns
    ['group', 'period', 'created', 'total']
    """
    models = _table(catalog_or_models, "models").filter(pl.col("created_at").is_not_null())
    period = pl.col("created_at").dt.truncate(every).alias("period")
    dtype = models.schema["created_at"]
    if models.is_empty():
        schema: dict[str, PolarsDataType] = {
            "period": dtype,
            **({"group": pl.String} if by else {}),
            "created": pl.UInt32,
            "total": pl.UInt32,
        }
        return pl.DataFrame(schema=schema)
    bounds = models.select(period.min().alias("lo"), period.max().alias("hi")).row(0)
    periods = pl.DataFrame(
        {
            "period": pl.datetime_range(
                bounds[0],
                bounds[1],
                every,
                eager=True,
                time_zone=getattr(dtype, "time_zone", None),
                time_unit=getattr(dtype, "time_unit", "us"),
            )
        }
    )
    # Truncating each range step again keeps month/quarter steps on the truncate grid.
    periods = periods.select(pl.col("period").dt.truncate(every)).unique(maintain_order=True)
    if by is None:
        created = models.group_by(period).agg(pl.len().alias("created"))
        return (
            periods.join(created, on="period", how="left")
            .with_columns(pl.col("created").fill_null(0))
            .sort("period")
            .with_columns(pl.col("created").cum_sum().alias("total"))
        )
    keep = top_labels(models.get_column(by), top)
    group = lump(by, keep).alias("group")
    created = models.group_by(period, group).agg(pl.len().alias("created"))
    groups = created.select("group").unique().sort("group")
    return (
        groups.join(periods, how="cross")
        .join(created, on=["group", "period"], how="left")
        .with_columns(pl.col("created").fill_null(0))
        .sort("group", "period")
        .with_columns(pl.col("created").cum_sum().over("group").alias("total"))
    )


def catalog_growth(
    catalog_or_models: Any, *, every: str = "1mo", by: str | None = None, top: int = 6
) -> alt.Chart:
    """The number of models in the catalog over time, by creation date (cumulative).

    Only models still listed are counted, so this is how today's catalog was built up, not
    a record of models since removed (snapshots tell that story: ``snapshot_changes``).
    With ``by``, the groups' running totals are stacked over a complete (group, period)
    grid (see ``growth_counts``), largest group at the bottom.

    Parameters
    ----------
    catalog_or_models : Catalog or polars.DataFrame
        A catalog, or its models table.
    every : str, default "1mo"
        The period, as a polars duration (``"1w"``, ``"1mo"``, ``"1q"``...).
    by : str, optional
        A column of the models table to stack by (e.g. ``"type"``).
    top : int, default 6
        How many of ``by``'s values keep their name; the rest are ``other``.

    Returns
    -------
    altair.Chart
        The running total (stacked areas with ``by``).

    Raises
    ------
    TypeError
        The argument is neither a catalog nor a DataFrame.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> chart = charts.catalog_growth(catalog, every="1d", by="type")
    >>> chart.to_dict()["mark"]["type"]
    'area'
    """
    counts = growth_counts(catalog_or_models, every=every, by=by, top=top)
    base = alt.Chart(counts, title="Catalog growth (models by creation date, cumulative)")
    x = alt.X("period:T", title="created")
    tooltip: list[Any] = [
        alt.Tooltip("period:T", title="period"),
        alt.Tooltip("created:Q", format=","),
        alt.Tooltip("total:Q", format=","),
    ]
    if by is None:
        return _finish(
            base.mark_area(line=True, opacity=0.3).encode(
                x=x, y=alt.Y("total:Q", title="models"), tooltip=tooltip
            )
        )
    finals = (
        counts.group_by("group")
        .agg(pl.col("total").max())
        .sort(["total", "group"], descending=[True, False])
    )
    named = [g for g in finals["group"].to_list() if g != OTHER_LABEL]
    lumped = OTHER_LABEL in finals["group"].to_list()
    order = [*named, *([OTHER_LABEL] if lumped else [])]
    return _finish(
        base.mark_area(opacity=0.85)
        .encode(
            x=x,
            y=alt.Y("total:Q", title="models", stack="zero"),
            color=alt.Color("group:N", title=by, scale=color_scale(named, lumped), sort=order),
            order=alt.Order("stack_rank:Q"),
            tooltip=["group:N", *tooltip],
        )
        .transform_calculate(stack_rank=f"indexof({order!r}, datum.group)")
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
        record = {
            "snapshot_at": stamp,
            "models": current.height,
            "added": 0,
            "removed": 0,
            "changed": 0,
        }
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
    return pl.DataFrame(
        out,
        schema={
            "snapshot_at": rows.schema["snapshot_at"],
            "models": pl.Int64,
            "added": pl.Int64,
            "removed": pl.Int64,
            "changed": pl.Int64,
        },
    )


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

    Parameters
    ----------
    source : dict, polars.DataFrame, polars.LazyFrame, CatalogDiff or list of CatalogDiff
        The snapshots to count, as above.

    Returns
    -------
    polars.DataFrame
        One row per snapshot, oldest first.

    Raises
    ------
    TypeError
        ``source`` is none of the above.

    Examples
    --------
    Three daily snapshots; each day the demo renames one model and adds three (about half of
    them public):

    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from datetime import UTC, datetime
    >>> from scenario_frames import fetch_catalog, history, serve_demo, write_snapshot
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     for day in (1, 2, 3):
    ...         catalog = fetch_catalog(**account, privacy="public", progress=False)
    ...         _ = write_snapshot(catalog, workdir, at=datetime(2026, 1, day, tzinfo=UTC))
    ...         demo.catalog.update([catalog.models["model_id"][day]], {"name": "Renamed"})
    ...         _ = demo.catalog.add_models(3)
    >>> counts = charts.snapshot_counts(history(workdir))
    >>> counts.columns
    ['snapshot_at', 'models', 'added', 'removed', 'changed']
    >>> counts.rows()  # doctest: +NORMALIZE_WHITESPACE
    [('2026-01-01T00-00-00Z', 26, 0, 0, 0),
     ('2026-01-02T00-00-00Z', 28, 2, 0, 1),
     ('2026-01-03T00-00-00Z', 30, 2, 0, 1)]
    >>> scratch.cleanup()
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
        [
            {
                "snapshot_at": d.new_label,
                "models": getattr(d, "new_models", None),
                "added": len(d.added),
                "removed": len(d.removed),
                "changed": len(d.changed),
            }
            for d in diffs
        ],
        schema={
            "snapshot_at": pl.String,
            "models": pl.Int64,
            "added": pl.Int64,
            "removed": pl.Int64,
            "changed": pl.Int64,
        },
    )


def _iter_diffs(source: Iterable[Any]) -> Iterable[Any]:
    for d in source:
        if not all(hasattr(d, k) for k in CHANGE_KINDS):
            raise TypeError(f"not a CatalogDiff: {type(d).__name__}")
        yield d


def snapshot_changes(source: Any) -> alt.Chart:
    """Bars per snapshot: models added and changed above the axis, removed below it.

    ``source`` is anything ``snapshot_counts`` accepts (history, diffs or a counts frame).
    The first snapshot of a history has nothing to compare with and shows no bars.

    Parameters
    ----------
    source : dict, polars.DataFrame, polars.LazyFrame, CatalogDiff or list of CatalogDiff
        Anything ``snapshot_counts`` accepts.

    Returns
    -------
    altair.Chart
        The bars, one group per snapshot.

    Raises
    ------
    TypeError
        ``source`` is none of what ``snapshot_counts`` accepts.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from datetime import UTC, datetime
    >>> from scenario_frames import fetch_catalog, history, serve_demo, write_snapshot
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     for day in (1, 2, 3):
    ...         catalog = fetch_catalog(**account, privacy="public", progress=False)
    ...         _ = write_snapshot(catalog, workdir, at=datetime(2026, 1, day, tzinfo=UTC))
    ...         demo.catalog.update([catalog.models["model_id"][day]], {"name": "Renamed"})
    ...         _ = demo.catalog.add_models(3)
    >>> chart = charts.snapshot_changes(history(workdir))
    >>> chart.to_dict()["mark"]["type"]
    'bar'
    >>> scratch.cleanup()
    """
    counts = snapshot_counts(source)
    long = (
        counts.select(pl.col("snapshot_at").cast(pl.String), *CHANGE_KINDS)
        .unpivot(
            index="snapshot_at", on=list(CHANGE_KINDS), variable_name="change", value_name="models"
        )
        .with_columns(
            pl.when(pl.col("change") == "removed")
            .then(-pl.col("models"))
            .otherwise(pl.col("models"))
            .alias("signed")
        )
    )
    return _finish(
        alt.Chart(long, title="Changes between snapshots")
        .mark_bar()
        .encode(
            x=alt.X("snapshot_at:N", title="snapshot", sort=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("signed:Q", title="models (removed below zero)"),
            color=alt.Color(
                "change:N",
                title="change",
                scale=alt.Scale(domain=list(CHANGE_KINDS), range=list(_CHANGE_COLORS)),
            ),
            tooltip=["snapshot_at:N", "change:N", alt.Tooltip("models:Q", format=",")],
        )
    )


# ---------------------------------------------------------------------------------------------
# Usage: CU per job, this month and week by week
# ---------------------------------------------------------------------------------------------


def cu_per_job(
    usage: pl.DataFrame,
    *,
    month: str | None = None,
    top: int = 5,
    min_jobs: int = 10,
    weeks: int = 8,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The models that cost the most CU per job in a month, and their weekly CU per job.

    ``usage`` is a usage table or a joined one (``join_usage``): ``model_id``, ``time``,
    ``jobs``, ``cost`` and, when joined, ``name`` and ``type``.  ``month`` is ``"YYYY-MM"``,
    by default the latest month in the data.  Models with fewer than ``min_jobs`` jobs that
    month are left out of the ranking (a handful of jobs makes a noisy ratio).  Returns
    ``(ranking, weekly)``: the ``top`` models by CU per job that month (``jobs``, ``cu``,
    ``cu_per_job``, ``rank``), and for those models one row per week (Monday, UTC) over the
    ``weeks`` weeks ending with the month, in rank order, with ``jobs``, ``cu`` and
    ``cu_per_job`` (null in a week without jobs, where the ratio is undefined).

    Parameters
    ----------
    usage : polars.DataFrame
        Usage or joined usage, as above.
    month : str, optional
        The month to rank, ``"YYYY-MM"``; default the latest in the data.
    top : int, default 5
        How many models to rank.
    min_jobs : int, default 10
        The fewest jobs in the month for a model to be ranked.
    weeks : int, default 8
        How many weeks the weekly frame covers, ending with the month.

    Returns
    -------
    ranking : polars.DataFrame
        ``model_id``, ``model`` (its name when known), ``jobs``, ``cu``, ``cu_per_job``
        and ``rank``.
    weekly : polars.DataFrame
        ``model_id``, ``model``, ``rank``, ``week``, ``jobs``, ``cu`` and ``cu_per_job``.

    Examples
    --------
    >>> from scenario_frames import fetch_model_usage, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     usage = fetch_model_usage("2026-01-01", "2026-03-01", **account)
    >>> ranking, weekly = charts.cu_per_job(usage, top=3)
    >>> ranking["rank"].to_list(), ranking["jobs"].to_list()
    ([1, 2, 3], [513, 343, 231])
    >>> weekly.height
    24
    """
    has_name = "name" in usage.columns
    rows = usage.filter(pl.col("time").is_not_null())
    if month is None:
        month = rows.select(pl.col("time").max().dt.strftime("%Y-%m")).item()
    in_month = rows.filter(pl.col("time").dt.strftime("%Y-%m") == month)
    label = (
        pl.coalesce(pl.col("name"), pl.col("model_id")) if has_name else pl.col("model_id")
    ).alias("model")
    ranking = (
        in_month.group_by("model_id")
        .agg(label.first(), pl.col("jobs").sum(), pl.col("cost").sum().alias("cu"))
        .filter(pl.col("jobs") >= max(min_jobs, 1))
        .with_columns((pl.col("cu") / pl.col("jobs")).alias("cu_per_job"))
        .sort(["cu_per_job", "model_id"], descending=[True, False])
        .head(top)
        .with_columns(pl.int_range(1, pl.len() + 1).alias("rank"))
    )
    if in_month.is_empty():
        end = rows.select(pl.col("time").max()).item()
    else:
        end = in_month.select(pl.col("time").max()).item()
    week = pl.col("time").dt.truncate("1w").alias("week")
    last_week = rows.filter(pl.col("time") <= end).select(week.max()).item() if end else None
    if last_week is None:
        empty = pl.DataFrame(
            schema={
                "model_id": pl.String,
                "model": pl.String,
                "rank": pl.Int64,
                "week": rows.schema["time"],
                "jobs": pl.Int64,
                "cu": pl.Float64,
                "cu_per_job": pl.Float64,
            }
        )
        return ranking, empty
    first_week = last_week - dt.timedelta(weeks=weeks - 1)
    time_type = rows.schema["time"]
    if not isinstance(time_type, pl.Datetime):
        raise TypeError(f"usage time must be a Datetime column, not {time_type}")
    grid = ranking.select("model_id", "model", "rank").join(
        pl.DataFrame(
            {
                "week": pl.datetime_range(
                    first_week,
                    last_week,
                    "1w",
                    eager=True,
                    time_unit=time_type.time_unit,
                    time_zone=time_type.time_zone,
                )
            }
        ),
        how="cross",
    )
    weekly = (
        rows.filter(pl.col("model_id").is_in(ranking["model_id"].implode()))
        .group_by("model_id", week)
        .agg(pl.col("jobs").sum(), pl.col("cost").sum().alias("cu"))
    )
    weekly = (
        grid.join(weekly, on=["model_id", "week"], how="left")
        .with_columns(pl.col("jobs").fill_null(0), pl.col("cu").fill_null(0.0))
        .with_columns(
            pl.when(pl.col("jobs") > 0).then(pl.col("cu") / pl.col("jobs")).alias("cu_per_job")
        )
        .sort("rank", "week")
    )
    return ranking, weekly


def cu_per_job_chart(usage: pl.DataFrame, **kwargs: Any) -> alt.Chart:
    """Weekly CU per job of the month's most expensive models per job (see ``cu_per_job``).

    One line per model, in rank order, each in its own palette colour; points mark the
    weeks, hover shows jobs and CU.  Keyword arguments go to ``cu_per_job``.

    Parameters
    ----------
    usage : polars.DataFrame
        Usage or joined usage (see ``cu_per_job``).
    **kwargs
        ``month``, ``top``, ``min_jobs`` and ``weeks``, as in ``cu_per_job``.

    Returns
    -------
    altair.Chart
        The lines, one per ranked model.

    Examples
    --------
    >>> from scenario_frames import fetch_model_usage, serve_demo
    >>> from scenario_frames.notebook import charts
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     usage = fetch_model_usage("2026-01-01", "2026-03-01", **account)
    >>> chart = charts.cu_per_job_chart(usage, top=3)
    >>> chart.to_dict()["title"]
    'CU per job, week by week: the 3 most expensive models per job in 2026-02'
    """
    ranking, weekly = cu_per_job(usage, **kwargs)
    order = ranking["model"].to_list()
    month = kwargs.get("month") or (
        usage.select(pl.col("time").max().dt.strftime("%Y-%m")).item() if usage.height else ""
    )
    data = weekly.with_columns(
        pl.col("week").dt.replace_time_zone(None)
        if isinstance(week_type := weekly.schema["week"], pl.Datetime) and week_type.time_zone
        else pl.col("week")
    )
    return _finish(
        alt.Chart(
            data,
            title=f"CU per job, week by week: the {len(order)} most expensive "
            f"models per job in {month}",
        )
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", title="week (starting Monday, UTC)"),
            y=alt.Y("cu_per_job:Q", title="CU per job"),
            color=alt.Color(
                "model:N",
                title="model (rank this month)",
                sort=order,
                scale=color_scale(order, lumped=False),
                legend=alt.Legend(labelLimit=260),
            ),
            tooltip=[
                "model:N",
                alt.Tooltip("week:T"),
                alt.Tooltip("jobs:Q", format=","),
                alt.Tooltip("cu:Q", format=",.1f"),
                alt.Tooltip("cu_per_job:Q", format=".3g"),
            ],
        )
    )
