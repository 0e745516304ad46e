"""FilterPanel: filters set programmatically select exactly the rows a hand-written filter does.

The catalog is the demo generator's records turned into frames (the shapes users get), plus
one model of a type the schema does not know.  Three independent views must agree for every
filter: ``panel.filtered``, a polars filter written out here, and the ``panel.code()``
snippet executed on the catalog.  A Hypothesis test compares random filter combinations
against a plain-Python predicate evaluated row by row (no polars expressions involved).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as W
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames.demo import make_records
from scenario_frames.notebook.panel import P50_COST, P50_LATENCY, FilterPanel, model_p50
from scenario_frames.tables.catalog import Catalog

UNKNOWN_TYPE = "brand-new-type"
UTC = dt.UTC


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """600 demo models; one gets an unknown type and one an HTML-looking name."""
    records = make_records(600, seed=11)
    records[5]["type"] = UNKNOWN_TYPE
    records[7]["name"] = "<b>Bold & Brash</b>"
    return Catalog.from_records(records)


@pytest.fixture
def panel(catalog: Catalog) -> FilterPanel:
    return FilterPanel(catalog)


def run_code(panel: FilterPanel, catalog: Catalog) -> pl.DataFrame:
    """Execute the panel's snippet in a fresh namespace holding only ``catalog``."""
    ns: dict[str, Any] = {"catalog": catalog}
    exec(panel.code(), ns)  # noqa: S102 - the snippet is the thing under test
    return ns["selected"]


def with_p50(catalog: Catalog) -> pl.DataFrame:
    return catalog.models.join(
        model_p50(catalog.variants), on="model_id", how="left", maintain_order="left"
    )


def check(panel: FilterPanel, catalog: Catalog, expected: pl.DataFrame) -> None:
    """filtered == expected == code() result; the count label and the expression agree."""
    assert_frame_equal(panel.filtered, expected)
    assert_frame_equal(run_code(panel, catalog), expected)
    via_expr = with_p50(catalog).filter(panel.expression).select(catalog.models.columns)
    assert_frame_equal(via_expr, expected)
    assert panel.count.value == f"{expected.height:,} of {catalog.models.height:,} models"


