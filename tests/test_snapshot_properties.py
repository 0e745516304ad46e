"""Snapshots of any typed catalog read back equal, and other readers take every file.

Catalogs are drawn table by table from the schema's dtypes: zero to three rows, whole columns
null, text with NUL, emoji, the last code point and 70,000 characters, the float extremes
(-0.0, the largest, the smallest subnormal, compared bit for bit), datetimes from year 1 to
9999 in both units, lists with null items.  Each is written by ``write_snapshot`` (polars'
parquet writer) and read back by ``read_snapshot``, by pyarrow and by DuckDB.
"""

from __future__ import annotations

import os
import struct
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames import store
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog, CatalogMeta

SETTINGS = settings(
    max_examples=int(os.environ.get("SNAPSHOT_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "\x00", "é€😀", "\u200b\ufeff", "\U0010ffff", "a\nb\r\t", "x" * 70_000]),
)
floats = st.one_of(
    st.floats(allow_nan=False),
    st.sampled_from([-0.0, 0.0, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324]),
)


def _value(dtype: pl.DataType) -> st.SearchStrategy:
    if dtype == pl.String:
        return st.none() | texts
    if dtype == pl.Float64:
        return st.none() | floats
    if dtype == pl.Int64:
        return st.none() | st.integers(-(2**63), 2**63 - 1)
    if dtype == pl.Int32:
        return st.none() | st.integers(-(2**31), 2**31 - 1)
    if dtype == pl.Boolean:
        return st.none() | st.booleans()
    if isinstance(dtype, pl.Datetime):
        return st.none() | st.datetimes(
            min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)
        ).map(
            lambda d: (
                d.replace(tzinfo=UTC, microsecond=(d.microsecond // 1000) * 1000)
                if dtype.time_unit == "ms"
                else d.replace(tzinfo=UTC)
            )
        )
    if isinstance(dtype, pl.List):
        return st.none() | st.lists(st.none() | texts, max_size=3)
    raise AssertionError(dtype)


@st.composite
def catalogs(draw) -> Catalog:
    tables = {}
    for name in S.TABLE_ORDER:
        sch = S.TABLES[name].schema
        n = draw(st.integers(0, 3))
        cols = {}
        for col, dtype in sch.items():
            mode = draw(st.sampled_from(["values", "values", "allnull"]))
            if mode == "allnull":
                vals = [None] * n
            else:
                vals = draw(st.lists(_value(dtype), min_size=n, max_size=n))
            cols[col] = pl.Series(col, vals, dtype=dtype)
        tables[name] = pl.DataFrame(cols, schema=sch)
    return Catalog(tables, CatalogMeta(fetched_at=T0))


def _bits(df: pl.DataFrame) -> list:
    out = []
    for c, t in df.schema.items():
        if t == pl.Float64:
            out.append([None if v is None else struct.pack("<d", v) for v in df[c].to_list()])
    return out


def check_round_trip(cat: Catalog, out: Path) -> None:
    folder = store.write_snapshot(cat, out)
    back = store.read_snapshot(folder)
    for name in S.TABLE_ORDER:
        a, b = cat.tables[name], back.tables[name]
        assert a.schema == b.schema, name
        assert_frame_equal(a, b, check_exact=True)
        assert _bits(a) == _bits(b), name
    for f in folder.glob("*.parquet"):
        t = pq.read_table(f)
        name = f.stem
        assert t.num_rows == cat.tables[name].height
        from_pyarrow = pl.from_arrow(t)
        assert isinstance(from_pyarrow, pl.DataFrame)
        assert from_pyarrow.cast(cat.tables[name].schema).equals(cat.tables[name]), name
        con = duckdb.connect()
        try:
            n = con.execute(f"select count(*) from read_parquet('{f}')").fetchone()[0]
            assert n == cat.tables[name].height
            con.execute(f"select * from read_parquet('{f}')").fetchall()
        finally:
            con.close()


@SETTINGS
@given(catalogs())
def test_any_typed_catalog_round_trips(cat):
    """Random typed catalogs: equal tables, equal schemas, equal float bits, readable by all."""
    with tempfile.TemporaryDirectory() as d:
        check_round_trip(cat, Path(d))


def test_real_catalog_with_drift_round_trips(tmp_path):
    recs = make_records(80, seed=11, drift=True)
    recs.append({"name": "no id"})
    cat = Catalog.from_json_pages([orjson.dumps({"models": recs})])
    assert cat.rejects.height == 1
    check_round_trip(cat, tmp_path)


def test_empty_catalog_round_trips(tmp_path):
    check_round_trip(Catalog.from_json_pages([]), tmp_path)
