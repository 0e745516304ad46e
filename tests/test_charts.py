"""Charts: the numbers each chart embeds equal counts worked out by hand, and specs validate.

``Chart.to_dict()`` validates the spec against the Vega-Lite schema, so every test that reads
a chart's data also checks that the chart is well formed.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import altair as alt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_frames.notebook import charts
from scenario_frames.store import CatalogDiff

UTC = dt.UTC


def chart_data(chart: alt.TopLevelMixin) -> list[dict[str, Any]]:
    """The rows a chart embeds (validates the spec on the way)."""
    spec = chart.to_dict()
    return spec["datasets"][spec["data"]["name"]]


def t(y: int, m: int, d: int = 1) -> dt.datetime:
    return dt.datetime(y, m, d, 12, tzinfo=UTC)


@pytest.fixture
def models() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model_id": ["a", "b", "c", "d", "e"],
            "type": ["flux.1-lora", "flux.1-lora", "sd-xl", "new-kind", "flux.1-lora"],
            "capabilities": [["txt2img", "img2img"], ["txt2img"], ["txt2img"], [], ["img2img"]],
            "created_at": [
                t(2025, 1, 3),
                t(2025, 1, 20),
                t(2025, 3, 2),
                t(2025, 3, 9),
                t(2025, 4, 1),
            ],
            "source": ["scenario", "civitai", "scenario", "other", "scenario"],
        }
    )


@pytest.fixture
def variants() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model_id": ["a", "a", "b", "c"],
            "variant_key": ["txt2img:1K", "img2img:1K", "txt2img:1K", "txt2img:2K"],
            "capability": ["txt2img", "img2img", "txt2img", "txt2img"],
            "resolution": ["1K", "1K", "1K", "2K"],
            "cost_per_asset_p50_cu": [1.0, 2.0, None, 4.0],
            "total_latency_p50_sec": [3.0, 4.0, 5.0, 6.0],
        }
    )


def test_type_capability_counts(models: pl.DataFrame) -> None:
    rows = {
        (r["type"], r["capability"]): r["models"]
        for r in chart_data(charts.models_by_type_and_capability(models))
    }
    assert rows == {
        ("flux.1-lora", "txt2img"): 2,
        ("flux.1-lora", "img2img"): 2,
        ("sd-xl", "txt2img"): 1,
        ("new-kind", charts.NONE_LABEL): 1,
    }


def test_type_axis_is_ordered_by_size(models: pl.DataFrame) -> None:
    spec = charts.models_by_type_and_capability(models).to_dict()
    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["y"]["sort"][0] == "flux.1-lora"
    assert spec["encoding"]["x"]["field"] == "capability"


def test_cost_vs_latency_drops_incomplete_variants(variants: pl.DataFrame) -> None:
    chart = charts.cost_vs_latency(variants)
    rows = chart_data(chart)
    assert sorted((r["variant_key"], r["model_id"]) for r in rows) == [
        ("img2img:1K", "a"),
        ("txt2img:1K", "a"),
        ("txt2img:2K", "c"),
    ]
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["field"] == charts.LATENCY
    assert spec["encoding"]["y"]["field"] == charts.COST
    assert "sampled" not in spec["title"]


def test_cost_vs_latency_samples_large_inputs_and_says_so(variants: pl.DataFrame) -> None:
    many = pl.concat([variants.drop_nulls()] * 500)  # 1,500 rows
    chart = charts.cost_vs_latency(many, max_points=100, log=True)
    spec = chart.to_dict()
    assert len(chart_data(chart)) == 100
    assert "100 of 1,500 variants sampled" in spec["title"]
    assert spec["encoding"]["x"]["scale"]["type"] == "log"  # every figure is positive


def test_growth_counts_are_cumulative(models: pl.DataFrame) -> None:
    counts = charts.growth_counts(models)
    assert counts["period"].dt.month().to_list() == [1, 2, 3, 4]  # February: none created
    assert counts["created"].to_list() == [2, 0, 2, 1]
    assert counts["total"].to_list() == [2, 2, 4, 5]
    assert [r["total"] for r in chart_data(charts.catalog_growth(models))] == [2, 2, 4, 5]


def test_growth_split_keeps_top_groups_and_lumps_the_rest(models: pl.DataFrame) -> None:
    counts = charts.growth_counts(models, by="source", top=1)
    last = counts.group_by("group").agg(pl.col("total").last())
    assert dict(last.iter_rows()) == {"scenario": 3, "other": 2}
    spec = charts.catalog_growth(models, by="source", top=1).to_dict()
    assert spec["encoding"]["color"]["field"] == "group"


def test_snapshot_counts_from_history() -> None:
    history = pl.DataFrame(
        {
            "snapshot_at": ["2026-01-01T00-00-00Z"] * 3
            + ["2026-01-02T00-00-00Z"] * 3
            + ["2026-01-03T00-00-00Z"] * 2,
            "model_id": ["a", "b", "c", "a", "b", "d", "b", "d"],
            "updated_at": [t(2025, 1, 1)] * 3
            + [t(2025, 1, 1), t(2025, 2, 1), t(2025, 2, 1)]
            + [t(2025, 2, 1), t(2025, 3, 1)],
        }
    )
    counts = charts.snapshot_counts({"models": history.lazy()})
    assert counts.select("models", "added", "removed", "changed").rows() == [
        (3, 0, 0, 0),
        (3, 1, 1, 1),
        (2, 0, 1, 1),
    ]
    rows = chart_data(charts.snapshot_changes(history))
    removed = [r for r in rows if r["change"] == "removed"]
    assert [r["signed"] for r in removed] == [0, -1, -1]
    assert [r["models"] for r in removed] == [0, 1, 1]


def test_snapshot_counts_from_diffs_and_counts_frames() -> None:
    d1 = CatalogDiff(added=["x", "y"], removed=["z"], changed=[], new_label="s2", new_models=5)
    d2 = CatalogDiff(added=[], removed=[], changed=["x"], new_label="s3", new_models=5)
    counts = charts.snapshot_counts([d1, d2])
    assert counts.rows() == [("s2", 5, 2, 1, 0), ("s3", 5, 0, 0, 1)]
    assert charts.snapshot_counts(d1).rows() == [("s2", 5, 2, 1, 0)]
    given = pl.DataFrame({"snapshot_at": ["b", "a"], "added": [3, 1]})
    got = charts.snapshot_counts(given)
    assert got.select("snapshot_at", *charts.CHANGE_KINDS).rows() == [
        ("a", 1, 0, 0),
        ("b", 3, 0, 0),
    ]
    assert len(chart_data(charts.snapshot_changes(given))) == 6
    with pytest.raises(ValueError, match="snapshot_at"):
        charts.snapshot_counts(pl.DataFrame({"added": [1]}))
    with pytest.raises(TypeError):
        charts.snapshot_counts([object()])


def test_charts_accept_a_catalog_like_object(models: pl.DataFrame, variants: pl.DataFrame) -> None:
    class Holder:  # anything with .models / .variants, like frames.Catalog
        pass

    holder = Holder()
    holder.models, holder.variants = models, variants
    assert len(chart_data(charts.models_by_type_and_capability(holder))) == 4
    assert len(chart_data(charts.cost_vs_latency(holder))) == 3
    with pytest.raises(TypeError, match="variants"):
        charts.cost_vs_latency(object())


# ---------------------------------------------------------------------------------------------
# Honest pictures: complete grids, monotone stacks, distinct colours, ticks, renderer version
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_catalog():
    from scenario_frames.demo import make_records
    from scenario_frames.tables.catalog import Catalog

    return Catalog.from_records(make_records(1500, seed=7))


@pytest.mark.parametrize(
    ("by", "every"), [("source", "1w"), ("type", "1w"), ("type", "1mo"), ("privacy", "1d")]
)
def test_stacked_growth_is_a_complete_grid_monotone_and_ends_at_the_catalog_size(
    demo_catalog, by: str, every: str
) -> None:
    """Every (group, period) pair is present, so the stack of totals never dips."""
    counts = charts.growth_counts(demo_catalog, every=every, by=by, top=4)
    groups, periods = counts["group"].n_unique(), counts["period"].n_unique()
    assert counts.height == groups * periods
    assert counts.select("group", "period").is_unique().all()
    # Periods are consecutive steps of `every` from the first creation to the last.
    expected = charts.growth_counts(demo_catalog, every=every)["period"]
    assert counts["period"].unique().sort().to_list() == expected.to_list()
    stack = (
        pl.DataFrame(chart_data(charts.catalog_growth(demo_catalog, every=every, by=by, top=4)))
        .group_by("period")
        .agg(pl.col("total").sum())
        .sort("period")["total"]
    )
    assert stack.len() == periods
    assert (stack.diff().drop_nulls() >= 0).all(), "the stacked total dips"
    assert stack[-1] == demo_catalog.models["created_at"].drop_nulls().len()


def test_growth_of_a_group_absent_late_keeps_its_total(models: pl.DataFrame) -> None:
    """'civitai' only creates in January: it stays at 1 in later months instead of vanishing."""
    counts = charts.growth_counts(models, by="source", top=3)
    civitai = counts.filter(pl.col("group") == "civitai")
    assert civitai["total"].to_list() == [1, 1, 1, 1]
    finals = counts.filter(pl.col("period") == counts["period"].max())["total"].sum()
    assert finals == models.height


def _variants_with(n_capabilities: int) -> pl.DataFrame:
    caps = [f"cap{i:02d}" for i in range(n_capabilities)]
    # cap00 is the most common, then cap01, ...: frequencies n, n-1, ..., 1.
    rows = [c for i, c in enumerate(caps) for _ in range(n_capabilities - i)]
    return pl.DataFrame(
        {
            "model_id": [f"m{i}" for i in range(len(rows))],
            "variant_key": rows,
            "capability": rows,
            "resolution": ["1K"] * len(rows),
            "cost_per_asset_p50_cu": [1.0 + i for i in range(len(rows))],
            "total_latency_p50_sec": [2.0 + i for i in range(len(rows))],
        }
    )


@pytest.mark.parametrize("n", [5, 19, 20, 32])
def test_every_capability_shown_has_its_own_colour(n: int) -> None:
    chart = charts.cost_vs_latency(_variants_with(n), log=True)
    scale = chart.to_dict()["encoding"]["color"]["scale"]
    domain, colours = scale["domain"], scale["range"]
    assert len(domain) == len(colours) == len(set(colours)), "two labels share a colour"
    shown = {r["capability"] for r in chart_data(chart)}
    assert shown <= set(domain)
    named = min(n, len(charts.PALETTE))
    assert domain[:named] == [f"cap{i:02d}" for i in range(named)]  # the most common first
    assert (charts.OTHER_LABEL in shown) == (n > len(charts.PALETTE))


def _lab(hex_colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65), for colour distances as people see them."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(hex_colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def test_palette_colours_are_far_apart() -> None:
    """No two palette colours (nor 'other') are near-duplicates: CIELAB delta E above 25."""
    colours = [_lab(c) for c in (*charts.PALETTE, charts.OTHER_COLOR)]
    closest = min(
        sum((a - b) ** 2 for a, b in zip(p, q, strict=True)) ** 0.5
        for i, p in enumerate(colours)
        for q in colours[i + 1 :]
    )
    assert closest > 25
    assert len(charts.PALETTE) >= 20


def test_log_axes_put_ticks_where_the_data_is(demo_catalog) -> None:
    chart = charts.cost_vs_latency(demo_catalog, log=True)
    spec = chart.to_dict()
    for channel, column in (("x", charts.LATENCY), ("y", charts.COST)):
        values = demo_catalog.variants[column].drop_nulls()
        ticks = spec["encoding"][channel]["axis"]["values"]
        assert spec["encoding"][channel]["scale"]["type"] == "log"
        assert 0 not in ticks
        lo, hi = values.quantile(0.05), values.quantile(0.95)
        assert sum(lo <= t <= hi for t in ticks) >= 3, (ticks, lo, hi)  # in the bulk of points
        assert ticks[0] <= values.min() and ticks[-1] >= values.max()  # nothing off the axis


def test_zero_figures_get_a_symlog_axis_with_a_zero_tick(variants: pl.DataFrame) -> None:
    free = variants.with_columns(
        pl.lit(0.0)
        .alias("cost_per_asset_p50_cu")
        .head(1)
        .append(variants["cost_per_asset_p50_cu"][1:])
    )
    spec = charts.cost_vs_latency(free, log=True).to_dict()
    assert spec["encoding"]["y"]["scale"]["type"] == "symlog"
    assert spec["encoding"]["y"]["axis"]["values"][0] == 0


def test_specs_declare_the_vega_lite_jupyterlab_bundles(demo_catalog, models) -> None:
    """JupyterLab 4.6 bundles Vega-Lite 5.6.1 and warns about specs declaring a newer 5.x."""
    made = [
        charts.models_by_type_and_capability(demo_catalog),
        charts.cost_vs_latency(demo_catalog, log=True),
        charts.cost_vs_latency(demo_catalog),
        charts.catalog_growth(demo_catalog),
        charts.catalog_growth(models, by="source"),
        charts.snapshot_changes(pl.DataFrame({"snapshot_at": ["a"], "added": [1]})),
    ]
    for chart in made:
        assert chart.to_dict()["$schema"] == charts.VEGA_LITE_SCHEMA
    assert charts.VEGA_LITE_SCHEMA.endswith("/v5.6.1.json")


def _usage_rows() -> pl.DataFrame:
    """Three models over March-April 2025: 'pricey' costs the most per job in April."""
    rows = []
    for day in range(1, 61):
        when = dt.datetime(2025, 3, 1, tzinfo=UTC) + dt.timedelta(days=day - 1)
        rows.append(("cheap", when, 10, 10.0))
        rows.append(("pricey", when, 2, 2.0 * (5.0 if when.month == 4 else 3.0)))
        if day % 7 == 0:  # 'rare' has few jobs: below min_jobs, never ranked
            rows.append(("rare", when, 1, 50.0))
    return pl.DataFrame(
        rows,
        schema={
            "model_id": pl.String,
            "time": pl.Datetime("us", "UTC"),
            "jobs": pl.Int64,
            "cost": pl.Float64,
        },
        orient="row",
    )


def test_cu_per_job_ranks_the_month_and_fills_every_week() -> None:
    usage = _usage_rows()
    ranking, weekly = charts.cu_per_job(usage, top=2, min_jobs=10, weeks=6)
    assert ranking.select("model_id", "rank").rows() == [("pricey", 1), ("cheap", 2)]
    april = usage.filter(pl.col("time").dt.month() == 4)
    pricey = april.filter(pl.col("model_id") == "pricey")
    assert ranking["cu_per_job"][0] == pytest.approx(pricey["cost"].sum() / pricey["jobs"].sum())
    assert ranking["cu_per_job"][0] == pytest.approx(5.0)
    # Complete (model, week) grid: 6 Mondays for each ranked model, weeks consecutive.
    assert weekly.height == 2 * 6
    weeks = weekly["week"].unique().sort()
    assert weeks.dt.weekday().unique().to_list() == [1]
    assert (weeks.diff().drop_nulls() == dt.timedelta(weeks=1)).all()
    assert weeks[-1] == dt.datetime(2025, 4, 28, tzinfo=UTC)  # the week holding April 30
    moved = weekly.filter(pl.col("model_id") == "pricey").sort("week")["cu_per_job"].to_list()
    assert moved[0] == pytest.approx(3.0) and moved[-1] == pytest.approx(5.0)


def test_cu_per_job_chart_has_one_colour_per_ranked_model() -> None:
    chart = charts.cu_per_job_chart(
        _usage_rows().with_columns(name=pl.col("model_id").str.to_uppercase()), top=2, min_jobs=10
    )
    spec = chart.to_dict()
    assert spec["$schema"] == charts.VEGA_LITE_SCHEMA
    assert spec["encoding"]["color"]["scale"]["domain"] == ["PRICEY", "CHEAP"]
    assert len(set(spec["encoding"]["color"]["scale"]["range"])) == 2
    assert "2025-04" in spec["title"]
    assert {r["model"] for r in chart_data(chart)} == {"PRICEY", "CHEAP"}


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e-4, max_value=1e6), min_size=1, max_size=50))
def test_log_ticks_cover_the_data_on_a_short_ladder(values: list[float]) -> None:
    ticks = charts.log_ticks(pl.Series(values))
    assert ticks == sorted(set(ticks)) and 1 <= len(ticks) <= 12 + 1
    assert ticks[0] <= min(values) * (1 + 1e-9) and ticks[-1] >= max(values) * (1 - 1e-9)
    for t in ticks:  # every tick is 1, 2, 3 or 5 times a power of ten
        mantissa = t / 10 ** math.floor(math.log10(t) + 1e-12)
        assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 3, 5)), t


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from("abcdefgh")), min_size=1, max_size=120),
    st.sampled_from(["1d", "1w", "1mo"]),
    st.integers(1, 8),
)
def test_stacked_growth_never_dips_and_ends_at_the_count(
    rows: list[tuple[int, str]], every: str, top: int
) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    models = pl.DataFrame(
        {
            "model_id": [f"m{i}" for i in range(len(rows))],
            "created_at": [start + dt.timedelta(days=d, hours=7) for d, _ in rows],
            "source": [g for _, g in rows],
        }
    )
    counts = charts.growth_counts(models, every=every, by="source", top=top)
    assert counts.height == counts["group"].n_unique() * counts["period"].n_unique()
    assert counts["group"].n_unique() <= top + 1
    stack = counts.group_by("period").agg(pl.col("total").sum()).sort("period")["total"]
    assert (stack.diff().drop_nulls() >= 0).all()
    assert stack[-1] == len(rows)
