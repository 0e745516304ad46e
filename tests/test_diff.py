"""diff(): added, removed and changed models, with column-level old -> new details.

Two catalogs are built from the same generated records with known edits between them:
models added and removed, a top-level column changed, and changes that live only in child
tables (a variant's p50 cost, a dropped capability row).  The diff must find exactly those.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog, CatalogMeta

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def _meta(when: datetime = T0) -> CatalogMeta:
    return CatalogMeta(
        fetched_at=when,
        query={"privacy": "public"},
        base_url=None,
        pages=1,
        requests=1,
        retries=0,
        duration_s=0.1,
        duplicates=0,
        incremental_from=None,
    )


def _with_p50_variants(records: list[dict]) -> list[int]:
    """Indices of records having at least one variant with a p50 cost."""
    return [
        i
        for i, r in enumerate(records)
        if any(
            "costPerAssetP50CU" in v for v in (r.get("performanceStats") or {}).get("variants", [])
        )
    ]


@pytest.fixture(scope="module")
def scenario() -> dict:
    """Old and new catalogs plus the edits made between them."""
    old_records = make_records(30, seed=11)
    new_records = copy.deepcopy(old_records)
    ids = [r["id"] for r in old_records]

    renamed = ids[2]
    new_records[2]["name"] = "Renamed model ✨"

    vi = next(i for i in _with_p50_variants(new_records) if i not in (2,))
    variant = next(
        v for v in new_records[vi]["performanceStats"]["variants"] if "costPerAssetP50CU" in v
    )
    old_cost = variant["costPerAssetP50CU"]
    variant["costPerAssetP50CU"] = round(old_cost * 2 + 1, 2)

    removed = [ids[5], ids[6]]
    new_records = [r for r in new_records if r["id"] not in removed]
    added_records = make_records(2, seed=11, start=30)
    new_records += added_records

    old = Catalog.from_records(old_records, meta=_meta())
    new = Catalog.from_records(new_records, meta=_meta())
    return {
        "old": old,
        "new": new,
        "renamed": renamed,
        "variant_model": ids[vi],
        "variant_key": variant["variantKey"],
        "old_cost": old_cost,
        "new_cost": variant["costPerAssetP50CU"],
        "removed": sorted(removed),
        "added": sorted(r["id"] for r in added_records),
    }


def test_known_added_removed_changed(scenario: dict) -> None:
    d = snap.diff(scenario["old"], scenario["new"])
    assert d.added == scenario["added"]
    assert d.removed == scenario["removed"]
    assert d.changed == sorted([scenario["renamed"], scenario["variant_model"]])
    assert d.details[scenario["renamed"]] == {
        "models": {
            "name": {
                "old": scenario["old"].models.filter(model_id=scenario["renamed"])["name"].item(),
                "new": "Renamed model ✨",
            }
        },
    }


def test_child_table_only_change_is_a_change(scenario: dict) -> None:
    d = snap.diff(scenario["old"], scenario["new"])
    detail = d.details[scenario["variant_model"]]
    assert set(detail) == {"variants"}  # nothing changed in the models table itself
    changed = detail["variants"]["changed"]
    assert changed == {
        scenario["variant_key"]: {
            "cost_per_asset_p50_cu": {"old": scenario["old_cost"], "new": scenario["new_cost"]}
        }
    }
    text = d.summary()
    assert f"variants[{scenario['variant_key']}].cost_per_asset_p50_cu" in text
    assert "2 added, 2 removed, 2 changed" in text


def test_removed_child_row_is_reported(scenario: dict) -> None:
    old = scenario["old"]
    caps = old.tables["capabilities"]
    victim = caps["model_id"][0]
    dropped = caps.filter(model_id=victim)["capability"][-1]
    tables = {
        **old.tables,
        "capabilities": caps.filter(
            ~((caps["model_id"] == victim) & (caps["capability"] == dropped))
        ),
    }
    edited = Catalog.from_tables(tables, old.meta)
    d = snap.diff(old, edited)
    assert d.changed == [victim] and not d.added and not d.removed
    assert d.details[victim] == {"capabilities": {"removed": [dropped]}}


def test_identical_catalogs_have_no_diff(scenario: dict) -> None:
    d = snap.diff(scenario["old"], scenario["old"])
    assert not d and d.to_dict() == {"added": [], "removed": [], "changed": [], "details": {}}
    assert "no differences" in d.summary()


def test_diff_of_snapshot_folders_is_json_ready(tmp_path: Path, scenario: dict) -> None:
    a = snap.write_snapshot(scenario["old"], tmp_path)
    b = snap.write_snapshot(scenario["new"], tmp_path)
    d = snap.diff(a, b)
    assert d.old_label == a.name and d.new_label == b.name
    data = json.loads(json.dumps(d.to_dict()))  # plain JSON all the way down
    assert set(data) == {"added", "removed", "changed", "details"}
    assert data["added"] == scenario["added"] and data["removed"] == scenario["removed"]
    assert data == snap.diff(scenario["old"], scenario["new"]).to_dict()
