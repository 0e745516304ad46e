"""Completeness on demo data: every value of every record is found in the tables.

A reference walk, written independently of the materializer, follows each record's JSON
next to the schema tree: a known leaf must sit in its table's column (located through the
schema's column paths), an unknown key must sit in the owning row's ``extra`` at the same
place.  Child tables must have exactly one row per list item.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import orjson
import pytest

from scenario_frames import schema as S
from scenario_frames.tables.catalog import Catalog

gen = pytest.importorskip("scenario_frames.demo.generator")

N = 2000


def _pages(records: list[dict], size: int = 500) -> list[bytes]:
    return [
        orjson.dumps({"models": records[i : i + size], "nextPaginationToken": str(i)})
        for i in range(0, len(records), size)
    ]


def _cols_by_path(table: str) -> dict[tuple[str, ...], S.Column]:
    return {c.path: c for c in S.TABLES[table].columns if c.field is not None}


class Checker:
    """Walks records and checks each value against the tables."""

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat
        self.rows: dict[str, dict[tuple, dict[str, Any]]] = {}
        keys = {
            "models": ("model_id",),
            "inputs": ("model_id", "parent_name", "position"),
            "epochs": ("model_id", "position", "asset_position"),
        }
        for name in (
            "models",
            "variants",
            "inputs",
            "concepts",
            "epochs",
            "training_images",
            "training_image_pairs",
        ):
            key = keys.get(name, ("model_id", "position"))
            idx: dict[tuple, dict[str, Any]] = {}
            for row in cat.tables[name].iter_rows(named=True):
                k = tuple(row[c] for c in key)
                assert k not in idx, (name, k)
                idx[k] = row
            self.rows[name] = idx
        self.paths = {name: _cols_by_path(name) for name in self.rows}
        self.hit: Counter[tuple[str, str]] = Counter()
        self.extras = 0

    # -- comparisons --------------------------------------------------------------------

    def cell(self, table: str, key: tuple, path: tuple[str, ...], value: Any) -> None:
        col = self.paths[table][path]
        actual = self.rows[table][key][col.name]
        kind = col.field.kind
        if value is None:
            assert actual is None, (table, key, col.name)
            return
        if kind == "datetime":
            expected = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
        elif kind == "epoch_ms":
            expected = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)
        elif kind == "json":
            actual = json.loads(actual)
            expected = value
        elif kind == "number":
            expected = float(value)
        else:
            expected = value
        assert actual == expected, (table, key, col.name, actual, expected)
        self.hit[(table, col.name)] += 1

    def extra(self, table: str, key: tuple, where: tuple[str, ...], name: str, value: Any) -> None:
        text = self.rows[table][key]["extra"]
        assert text is not None, (table, key, where, name)
        node = json.loads(text)
        for k in where:
            node = node[k]
        assert node[name] == value, (table, key, where, name)
        self.extras += 1

    # -- the walk -----------------------------------------------------------------------

    def obj(
        self,
        nodes: tuple,
        d: dict,
        table: str,
        key: tuple,
        path: tuple[str, ...],
        where: tuple[str, ...],
    ) -> None:
        by_key = {n.key: n for n in nodes}
        for name, value in d.items():
            node = by_key.get(name)
            if node is None:
                self.extra(table, key, where, name, value)
            elif isinstance(node, S.Field):
                self.cell(table, key, path + (name,), value)
            elif isinstance(node, S.Obj):
                if value is not None:
                    self.obj(node.fields, value, table, key, path + (name,), where + (name,))
            else:
                self.list(node, value or [], key[0])

    def list(self, node: S.ListOf, items: list, mid: str, parent: str | None = None) -> None:
        table = node.table
        if node.recursive:
            for pos, item in enumerate(items):
                key = (mid, parent, pos)
                assert key in self.rows[table], key
                members = item.get(node.recursive)
                body = {k: v for k, v in item.items() if k != node.recursive}
                self.obj(node.fields, body, table, key, (), ())
                if members is not None:
                    self.list(node, members, mid, item["name"])
            return
        for pos, item in enumerate(items):
            if node.nested is None:
                self.obj(node.fields, item, table, (mid, pos), (), ())
                continue
            assets = item.get(node.nested.key) or []
            rows = [(mid, pos, a) for a in range(len(assets))] or [(mid, pos, None)]
            body = {k: v for k, v in item.items() if k != node.nested.key}
            for key in rows:  # the epoch's own fields repeat on each of its rows
                self.obj(node.fields, body, table, key, (), ())
            for apos, asset in enumerate(assets):
                self.obj(
                    node.nested.fields,
                    asset,
                    table,
                    (mid, pos, apos),
                    (node.nested.key,),
                    (node.nested.key,),
                )

    def record(self, rec: dict) -> None:
        self.obj(S.MODEL.fields, rec, "models", (rec["id"],), (), ())


def _count_inputs(items: list) -> int:
    return sum(1 + _count_inputs(i.get("inputs") or []) for i in items)


def _check_counts(cat: Catalog, records: list[dict]) -> None:
    by = {name: Counter(cat.tables[name]["model_id"].to_list()) for name in S.TABLE_ORDER[1:-1]}
    for rec in records:
        mid = rec["id"]
        assert by["capabilities"][mid] == len(rec.get("capabilities") or [])
        assert by["tags"][mid] == len(rec.get("tags") or [])
        assert by["collections"][mid] == len(rec.get("collectionIds") or [])
        assert by["example_assets"][mid] == len(rec.get("exampleAssetIds") or [])
        assert by["variants"][mid] == len((rec.get("performanceStats") or {}).get("variants") or [])
        assert by["concepts"][mid] == len(rec.get("concepts") or [])
        assert by["training_images"][mid] == len(rec.get("trainingImages") or [])
        assert by["training_image_pairs"][mid] == len(rec.get("trainingImagePairs") or [])
        assert by["epochs"][mid] == sum(
            max(1, len(e.get("assets") or [])) for e in rec.get("epochs") or []
        )
        assert by["inputs"][mid] == _count_inputs(rec.get("inputs") or [])


@pytest.fixture(scope="module")
def plain() -> tuple[list[dict], Catalog]:
    records = gen.make_records(N, seed=3)
    return records, Catalog.from_json_pages(_pages(records))


@pytest.fixture(scope="module")
def drifted() -> tuple[list[dict], Catalog]:
    records = gen.make_records(N, seed=4, drift=True)
    return records, Catalog.from_json_pages(_pages(records))


def test_demo_catalog_holds_every_documented_field(plain):
    records, cat = plain
    assert cat.rejects.height == 0 and cat.models.height == N
    checker = Checker(cat)
    for rec in records:
        checker.record(rec)
    # deletedAt is set only on deleted models, which a listing of the demo never returns
    never_listed = {("models", "deleted_at")}
    missing = [
        (t, c.name)
        for t in checker.rows
        for c in S.TABLES[t].columns
        if c.field is not None and not checker.hit[(t, c.name)] and (t, c.name) not in never_listed
    ]
    assert not missing, f"fields never seen in the demo data: {missing}"
    assert checker.extras == 0
    assert cat.models["extra"].null_count() == N


def test_child_rows_match_list_lengths(plain):
    records, cat = plain
    _check_counts(cat, records)


def test_drift_unknown_fields_land_in_extra_nothing_dropped(drifted):
    records, cat = drifted
    assert cat.rejects.height == 0 and cat.models.height == N
    checker = Checker(cat)
    for rec in records:
        checker.record(rec)
    assert checker.extras > N // 10
    assert cat.models["extra"].drop_nulls().len() > 0
    assert cat.variants["extra"].drop_nulls().len() > 0
    _check_counts(cat, records)
    # every extra holds JSON of a non-empty object
    for df in cat.tables.values():
        if "extra" in df.columns:
            for text in df["extra"].drop_nulls():
                assert isinstance(json.loads(text), dict) and json.loads(text)


def test_drift_unknown_enum_values_survive(drifted):
    records, cat = drifted
    for field, column in (("type", "type"), ("status", "status"), ("privacy", "privacy")):
        assert set(cat.models[column]) == {r.get(field) for r in records}
    caps = {c for r in records for c in r.get("capabilities") or []}
    assert set(cat.capabilities["capability"]) == caps
    assert caps - set(S.CAPABILITIES) or {r["type"] for r in records} - set(S.MODEL_TYPES), (
        "the drift data should hold values the enums do not list"
    )
    assert set(cat.capability_matrix().columns[1:]) >= caps


def test_records_and_pages_agree_on_demo_data(drifted):
    records, cat = drifted
    again = Catalog.from_records(records)
    for name in S.TABLE_ORDER:
        assert again.tables[name].equals(cat.tables[name]), name
