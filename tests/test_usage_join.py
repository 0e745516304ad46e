"""join_usage, join_usage_asof and usage_summary on small hand-made catalogs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import polars as pl
import pytest

from scenario_frames.schema import TABLES
from scenario_frames.usage import (
    USAGE_SCHEMA,
    catalog_lookup,
    join_usage,
    join_usage_asof,
    load_usage,
    usage_summary,
)


def _table(name: str, rows: list[dict]) -> pl.DataFrame:
    """A table with the catalog's full schema, filled from a few columns per row."""
    schema = TABLES[name].schema
    empty = pl.DataFrame(schema=schema)
    if not rows:
        return empty
    part = pl.DataFrame(rows, schema={k: schema[k] for k in rows[0]})
    return pl.concat([empty, part], how="diagonal").select(list(schema))


def catalog(models: list[dict], variants: list[dict]) -> dict[str, pl.DataFrame]:
    return {"models": _table("models", models), "variants": _table("variants", variants)}


def d(day: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


# Two models in the catalog; "ghost" has usage but is not in the catalog.
CATALOG = catalog(
    models=[
        {
            "model_id": "alpha",
            "name": "Alpha",
            "type": "flux.1-lora",
            "capabilities": ["txt2img", "img2img"],
            "default_variant_key": "txt2img:1K",
        },
        {
            "model_id": "beta",
            "name": "Beta",
            "type": "sd-xl",
            "capabilities": ["txt2img"],
            "default_variant_key": "txt2img:2K",
        },
    ],
    variants=[
        # alpha: the default is the second variant (by key and flag)
        {
            "model_id": "alpha",
            "position": 0,
            "variant_key": "txt2img:0.5K",
            "cost_per_asset_p50_cu": 1.0,
            "is_default": False,
        },
        {
            "model_id": "alpha",
            "position": 1,
            "variant_key": "txt2img:1K",
            "cost_per_asset_p50_cu": 2.0,
            "is_default": True,
        },
        # beta: no is_default flag; found through default_variant_key
        {
            "model_id": "beta",
            "position": 0,
            "variant_key": "txt2img:2K",
            "cost_per_asset_p50_cu": 5.0,
            "is_default": None,
        },
    ],
)

# 2025-03-03 is a Monday: days 3..9 are week 1, day 10 starts week 2.
USAGE = load_usage(
    pl.DataFrame(
        {
            "model_id": ["alpha", "alpha", "beta", "ghost", "alpha", "beta"],
            "time": [d(3), d(4), d(5), d(6), d(10), d(11)],
            "jobs": [4, 6, 2, 3, 10, 0],
            "cost": [10.0, 14.0, 9.0, 7.0, 16.0, 0.0],
            "discount": [1.0, 0.0, 0.0, 0.0, 2.0, 0.0],
        }
    )
)


def test_catalog_lookup_finds_default_cost():
    look = catalog_lookup(CATALOG).sort("model_id")
    assert look.get_column("model_id").to_list() == ["alpha", "beta"]
    assert look.get_column("cost_per_asset_p50_cu").to_list() == [2.0, 5.0]
    assert look.get_column("capabilities").to_list() == [["txt2img", "img2img"], ["txt2img"]]


def test_join_keeps_every_row_and_flags_unmatched(caplog):
    with caplog.at_level(logging.WARNING, logger="scenario_frames.usage"):
        joined = join_usage(CATALOG, USAGE)
    assert joined.height == USAGE.height
    assert joined.get_column("model_id").to_list() == USAGE.get_column("model_id").to_list()
    assert joined.get_column("in_catalog").to_list() == [True, True, True, False, True, True]
    ghost = joined.filter(pl.col("model_id") == "ghost").row(0, named=True)
    assert ghost["name"] is None and ghost["cost_per_asset_p50_cu"] is None
    assert ghost["cost"] == 7.0  # the usage itself is kept
    beta = joined.filter(pl.col("model_id") == "beta").row(0, named=True)
    assert (beta["name"], beta["type"], beta["cost_per_asset_p50_cu"]) == ("Beta", "sd-xl", 5.0)
    assert any("ghost" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_join_renames_clashing_columns():
    usage = USAGE.with_columns(pl.lit("mine").alias("name"))
    joined = join_usage(CATALOG, usage)
    assert joined.get_column("name").unique().to_list() == ["mine"]
    assert "name_catalog" in joined.columns


def test_summary_matches_hand_computed_figures():
    summary = usage_summary(join_usage(CATALOG, USAGE))

    # Totals: jobs 4+6+2+3+10+0, CU 10+14+9+7+16+0.
    assert summary.totals["jobs"] == 25
    assert summary.totals["cost"] == pytest.approx(56.0)
    assert summary.totals["unmatched_rows"] == 1
    assert summary.totals["unmatched_cost"] == pytest.approx(7.0)

    by_model = {r["model_id"]: r for r in summary.by_model.iter_rows(named=True)}
    # alpha: jobs 4+6+10 = 20, CU 10+14+16 = 40, 2 CU/job against a catalog median of 2.
    assert by_model["alpha"]["jobs"] == 20
    assert by_model["alpha"]["cost"] == pytest.approx(40.0)
    assert by_model["alpha"]["discount"] == pytest.approx(3.0)
    assert by_model["alpha"]["cu_per_job"] == pytest.approx(2.0)
    assert by_model["alpha"]["catalog_p50_cu"] == pytest.approx(2.0)
    assert by_model["alpha"]["cu_per_job_vs_catalog"] == pytest.approx(1.0)
    # beta: 2 jobs, 9 CU -> 4.5 CU/job; the catalog says 5 -> ratio 0.9.
    assert by_model["beta"]["cu_per_job"] == pytest.approx(4.5)
    assert by_model["beta"]["cu_per_job_vs_catalog"] == pytest.approx(0.9)
    assert by_model["ghost"]["in_catalog"] is False
    assert by_model["ghost"]["catalog_p50_cu"] is None
    assert summary.by_model.get_column("model_id").to_list() == ["alpha", "beta", "ghost"]  # by CU

    by_type = {r["type"]: r for r in summary.by_type.iter_rows(named=True)}
    assert (by_type["flux.1-lora"]["jobs"], by_type["flux.1-lora"]["cost"]) == (20, 40.0)
    assert (by_type["sd-xl"]["jobs"], by_type["sd-xl"]["cost"]) == (2, 9.0)
    assert (by_type[None]["jobs"], by_type[None]["cost"]) == (3, 7.0)  # the ghost's usage
    assert summary.by_type.get_column("cost").sum() == pytest.approx(56.0)

    # txt2img is offered by alpha and beta: 40 + 9 CU; img2img only by alpha.
    by_cap = {r["capability"]: r for r in summary.by_capability.iter_rows(named=True)}
    assert by_cap["txt2img"]["cost"] == pytest.approx(49.0)
    assert by_cap["txt2img"]["models"] == 2
    assert by_cap["img2img"]["cost"] == pytest.approx(40.0)
    assert by_cap["img2img"]["jobs"] == 20

    # Week of Monday 3 March: rows on days 3,4,5,6 -> jobs 4+6+2+3, CU 10+14+9+7.
    weeks = summary.by_week.rows(named=True)
    assert [w["week"] for w in weeks] == [d(3), d(10)]
    assert (weeks[0]["jobs"], weeks[0]["cost"]) == (15, 40.0)
    assert (weeks[1]["jobs"], weeks[1]["cost"]) == (10, 16.0)
    assert weeks[1]["cu_per_job"] == pytest.approx(1.6)

    unmatched = summary.unmatched.row(0, named=True)
    assert summary.unmatched.height == 1
    assert (unmatched["model_id"], unmatched["rows"], unmatched["jobs"]) == ("ghost", 1, 3)


def test_summary_accepts_raw_usage_with_catalog():
    summary = usage_summary(USAGE, catalog=CATALOG)
    assert summary.totals["jobs"] == 25
    with pytest.raises(ValueError, match="join_usage"):
        usage_summary(USAGE)


def test_summary_of_empty_usage():
    summary = usage_summary(join_usage(CATALOG, pl.DataFrame(schema=USAGE_SCHEMA)))
    assert summary.totals["jobs"] == 0
    assert summary.by_model.height == 0 and summary.unmatched.height == 0


# ---------------------------------------------------------------------------------------------
# As-of join: the catalog as it was when the usage happened
# ---------------------------------------------------------------------------------------------

SNAP_1 = d(1)
SNAP_2 = d(15)
BEFORE = catalog(
    models=[
        {
            "model_id": "alpha",
            "name": "Alpha",
            "type": "flux.1-lora",
            "capabilities": ["txt2img"],
            "default_variant_key": "v",
        },
        {
            "model_id": "gone",
            "name": "Gone",
            "type": "sd-1_5",
            "capabilities": ["txt2img"],
            "default_variant_key": "v",
        },
    ],
    variants=[
        {
            "model_id": "alpha",
            "position": 0,
            "variant_key": "v",
            "cost_per_asset_p50_cu": 2.0,
            "is_default": True,
        },
        {
            "model_id": "gone",
            "position": 0,
            "variant_key": "v",
            "cost_per_asset_p50_cu": 1.0,
            "is_default": True,
        },
    ],
)
# Between the snapshots alpha changed type and cost, "gone" was deleted, "late" appeared.
AFTER = catalog(
    models=[
        {
            "model_id": "alpha",
            "name": "Alpha v2",
            "type": "flux.1-kontext-lora",
            "capabilities": ["txt2img", "img2img"],
            "default_variant_key": "v",
        },
        {
            "model_id": "late",
            "name": "Late",
            "type": "sd-xl",
            "capabilities": ["txt2img"],
            "default_variant_key": "v",
        },
    ],
    variants=[
        {
            "model_id": "alpha",
            "position": 0,
            "variant_key": "v",
            "cost_per_asset_p50_cu": 3.5,
            "is_default": True,
        },
        {
            "model_id": "late",
            "position": 0,
            "variant_key": "v",
            "cost_per_asset_p50_cu": 4.0,
            "is_default": True,
        },
    ],
)

ASOF_USAGE = load_usage(
    pl.DataFrame(
        {
            "model_id": ["alpha", "alpha", "alpha", "gone", "gone", "late", "late", "alpha"],
            "time": [
                d(20),
                d(5),
                d(15),
                d(10),
                d(16),
                d(10),
                d(16),
                datetime(2025, 2, 20, tzinfo=UTC),
            ],
            "jobs": [1, 2, 3, 4, 5, 6, 7, 8],
            "cost": [3.5, 4.0, 10.5, 4.0, 5.0, 24.0, 28.0, 16.0],
        }
    )
)


def test_asof_join_uses_the_catalog_of_the_time():
    joined = join_usage_asof({SNAP_1: BEFORE, SNAP_2: AFTER}, ASOF_USAGE)
    assert joined.height == ASOF_USAGE.height
    # Row order is the usage's own order.
    assert joined.get_column("jobs").to_list() == [1, 2, 3, 4, 5, 6, 7, 8]
    rows = joined.rows(named=True)
    # alpha on day 20: after the change -> new type and cost.
    assert (rows[0]["type"], rows[0]["cost_per_asset_p50_cu"]) == ("flux.1-kontext-lora", 3.5)
    assert rows[0]["snapshot_at"] == SNAP_2
    # alpha on day 5: before the change -> old type and cost.
    assert (rows[1]["type"], rows[1]["cost_per_asset_p50_cu"]) == ("flux.1-lora", 2.0)
    assert rows[1]["snapshot_at"] == SNAP_1
    # exactly at the second snapshot: snapshot_at <= time, so the new state.
    assert rows[2]["type"] == "flux.1-kontext-lora"
    # "gone" before its deletion matches; after it, it is reported, not matched to old data.
    assert (rows[3]["in_catalog"], rows[3]["name"]) == (True, "Gone")
    assert (rows[4]["in_catalog"], rows[4]["name"], rows[4]["catalog_status"]) == (
        False,
        None,
        "not_in_snapshot",
    )
    # "late" before it existed, then matched.
    assert (rows[5]["in_catalog"], rows[5]["catalog_status"]) == (False, "not_in_snapshot")
    assert (rows[6]["in_catalog"], rows[6]["cost_per_asset_p50_cu"]) == (True, 4.0)
    # usage older than the first snapshot.
    assert (rows[7]["in_catalog"], rows[7]["catalog_status"]) == (False, "before_first_snapshot")


def test_asof_summary_weights_catalog_cost_by_jobs():
    joined = join_usage_asof([(SNAP_1, BEFORE), (SNAP_2, AFTER)], ASOF_USAGE)
    summary = usage_summary(joined)
    alpha = summary.by_model.filter(pl.col("model_id") == "alpha").row(0, named=True)
    # alpha rows: day 20 (1 job @3.5), day 5 (2 jobs @2.0), day 15 (3 jobs @3.5), Feb (8 jobs, no
    # snapshot). Jobs-weighted catalog median = (1*3.5 + 2*2.0 + 3*3.5) / (1+2+3) = 18/6 = 3.
    assert alpha["catalog_p50_cu"] == pytest.approx(3.0)
    # CU per job over all alpha rows: (3.5+4+10.5+16) / (1+2+3+8) = 34/14.
    assert alpha["cu_per_job"] == pytest.approx(34 / 14)
    by_type = {r["type"]: r["jobs"] for r in summary.by_type.iter_rows(named=True)}
    # the same model counts under its old type (2 jobs + gone's 4) and new type (1+3) + late (7)
    assert by_type["flux.1-lora"] == 2
    assert by_type["flux.1-kontext-lora"] == 4
    assert by_type["sd-1_5"] == 4
    assert by_type["sd-xl"] == 7
    assert by_type[None] == 5 + 6 + 8
    assert set(summary.unmatched.get_column("model_id").to_list()) == {"alpha", "gone", "late"}


def test_asof_accepts_a_history_frame():
    history = pl.DataFrame(
        {
            "snapshot_at": [SNAP_1, SNAP_2],
            "model_id": ["alpha", "alpha"],
            "type": ["old", "new"],
        }
    )
    joined = join_usage_asof(history, ASOF_USAGE.filter(pl.col("model_id") == "alpha"))
    assert joined.get_column("type").to_list() == ["new", "old", "new", None]


def test_asof_join_reads_a_snapshots_directory(tmp_path):
    """Two real snapshots on disk; between them alpha's type and default cost changed."""
    from types import SimpleNamespace

    from scenario_frames.store import write_snapshot

    write_snapshot(SimpleNamespace(tables=BEFORE, meta=None), tmp_path, at=SNAP_1)
    write_snapshot(SimpleNamespace(tables=AFTER, meta=None), tmp_path, at=SNAP_2)
    joined = join_usage_asof(tmp_path, ASOF_USAGE)
    from_memory = join_usage_asof({SNAP_1: BEFORE, SNAP_2: AFTER}, ASOF_USAGE)
    assert joined.equals(from_memory)
    alpha = joined.filter(pl.col("model_id") == "alpha").sort("time")
    assert alpha.get_column("type").to_list() == [
        None,
        "flux.1-lora",
        "flux.1-kontext-lora",
        "flux.1-kontext-lora",
    ]
    assert alpha.get_column("cost_per_asset_p50_cu").to_list() == [None, 2.0, 3.5, 3.5]
    assert alpha.get_column("snapshot_at").to_list() == [None, SNAP_1, SNAP_2, SNAP_2]


def test_asof_join_with_an_empty_directory_says_so(tmp_path):
    with pytest.raises(ValueError, match="no snapshots"):
        join_usage_asof(tmp_path, ASOF_USAGE)


# ---------------------------------------------------------------------------------------------
# End to end with the demo API: real Catalog objects, real snapshots
# ---------------------------------------------------------------------------------------------


def test_demo_catalog_usage_join_and_asof(tmp_path):
    from scenario_frames.demo import serve_demo
    from scenario_frames.fetch import fetch_catalog
    from scenario_frames.store import write_snapshot
    from scenario_frames.usage import fetch_model_usage

    creds = {"api_key": "demo", "api_secret": "demo"}
    with serve_demo(models=60, seed=11) as server:
        private = fetch_catalog(
            base_url=server.base_url, privacy="private", progress=False, workers=1, **creds
        )
        usage = fetch_model_usage("2025-01-01", "2025-03-01", base_url=server.base_url, **creds)

        # Plain join: public models used by the team are not in the private listing.
        joined = join_usage(private, usage)
        assert joined.height == usage.height
        used = set(usage.get_column("model_id").to_list())
        listed = set(private.models.get_column("model_id").to_list())
        unmatched = set(joined.filter(~pl.col("in_catalog")).get_column("model_id").to_list())
        assert unmatched == used - listed and unmatched  # reported, not dropped
        summary = usage_summary(joined)
        assert set(summary.unmatched.get_column("model_id").to_list()) == used - listed
        assert summary.totals["jobs"] == usage.get_column("jobs").sum()

        # As-of: snapshot, change one priced model's type and double its costs, snapshot again.
        priced = catalog_lookup(private).filter(pl.col("cost_per_asset_p50_cu").is_not_null())
        target = sorted(set(priced.get_column("model_id").to_list()) & used)[0]
        old = priced.filter(pl.col("model_id") == target).row(0, named=True)
        write_snapshot(private, tmp_path, at=datetime(2025, 1, 1, tzinfo=UTC))
        new_type = "sd-1_5" if old["type"] != "sd-1_5" else "sd-xl"
        server.catalog.update([target], {"type": new_type, "variants_cost": 2.0})
        later = fetch_catalog(
            base_url=server.base_url, privacy="private", progress=False, workers=1, **creds
        )
        write_snapshot(later, tmp_path, at=datetime(2025, 2, 1, tzinfo=UTC))

    asof = join_usage_asof(tmp_path, usage.filter(pl.col("model_id") == target))
    january = asof.filter(pl.col("time") < datetime(2025, 2, 1, tzinfo=UTC))
    february = asof.filter(pl.col("time") >= datetime(2025, 2, 1, tzinfo=UTC))
    assert (january.height, february.height) == (31, 28)
    assert january.get_column("type").unique().to_list() == [old["type"]]
    assert february.get_column("type").unique().to_list() == [new_type]
    assert january.get_column("cost_per_asset_p50_cu").unique().to_list() == [
        pytest.approx(old["cost_per_asset_p50_cu"])
    ]
    assert february.get_column("cost_per_asset_p50_cu").unique().to_list() == [
        pytest.approx(2 * old["cost_per_asset_p50_cu"], rel=1e-3)
    ]
    assert asof.get_column("catalog_status").unique().to_list() == ["matched"]
