"""Incremental refresh against the embedded demo API over real loopback HTTP.

A full snapshot of the public listing is taken; the demo catalog then changes (models edited,
variant costs changed, models added); ``refresh_incremental`` fetches only what was updated
and merges it into a new full snapshot.  A full fetch of the same catalog state must give the
same tables row for row.  Removals are the documented blind spot of incremental refresh.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from scenario_frames import schema
from scenario_frames import store as snap
from scenario_frames.demo import serve_demo
from scenario_frames.fetch import fetch_catalog

SORT_KEYS = ("model_id", "parent_name", "position", "asset_position")


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    keys = [k for k in SORT_KEYS if k in df.columns]
    return df.sort(keys, nulls_last=True) if keys else df


def _assert_same_tables(a: Path, b: Path) -> None:
    ta, _ = snap.read_tables(a)
    tb, _ = snap.read_tables(b)
    for name in schema.TABLE_ORDER:
        left, right = _sorted(ta[name]), _sorted(tb[name])
        assert left.schema == right.schema, name
        assert left.height == right.height, (name, left.height, right.height)
        assert left.equals(right), f"{name} differs between incremental and full"


@pytest.fixture()
def demo():
    with serve_demo(models=400, seed=7) as server:
        yield server


def _fetch(server):
    def fetch(**query):
        return fetch_catalog(base_url=server.base_url, workers=3, progress=False, **query)

    return fetch


def test_incremental_equals_full_for_the_same_catalog_state(tmp_path: Path, demo) -> None:
    fetch = _fetch(demo)
    inc_out, full_out = tmp_path / "inc", tmp_path / "full"
    base = snap.write_snapshot(fetch(privacy="public"), inc_out)
    public_ids = snap.read_snapshot(base).models["model_id"].to_list()
    n_public = len(public_ids)

    demo.catalog.update(public_ids[:3], {"name": "Edited by the test"})
    demo.catalog.update(public_ids[10:12], {"variants_cost": 1.5})
    added = demo.catalog.add_models(20)
    # The demo dates added models on its own (past) timeline; publishing them "now" is an update.
    demo.catalog.update(added)
    demo.reset_stats()

    inc = snap.refresh_incremental(inc_out, fetch)
    inc_requests = list(demo.stats.log)
    full = snap.write_snapshot(fetch(privacy="public"), full_out)
    _assert_same_tables(inc, full)

    # The refresh asked only for recent updates, sorted by updatedAt, and got few models.
    assert inc_requests and all(
        r.params.get("updatedAfter")
        and r.params.get("sortBy") == "updatedAt"
        and r.params.get("privacy") == "public"
        for r in inc_requests
    )
    m = json.loads((inc / "manifest.json").read_text())
    assert m["incremental"] is True and m["incremental_from"] == base.name
    assert m["query"] == json.loads((base / "manifest.json").read_text())["query"]
    fetched = m["incremental_detail"]["fetched_models"]
    new_public = snap.read_snapshot(full).models.height - n_public
    assert 5 + new_public <= fetched < n_public // 2, fetched
    assert any(a in set(snap.read_snapshot(full).models["model_id"]) for a in added)

    # The changes made between the two snapshots show up in the diff of base -> incremental.
    d = snap.diff(base, inc)
    assert set(public_ids[:3]) | set(public_ids[10:12]) <= set(d.changed)
    assert "variants" in d.details[public_ids[10]]
    assert len(d.added) == new_public and not d.removed

    # A second refresh with nothing new changes nothing.
    again = snap.refresh_incremental(inc_out, fetch)
    assert not snap.diff(inc, again)


def test_removals_need_a_full_snapshot(tmp_path: Path, demo) -> None:
    fetch = _fetch(demo)
    base = snap.write_snapshot(fetch(privacy="public"), tmp_path / "inc")
    gone = snap.read_snapshot(base).models["model_id"][0]
    demo.catalog.remove([gone])
    inc = snap.refresh_incremental(tmp_path / "inc", fetch)
    full = snap.write_snapshot(fetch(privacy="public"), tmp_path / "full")
    assert gone in set(snap.read_snapshot(inc).models["model_id"])
    assert snap.diff(inc, full).removed == [gone]


def test_incremental_refusals(tmp_path: Path, demo) -> None:
    fetch = _fetch(demo)
    with pytest.raises(snap.SnapshotError, match="take a full snapshot first"):
        snap.refresh_incremental(tmp_path / "empty", fetch)
    private = fetch_catalog(
        base_url=demo.base_url,
        api_key="demo",
        api_secret="demo",
        privacy="private",
        workers=2,
        progress=False,
    )
    snap.write_snapshot(private, tmp_path / "private")
    with pytest.raises(snap.SnapshotError, match="public listing"):
        snap.refresh_incremental(tmp_path / "private", fetch)
