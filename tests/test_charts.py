"""Charts: the numbers each chart embeds equal counts worked out by hand, and specs validate.

``Chart.to_dict()`` validates the spec against the Vega-Lite schema, so every test that reads
a chart's data also checks that the chart is well formed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import polars as pl
import pytest

from scenario_frames import charts
from scenario_frames.snapshot import CatalogDiff

UTC = dt.UTC


def chart_data(chart: alt.TopLevelMixin) -> list[dict[str, Any]]:
    """The rows a chart embeds (validates the spec on the way)."""
    spec = chart.to_dict()
    return spec["datasets"][spec["data"]["name"]]


def t(y: int, m: int, d: int = 1) -> dt.datetime:
    return dt.datetime(y, m, d, 12, tzinfo=UTC)


@pytest.fixture
def models() -> pl.DataFrame:
    return pl.DataFrame({
        "model_id": ["a", "b", "c", "d", "e"],
        "type": ["flux.1-lora", "flux.1-lora", "sd-xl", "new-kind", "flux.1-lora"],
        "capabilities": [["txt2img", "img2img"], ["txt2img"], ["txt2img"], [], ["img2img"]],
        "created_at": [t(2025, 1, 3), t(2025, 1, 20), t(2025, 3, 2), t(2025, 3, 9), t(2025, 4, 1)],
        "source": ["scenario", "civitai", "scenario", "other", "scenario"],
    })  # fmt: skip


@pytest.fixture
def variants() -> pl.DataFrame:
    return pl.DataFrame({
        "model_id": ["a", "a", "b", "c"],
        "variant_key": ["txt2img:1K", "img2img:1K", "txt2img:1K", "txt2img:2K"],
        "capability": ["txt2img", "img2img", "txt2img", "txt2img"],
        "resolution": ["1K", "1K", "1K", "2K"],
        "cost_per_asset_p50_cu": [1.0, 2.0, None, 4.0],
        "total_latency_p50_sec": [3.0, 4.0, 5.0, 6.0],
    })  # fmt: skip


def test_type_capability_counts(models: pl.DataFrame) -> None:
    rows = {(r["type"], r["capability"]): r["models"] for r in chart_data(
        charts.models_by_type_and_capability(models))}
    assert rows == {
        ("flux.1-lora", "txt2img"): 2, ("flux.1-lora", "img2img"): 2,
        ("sd-xl", "txt2img"): 1, ("new-kind", charts.NONE_LABEL): 1,
    }  # fmt: skip


def test_type_axis_is_ordered_by_size(models: pl.DataFrame) -> None:
    spec = charts.models_by_type_and_capability(models).to_dict()
    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["y"]["sort"][0] == "flux.1-lora"
    assert spec["encoding"]["x"]["field"] == "capability"


def test_cost_vs_latency_drops_incomplete_variants(variants: pl.DataFrame) -> None:
    chart = charts.cost_vs_latency(variants)
    rows = chart_data(chart)
    assert sorted((r["variant_key"], r["model_id"]) for r in rows) == [
        ("img2img:1K", "a"), ("txt2img:1K", "a"), ("txt2img:2K", "c")]
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
    assert spec["encoding"]["x"]["scale"]["type"] == "symlog"


def test_growth_counts_are_cumulative(models: pl.DataFrame) -> None:
    counts = charts.growth_counts(models)
    assert counts["period"].dt.month().to_list() == [1, 3, 4]
    assert counts["created"].to_list() == [2, 2, 1]
    assert counts["total"].to_list() == [2, 4, 5]
    assert [r["total"] for r in chart_data(charts.catalog_growth(models))] == [2, 4, 5]


def test_growth_split_keeps_top_groups_and_lumps_the_rest(models: pl.DataFrame) -> None:
    counts = charts.growth_counts(models, by="source", top=1)
    last = counts.group_by("group").agg(pl.col("total").last())
    assert dict(last.iter_rows()) == {"scenario": 3, "other": 2}
    spec = charts.catalog_growth(models, by="source", top=1).to_dict()
    assert spec["encoding"]["color"]["field"] == "group"


def test_snapshot_counts_from_history() -> None:
    history = pl.DataFrame({
        "snapshot_at": ["2026-01-01T00-00-00Z"] * 3 + ["2026-01-02T00-00-00Z"] * 3
                       + ["2026-01-03T00-00-00Z"] * 2,
        "model_id": ["a", "b", "c", "a", "b", "d", "b", "d"],
        "updated_at": [t(2025, 1, 1)] * 3 + [t(2025, 1, 1), t(2025, 2, 1), t(2025, 2, 1)]
                      + [t(2025, 2, 1), t(2025, 3, 1)],
    })  # fmt: skip
    counts = charts.snapshot_counts({"models": history.lazy()})
    assert counts.select("models", "added", "removed", "changed").rows() == [
        (3, 0, 0, 0), (3, 1, 1, 1), (2, 0, 1, 1)]
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
    assert got.select("snapshot_at", *charts.CHANGE_KINDS).rows() == [("a", 1, 0, 0), ("b", 3, 0, 0)]
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