def day(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# One filter at a time against a hand-written polars filter
# ---------------------------------------------------------------------------------------------


def test_no_filter_selects_everything(panel: FilterPanel, catalog: Catalog) -> None:
    check(panel, catalog, catalog.models)
    assert panel.clauses() == []
    assert "selected = models\n" in panel.code()


def test_options_come_from_the_data(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    assert {v for _, v in panel.types.options} == set(m["type"].drop_nulls())
    assert UNKNOWN_TYPE in {v for _, v in panel.types.options}
    assert {v for _, v in panel.capabilities.options} == set(
        m["capabilities"].explode().drop_nulls()
    )
    assert set(panel.tag_entry.options) == set(m["tags"].explode().drop_nulls())
    for w, col in ((panel.privacy, "privacy"), (panel.status, "status"), (panel.source, "source")):
        assert {v for _, v in w.options} == set(m[col].drop_nulls())
    # Labels carry the counts, most frequent first.
    top_label, top_value = panel.types.options[0]
    assert top_label.endswith(f"({m.filter(pl.col('type') == top_value).height:,})")


def test_type_filter(panel: FilterPanel, catalog: Catalog) -> None:
    panel.types.value = (UNKNOWN_TYPE, "flux.1-lora")
    check(
        panel, catalog, catalog.models.filter(pl.col("type").is_in([UNKNOWN_TYPE, "flux.1-lora"]))
    )
    assert panel.filtered["type"].to_list().count(UNKNOWN_TYPE) == 1


@pytest.mark.parametrize("column", ["privacy", "status", "source"])
def test_facet_filters(panel: FilterPanel, catalog: Catalog, column: str) -> None:
    widget = getattr(panel, column)
    value = widget.options[-1][1]
    widget.value = (value,)
    check(panel, catalog, catalog.models.filter(pl.col(column) == value))


def test_capabilities_any_and_all(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    panel.capabilities.value = ("txt2img", "img2img")
    check(
        panel,
        catalog,
        m.filter(
            pl.col("capabilities").list.contains("txt2img")
            | pl.col("capabilities").list.contains("img2img")
        ),
    )
    panel.capability_mode.value = "all"
    expected = m.filter(
        pl.col("capabilities").list.contains("txt2img")
        & pl.col("capabilities").list.contains("img2img")
    )
    check(panel, catalog, expected)
    assert 0 < expected.height < m.height


def test_tags_any_and_all(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    common = m["tags"].explode().drop_nulls().value_counts(sort=True)["tags"].head(2).to_list()
    panel.tags.value = common
    check(panel, catalog, m.filter(pl.col("tags").list.set_intersection(common).list.len() > 0))
    panel.tag_mode.value = "all"
    check(panel, catalog, m.filter(pl.col("tags").list.set_intersection(common).list.len() == 2))


def test_free_text_is_case_insensitive_and_literal(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    word = m["name"].drop_nulls()[3].split()[0]
    panel.text.value = "  " + word.upper() + " "
    needle = word.lower()
    expected = m.filter(
        pl.col("name").str.to_lowercase().str.contains(needle, literal=True)
        | pl.col("short_description").str.to_lowercase().str.contains(needle, literal=True)
        | pl.col("model_id").str.to_lowercase().str.contains(needle, literal=True)
    )
    check(panel, catalog, expected)
    assert expected.height >= 1
    # An id fragment finds its model; regex characters are plain text.
    panel.text.value = m["model_id"][42][3:11]
    check(panel, catalog, m.slice(42, 1))
    panel.text.value = "<b>bold & brash</b>"
    check(panel, catalog, m.slice(7, 1))
    panel.text.value = "(.*"
    check(panel, catalog, m.clear())


def test_date_ranges_include_both_end_days(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    created = m["created_at"].sort()
    lo, hi = created[100].date(), created[400].date()
    panel.created_from.value, panel.created_to.value = lo, hi
    expected = m.filter(
        (pl.col("created_at") >= day(lo)) & (pl.col("created_at") < day(hi) + dt.timedelta(days=1))
    )
    check(panel, catalog, expected)
    assert expected["created_at"].dt.date().is_in([lo, hi]).any()
    panel.reset()
    upd = m["updated_at"].sort()[300].date()
    panel.updated_from.value = upd
    check(panel, catalog, m.filter(pl.col("updated_at") >= day(upd)))


@pytest.mark.parametrize(("widget", "column"), [("cost", P50_COST), ("latency", P50_LATENCY)])
def test_p50_ranges(panel: FilterPanel, catalog: Catalog, widget: str, column: str) -> None:
    w = getattr(panel, widget)
    assert not w.disabled
    lo = w.min + (w.max - w.min) * 0.1
    hi = w.min + (w.max - w.min) * 0.5
    w.value = (lo, hi)
    full = with_p50(catalog)
    expected = full.filter(pl.col(column).is_between(lo, hi)).select(catalog.models.columns)
    check(panel, catalog, expected)
    assert "model_p50(catalog.variants)" in panel.code()


def test_range_at_its_ends_is_no_filter_and_keeps_missing_values(
    panel: FilterPanel, catalog: Catalog
) -> None:
    full = with_p50(catalog)
    missing = full.filter(pl.col(P50_COST).is_null()).height
    assert missing > 0, "the demo should have models without variants"
    panel.cost.value = (panel.cost.min, panel.cost.max)
    check(panel, catalog, catalog.models)
    # Moving only the upper bound keeps the lower side open but drops unknown costs.
    panel.cost.value = (panel.cost.min, panel.cost.max * 0.9)
    check(
        panel,
        catalog,
        full.filter(pl.col(P50_COST) <= panel.cost.max * 0.9).select(catalog.models.columns),
    )


def test_training_images_range(panel: FilterPanel, catalog: Catalog) -> None:
    w = panel.training_images
    lo, hi = w.min + 1, max(w.min + 2, (w.min + w.max) // 2)
    w.value = (lo, hi)
    check(
        panel, catalog, catalog.models.filter(pl.col("training_images_number").is_between(lo, hi))
    )


def test_combination_and_no_match(panel: FilterPanel, catalog: Catalog) -> None:
    m = catalog.models
    some = m.row(10, named=True)
    panel.set(
        types=[some["type"]],
        privacy=[some["privacy"]],
        capabilities=some["capabilities"][:1],
        text=some["model_id"],
    )
    check(panel, catalog, m.slice(10, 1))
    assert "1 of" in panel.count.value
    panel.set(types=[UNKNOWN_TYPE], text=some["model_id"])
    check(panel, catalog, m.clear())
    assert panel.grid_frame().is_empty() and panel.grid._row_count == 0


def test_set_rejects_unknown_names(panel: FilterPanel) -> None:
    with pytest.raises(KeyError, match="colour"):
        panel.set(colour="red")


# ---------------------------------------------------------------------------------------------
# Observers, reset, preview, export
# ---------------------------------------------------------------------------------------------


def test_observers_get_one_call_per_change(panel: FilterPanel) -> None:
    seen: list[int] = []
    cb = panel.observe(lambda p: seen.append(p.filtered.height))
    panel.types.value = (UNKNOWN_TYPE,)
    assert seen == [1]
    panel.set(types=["sd-xl-lora"], privacy=["public"], text="a")  # batched: one call
    assert len(seen) == 2
    panel.unobserve(cb)
    panel.reset()
    assert len(seen) == 2


def test_reset_clears_every_filter(panel: FilterPanel, catalog: Catalog) -> None:
    defaults = panel.state
    panel.set(
        types=[UNKNOWN_TYPE],
        text="zzz",
        created_from=dt.date(2020, 1, 1),
        cost=(panel.cost.min, panel.cost.min),
        capability_mode="all",
    )
    panel.reset_button.click()
    assert panel.state == defaults
    check(panel, catalog, catalog.models)


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("column", ["created_at", "name", P50_COST])
def test_preview_is_sorted_and_small(
    panel: FilterPanel, catalog: Catalog, column: str, descending: bool
) -> None:
    panel.privacy.value = (panel.privacy.options[0][1],)
    panel.sort_by.value = column
    panel.descending.value = descending
    expected = (
        with_p50(catalog)
        .filter(panel.expression)
        .sort(column, descending=descending, nulls_last=True, maintain_order=True)
        .head(10)
    )
    got = panel.preview_frame()
    assert got.height == 10
    assert got["model_id"].to_list() == expected["model_id"].to_list()
    # The grid gets every selected row, in the same order, not just the first ten.
    grid = panel.grid_frame()
    assert grid.height == panel.filtered.height == panel.grid._row_count > 10
    assert panel.grid.shown_rows.tolist() == panel._selected_order().tolist()
    assert grid["model_id"].head(10).to_list() == expected["model_id"].to_list()


def test_export_parquet_and_csv(panel: FilterPanel, tmp_path) -> None:
    panel.types.value = (panel.types.options[0][1],)
    out = panel.export(tmp_path / "rows.parquet")
    assert_frame_equal(pl.read_parquet(out), panel.filtered)
    csv = panel.export(tmp_path / "rows.csv")
    back = pl.read_csv(csv, infer_schema=False)
    assert back["model_id"].to_list() == panel.filtered["model_id"].to_list()
    assert back["capabilities"].to_list() == panel.filtered["capabilities"].list.join(";").to_list()
    with pytest.raises(ValueError, match="format"):
        panel.export(tmp_path / "rows.xlsx")


def test_export_button_writes_and_reports(panel: FilterPanel, tmp_path) -> None:
    panel.export_format.value = "csv"
    assert panel.export_path.value.endswith(".csv")
    panel.export_path.value = str(tmp_path / "sub" / "picked.csv")
    panel.export_button.click()
    assert (tmp_path / "sub" / "picked.csv").exists()
    assert panel.export_status.value.startswith(f"wrote {panel.filtered.height:,} rows")


def test_models_frame_without_variants(catalog: Catalog) -> None:
    panel = FilterPanel(catalog.models)
    assert panel.cost.disabled and panel.latency.disabled
    panel.types.value = (UNKNOWN_TYPE,)
    check(panel, catalog, catalog.models.filter(pl.col("type") == UNKNOWN_TYPE))
    with pytest.raises(ValueError, match="lacks columns"):
        FilterPanel(catalog.models.drop("tags"))
    with pytest.raises(TypeError):
        FilterPanel([1, 2, 3])


def test_model_p50_prefers_the_default_variant() -> None:
    variants = pl.DataFrame(
        {
            "model_id": ["a", "a", "b", "b", "c"],
            "cost_per_asset_p50_cu": [5.0, 2.0, 4.0, 3.0, None],
            "total_latency_p50_sec": [9.0, 1.0, None, 7.0, 2.0],
            "is_default": [True, False, False, False, True],
        }
    )
    got = {r["model_id"]: r for r in model_p50(variants).iter_rows(named=True)}
    assert (got["a"][P50_COST], got["a"][P50_LATENCY]) == (5.0, 9.0)  # the default's figures
    assert (got["b"][P50_COST], got["b"][P50_LATENCY]) == (3.0, 7.0)  # no default: the lowest
    assert (got["c"][P50_COST], got["c"][P50_LATENCY]) == (None, 2.0)


# ---------------------------------------------------------------------------------------------
# Random combinations against a plain-Python oracle
# ---------------------------------------------------------------------------------------------


def _oracle_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Model rows with p50 figures computed in Python from the variant rows."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for v in catalog.variants.iter_rows(named=True):
        by_model.setdefault(v["model_id"], []).append(v)

    def p50(vs: list[dict[str, Any]], key: str) -> float | None:
        for v in vs:
            if v["is_default"] and v[key] is not None:
                return v[key]
        values = [v[key] for v in vs if v[key] is not None]
        return min(values) if values else None

    rows = catalog.models.select(
        "model_id",
        "name",
        "short_description",
        "type",
        "capabilities",
        "privacy",
        "status",
        "source",
        "tags",
        "created_at",
        "updated_at",
        "training_images_number",
    ).to_dicts()
    for r in rows:
        vs = by_model.get(r["model_id"], [])
        r[P50_COST] = p50(vs, "cost_per_asset_p50_cu")
        r[P50_LATENCY] = p50(vs, "total_latency_p50_sec")
    return rows


def _keep(
    r: dict[str, Any], f: dict[str, Any], bounds: dict[str, tuple[float, float, float]]
) -> bool:
    """Does row r pass filters f?  Written without polars, as the documented semantics."""
    for key, col in (
        ("types", "type"),
        ("privacy", "privacy"),
        ("status", "status"),
        ("source", "source"),
    ):
        if f.get(key) and r[col] not in f[key]:
            return False
    for key, mode, col in (
        ("capabilities", "capability_mode", "capabilities"),
        ("tags", "tag_mode", "tags"),
    ):
        chosen = f.get(key)
        if chosen:
            have = set(r[col] or [])
            hits = [c in have for c in chosen]
            if not (all(hits) if f.get(mode) == "all" else any(hits)):
                return False
    q = (f.get("text") or "").strip().lower()
    if q and not any(q in (r[c] or "").lower() for c in ("name", "short_description", "model_id")):
        return False
    for key, col, upper in (
        ("created_from", "created_at", False),
        ("created_to", "created_at", True),
        ("updated_from", "updated_at", False),
        ("updated_to", "updated_at", True),
    ):
        d = f.get(key)
        if d is not None:
            start = day(d)
            if upper and not r[col] < start + dt.timedelta(days=1):
                return False
            if not upper and not r[col] >= start:
                return False
    for key, col in (
        ("cost", P50_COST),
        ("latency", P50_LATENCY),
        ("training_images", "training_images_number"),
    ):
        if key in f:
            lo, hi = f[key]
            wmin, wmax, step = bounds[key]
            # Within half a step of its end a bound counts as at the end (slider rounding).
            lo_on, hi_on = lo > wmin + step / 2, hi < wmax - step / 2
            if (lo_on or hi_on) and r[col] is None:
                return False
            if lo_on and r[col] < lo:
                return False
            if hi_on and r[col] > hi:
                return False
    return True


@st.composite
def filters(draw: st.DrawFn, panel: FilterPanel, days: tuple[dt.date, dt.date]) -> dict[str, Any]:
    """A random subset of filters with values drawn from the panel's options and the data."""
    out: dict[str, Any] = {}

    def use() -> bool:  # each filter on one time in three: combinations that still match rows
        return draw(st.integers(0, 2)) == 0

    def some(options: list[Any], most: int = 3) -> list[Any]:
        return draw(st.lists(st.sampled_from(options), max_size=most, unique=True))

    if use():
        out["types"] = some([v for _, v in panel.types.options])
    for name in ("privacy", "status", "source"):
        if use():
            out[name] = some([v for _, v in getattr(panel, name).options], 2)
    if use():
        out["capabilities"] = some([v for _, v in panel.capabilities.options])
        out["capability_mode"] = draw(st.sampled_from(["any", "all"]))
    if use():
        out["tags"] = some([*panel.tag_entry.options, "no-such-tag"], 2)
        out["tag_mode"] = draw(st.sampled_from(["any", "all"]))
    if use():
        out["text"] = draw(st.text(alphabet="aeinorst .-_(A", max_size=3))
    for name in ("created_from", "created_to", "updated_from", "updated_to"):
        if use():
            span = (days[1] - days[0]).days
            out[name] = days[0] + dt.timedelta(days=draw(st.integers(-1, span + 1)))
    for name in ("cost", "latency"):
        if use():
            w = getattr(panel, name)
            a, b = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
            out[name] = (w.min + a * (w.max - w.min), w.min + b * (w.max - w.min))
    if use():
        w = panel.training_images
        a, b = sorted(draw(st.lists(st.integers(w.min, w.max), min_size=2, max_size=2)))
        out["training_images"] = (a, b)
    return out


@pytest.fixture(scope="module")
def shared(catalog: Catalog) -> tuple[FilterPanel, list[dict[str, Any]]]:
    return FilterPanel(catalog), _oracle_rows(catalog)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_filter_combinations_match_python_oracle(
    data: st.DataObject, shared: tuple[FilterPanel, list[dict[str, Any]]], catalog: Catalog
) -> None:
    panel, rows = shared
    panel.reset()
    stamps = catalog.models["created_at"]
    f = data.draw(filters(panel, (stamps.min().date(), stamps.max().date())))
    panel.set(**f)
    bounds = {
        k: (getattr(panel, k).min, getattr(panel, k).max, getattr(panel, k).step)
        for k in ("cost", "latency", "training_images")
    }
    keep = [_keep(r, f, bounds) for r in rows]
    expected = catalog.models.filter(pl.Series(keep, dtype=pl.Boolean))
    event("no rows" if expected.is_empty() else "some rows")
    assert_frame_equal(panel.filtered, expected)
    assert_frame_equal(run_code(panel, catalog), expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_faceted_counts_match_python_oracle(
    data: st.DataObject, shared: tuple[FilterPanel, list[dict[str, Any]]], catalog: Catalog
) -> None:
    """Each option's count = rows passing every *other* filter that have the option (row by
    row in plain Python); for capabilities in "all" mode, rows passing every filter."""
    panel, rows = shared
    panel.reset()
    stamps = catalog.models["created_at"]
    f = data.draw(filters(panel, (stamps.min().date(), stamps.max().date())))
    panel.set(**f)
    bounds = {
        k: (getattr(panel, k).min, getattr(panel, k).max, getattr(panel, k).step)
        for k in ("cost", "latency", "training_images")
    }
    for name, column in FACETS.items():
        own_all = name == "capabilities" and f.get("capability_mode") == "all"
        others = f if own_all else {k: v for k, v in f.items() if k != name}
        expected: dict[str, int] = {}
        for r in rows:
            if _keep(r, others, bounds):
                for v in (r[column] or []) if column == "capabilities" else [r[column]]:
                    expected[v] = expected.get(v, 0) + 1
        got = label_counts(getattr(panel, name))
        assert got == {v: expected.get(v, 0) for v in got}, name


def test_p50_cost_has_one_definition_across_panel_and_usage_join() -> None:
    """The panel's p50 cost and the usage join's cost_per_asset_p50_cu are the same numbers.

    Model b has no default variant: both fall back to its lowest variant (before costs.py the
    usage join left it null).  Model c's only default lacks a cost: also the lowest.
    """
    from scenario_frames.usage import catalog_lookup

    models = pl.DataFrame(
        {"model_id": ["a", "b", "c", "d"], "default_variant_key": ["a1", None, "c1", None]}
    )
    variants = pl.DataFrame(
        {
            "model_id": ["a", "a", "b", "b", "c", "c"],
            "variant_key": ["a0", "a1", "b0", "b1", "c0", "c1"],
            "position": [0, 1, 0, 1, 0, 1],
            "is_default": [False, True, False, False, False, True],
            "cost_per_asset_p50_cu": [1.0, 5.0, 3.0, 2.5, 4.0, None],
            "total_latency_p50_sec": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    panel_cost = dict(model_p50(variants).select("model_id", P50_COST).iter_rows())
    lookup = catalog_lookup({"models": models, "variants": variants})
    usage_cost = dict(lookup.select("model_id", "cost_per_asset_p50_cu").iter_rows())
    assert panel_cost == {"a": 5.0, "b": 2.5, "c": 4.0}
    assert usage_cost == {**panel_cost, "d": None}
    # Without the is_default flag, the model's default_variant_key names the default.
    lookup = catalog_lookup({"models": models, "variants": variants.drop("is_default")})
    assert dict(lookup.select("model_id", "cost_per_asset_p50_cu").iter_rows()) == usage_cost


# ---------------------------------------------------------------------------------------------
# Faceted counts, tags, grid
# ---------------------------------------------------------------------------------------------

FACETS = {
    "types": "type",
    "privacy": "privacy",
    "status": "status",
    "source": "source",
    "capabilities": "capabilities",
}


def label_counts(widget) -> dict[str, int]:
    return {
        v: int(label.rsplit("(", 1)[1].rstrip(")").replace(",", "")) for label, v in widget.options
    }


def expected_facet_counts(catalog: Catalog, state: dict[str, Any], name: str) -> dict[str, int]:
    """Counts for facet ``name``: a fresh panel with every other filter, this one cleared."""
    other = FilterPanel(catalog)
    column = FACETS[name]
    if name == "capabilities" and state.get("capability_mode") == "all":
        other.set(**state)  # "all": a further capability narrows the current selection
    else:
        other.set(**{k: v for k, v in state.items() if k != name})
    rows = other.filtered
    if column == "capabilities":
        values = rows["capabilities"].explode().drop_nulls()
    else:
        values = rows[column].drop_nulls()
    counted = dict(values.value_counts().iter_rows())
    return {v: counted.get(v, 0) for _, v in getattr(other, name).options}


@pytest.mark.parametrize(
    "state",
    [
        {"privacy": ["public"]},
        {"types": ["flux.1-lora", "sd-xl-lora"], "status": ["trained"]},
        {"capabilities": ["txt2img", "img2img"], "capability_mode": "all", "source": ["scenario"]},
        {"capabilities": ["txt2img"], "text": "a", "privacy": ["private", "unlisted"]},
    ],
)
def test_option_counts_are_faceted(catalog: Catalog, state: dict[str, Any]) -> None:
    """Each option's count = the models it would leave given the other filters."""
    panel = FilterPanel(catalog).set(**state)
    for name in FACETS:
        assert label_counts(getattr(panel, name)) == expected_facet_counts(catalog, state, name), (
            name
        )
    # A chosen facet still offers its other options with non-zero counts (own clause excluded).
    if "privacy" in state:
        assert sum(label_counts(panel.privacy).values()) > panel.filtered.height or len(
            state["privacy"]
        ) == len(panel.privacy.options)
    # Rewriting option labels keeps the user's choices.
    for name, value in state.items():
        if name in FACETS:
            assert tuple(getattr(panel, name).value) == tuple(value)


def test_facet_labels_do_not_trigger_extra_refreshes(catalog: Catalog) -> None:
    panel = FilterPanel(catalog)
    calls: list[int] = []
    panel.observe(lambda p: calls.append(p.filtered.height))
    panel.types.value = (panel.types.options[0][1],)
    assert len(calls) == 1


def test_tag_entry_adds_on_enter_and_flags_unknown_tags(catalog: Catalog) -> None:
    panel = FilterPanel(catalog)
    known = panel.tag_entry.options[0]
    assert panel.tag_entry.placeholder and known in panel.tag_entry.placeholder
    before = panel.count.value
    panel.tag_entry.value = f"  {known} "  # what the browser sends on Enter
    assert panel.tags.value == [known] and panel.tag_entry.value == ""
    assert panel.count.value != before
    assert panel.filtered["tags"].list.contains(known).all()
    assert [b.description for b in panel.tag_chips.children] == [known]
    assert panel.tag_note.value == "" and panel.unknown_tags() == []

    panel.tag_entry.value = "no-such-tag"
    assert panel.unknown_tags() == ["no-such-tag"]
    chips = {b.description: b for b in panel.tag_chips.children}
    assert chips["no-such-tag"].button_style == "danger"
    assert "sf-tag-unknown" in chips["no-such-tag"]._dom_classes
    assert chips[known].button_style == ""
    assert "no-such-tag" in panel.tag_note.value
    with_known = panel.filtered.height
    panel.tag_mode.value = "all"  # "any": the known tag still matches; "all": nothing does
    assert panel.count.value.startswith("0 of") and with_known > 0
    # Clicking a chip removes its tag; Reset clears every tag, chip and flag.
    chips["no-such-tag"].click()
    assert panel.tags.value == [known]
    panel.tag_entry.value = "no-such-tag"
    panel.reset_button.click()
    assert panel.tags.value == [] and panel.tag_chips.children == () and panel.tag_note.value == ""
    assert panel.count.value == f"{catalog.models.height:,} of {catalog.models.height:,} models"


def test_slider_readouts_show_the_whole_range(panel: FilterPanel) -> None:
    assert not panel.cost.readout  # the built-in fixed-width readout cut long ranges
    assert panel.readouts["cost"].value.endswith("CU (all)")
    lo = panel.cost.min + (panel.cost.max - panel.cost.min) / 2
    panel.cost.value = (lo, panel.cost.max)
    assert f"{lo:,.3g}" in panel.readouts["cost"].value
    assert "(all)" not in panel.readouts["cost"].value


def test_no_fixed_width_wider_than_a_narrow_notebook(panel: FilterPanel) -> None:
    """Nothing in the panel asks for more than 600 px: fixed widths stay small, rows wrap."""

    def walk(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from walk(c)

    for w in walk(panel.widget):
        width = w.layout.width or ""
        if width.endswith("px"):
            assert int(width[:-2]) <= 260, (type(w).__name__, width)
        if isinstance(w, W.HBox) and len(w.children) > 2 and w is not panel.tag_chips:
            assert w.layout.flex_flow == "row wrap", [type(c).__name__ for c in w.children]


def test_grid_serves_the_rows_in_view_and_sorts_on_header_clicks(panel: FilterPanel) -> None:
    """The browser asks the grid for rows r1..r2; it answers from the selection, in order."""
    panel.privacy.value = (panel.privacy.options[0][1],)
    sent: list[tuple[dict, list]] = []
    panel.grid.send = lambda msg, buffers=None: sent.append((msg, buffers))  # the comm
    expected = panel.grid_frame()
    panel.grid._handle_comm_msg(
        None, {"type": "data-request", "r1": 3, "r2": 7, "c1": 0, "c2": 1}, []
    )
    reply, _buffers = sent[-1]
    assert reply["event_type"] == "data-reply" and (reply["r1"], reply["r2"]) == (3, 7)
    ids = reply["value"]["data"]["id"]
    ids = ids["value"] if isinstance(ids, dict) else ids
    assert list(ids) == expected["model_id"][3:8].to_list()
    # A header click sorts the selected rows (and only those) by that column.
    panel.grid._transforms = [{"type": "sort", "column": "name", "desc": False}]
    names = panel._work["name"].gather(panel.grid.shown_rows).to_list()
    assert len(names) == panel.filtered.height
    assert names == sorted(names, key=lambda n: (n is None, n))
    assert set(panel._work["model_id"].gather(panel.grid.shown_rows)) == set(
        panel.filtered["model_id"]
    )
    # A new filter keeps the header sort.
    panel.status.value = (panel.status.options[0][1],)
    names = panel._work["name"].gather(panel.grid.shown_rows).to_list()
    assert names == sorted(names, key=lambda n: (n is None, n))
    assert panel.grid._row_count == panel.filtered.height


def test_p50_definition_is_in_the_data_dictionary_layout() -> None:
    from scenario_frames.tables import costs

    d = costs.data_dictionary()
    assert d.columns == ["column", "dtype", "description", "source"]
    assert d["column"].to_list() == [costs.P50_COST, costs.P50_LATENCY]
    assert all("default variant" in t and "lowest" in t for t in d["description"])
