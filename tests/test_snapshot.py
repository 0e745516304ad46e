"""Snapshots on disk: the layout contract, manifest, parquet metadata, reading back and history.

Catalogs here are built from the demo generator's records through the real frames code,
written to real folders, and read back by polars, DuckDB and pyarrow: the three ways users
consume snapshots.
"""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_frames import schema
from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.files import sha256_file
from scenario_frames.tables.catalog import Catalog, CatalogMeta

NAME_RE = re.compile(r"^snapshot_at=\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(-\d{3})?$")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def make_catalog(
    n: int = 40,
    *,
    seed: int = 3,
    start: int = 0,
    when: datetime = T0,
    base_url: str = "http://127.0.0.1:8000/v1",
) -> Catalog:
    """A real Catalog of ``n`` generated models with a plausible fetch record."""
    meta = CatalogMeta(
        fetched_at=when,
        query={"privacy": "public"},
        base_url=base_url,
        pages=2,
        requests=3,
        retries=1,
        duration_s=0.25,
        duplicates=0,
        incremental_from=None,
    )
    return Catalog.from_records(make_records(n, seed=seed, start=start), meta=meta)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return make_catalog()


def test_layout_manifest_and_files(tmp_path: Path, catalog: Catalog) -> None:
    path = snap.write_snapshot(catalog, tmp_path)
    assert path.parent == tmp_path and NAME_RE.match(path.name)
    assert path.name == "snapshot_at=2026-03-01T12-00-00Z"  # named by fetch time, UTC
    m = json.loads((path / "manifest.json").read_text())
    assert m["schema_version"] == snap.SCHEMA_VERSION
    assert m["scenario_frames_version"]
    assert m["fetched_at"].startswith("2026-03-01T12:00:00")
    assert m["query"] == {"privacy": "public"}
    assert (m["pages"], m["requests"], m["retries"], m["duration_s"]) == (2, 3, 1, 0.25)
    assert m["incremental"] is False and m["incremental_from"] is None
    assert m["rows"] == catalog.counts
    # One parquet per table; rejects.parquet only when there are rejects.
    expected = {f"{t}.parquet" for t in schema.TABLE_ORDER if t != "rejects"}
    assert catalog.counts["rejects"] == 0
    assert {p.name for p in path.iterdir()} == expected | {"manifest.json"}
    for name, info in m["tables"].items():
        assert sha256_file(path / info["file"]) == info["sha256"]
        assert pl.read_parquet(path / info["file"]).height == m["rows"][name]
    # Nothing is left in staging once the snapshot is in place, not even an empty folder.
    assert not (tmp_path / snap.STAGING).exists()


def test_rejects_file_only_when_there_are_rejects(tmp_path: Path, catalog: Catalog) -> None:
    rejects = pl.DataFrame(
        {
            "page": [0],
            "index": [4],
            "model_id": ["model_bad"],
            "reason": ["id is not a string"],
            "raw": ['{"id": 5}'],
        },
        schema=schema.TABLES["rejects"].schema,
    )
    with_rejects = Catalog.from_tables({**catalog.tables, "rejects": rejects}, catalog.meta)
    path = snap.write_snapshot(with_rejects, tmp_path)
    assert (path / "rejects.parquet").is_file()
    assert pl.read_parquet(path / "rejects.parquet").equals(rejects)
    assert json.loads((path / "manifest.json").read_text())["rows"]["rejects"] == 1


def test_base_url_credentials_never_written(tmp_path: Path) -> None:
    cat = make_catalog(
        5, base_url="https://key123:secret456@api.example.test:8443/v1?token=abc#frag"
    )
    path = snap.write_snapshot(cat, tmp_path)
    m = json.loads((path / "manifest.json").read_text())
    assert m["base_url"] == "https://api.example.test:8443/v1"
    blob = b"".join(p.read_bytes() for p in path.iterdir())
    for secret in (b"key123", b"secret456", b"token=abc"):
        assert secret not in blob


def test_parquet_is_zstd_with_statistics_and_descriptions(tmp_path: Path, catalog: Catalog) -> None:
    path = snap.write_snapshot(catalog, tmp_path)
    for table in ("models", "variants", "inputs"):
        f = pq.ParquetFile(path / f"{table}.parquet")
        col = f.metadata.row_group(0).column(0)
        assert col.compression == "ZSTD"
        assert col.is_stats_set and col.statistics.has_min_max
        kv = f.metadata.metadata  # the file's key-value metadata
        assert kv[b"description"].decode() == schema.TABLES[table].description
        assert kv[b"scenario_frames.table"] == table.encode()
        arrow_schema = f.schema_arrow
        assert arrow_schema == pq.read_table(path / f"{table}.parquet").schema
        for c in schema.TABLES[table].columns:
            field = arrow_schema.field(c.name)
            assert field.metadata[b"description"].decode() == c.description, (table, c.name)
            assert field.metadata[b"source"].decode() == c.source, (table, c.name)
            # Arrow's oldest layout, which every parquet reader takes
            assert "view" not in str(field.type), (table, c.name, field.type)


def test_read_snapshot_round_trip(tmp_path: Path, catalog: Catalog) -> None:
    path = snap.write_snapshot(catalog, tmp_path)
    back = snap.read_snapshot(path)
    for name in schema.TABLE_ORDER:
        assert back.tables[name].schema == catalog.tables[name].schema, name
        assert back.tables[name].equals(catalog.tables[name]), name
    assert back.meta.fetched_at == T0
    assert back.meta.query == {"privacy": "public"}
    assert back.meta.requests == 3 and back.meta.retries == 1
    # OUT itself stands for its latest snapshot.
    assert snap.read_snapshot(tmp_path).tables["models"].equals(catalog.models)


def test_read_snapshot_detects_a_damaged_file(tmp_path: Path, catalog: Catalog) -> None:
    path = snap.write_snapshot(catalog, tmp_path)
    target = path / "variants.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(
        snap.SnapshotError, match="variants.parquet does not match its manifest sha256"
    ):
        snap.read_snapshot(path)
    with pytest.raises(snap.SnapshotError, match="no snapshot"):
        snap.read_snapshot(tmp_path / "nothing-here")


def test_same_second_gets_distinct_sortable_folders(tmp_path: Path, catalog: Catalog) -> None:
    paths = [snap.write_snapshot(catalog, tmp_path) for _ in range(3)]
    later = snap.write_snapshot(catalog, tmp_path, at=T0 + timedelta(seconds=1))
    names = [p.name for p in paths]
    assert names == [
        "snapshot_at=2026-03-01T12-00-00Z",
        "snapshot_at=2026-03-01T12-00-00Z-001",
        "snapshot_at=2026-03-01T12-00-00Z-002",
    ]
    assert all(NAME_RE.match(n) for n in names)
    assert snap.list_snapshots(tmp_path) == [*paths, later]  # string order is time order
    assert snap.latest_snapshot(tmp_path) == later
    assert snap.latest_snapshot(tmp_path / "empty") is None
    assert snap.parse_snapshot_at(names[2]) == T0
    assert (
        json.loads((paths[2] / "manifest.json").read_text())["snapshot_at"]
        == names[2].split("=", 1)[1]
    )


def _three_snapshots(out: Path) -> list[Path]:
    return [
        snap.write_snapshot(make_catalog(n, when=T0 + timedelta(days=i)), out)
        for i, n in enumerate((10, 20, 30))
    ]


def test_duckdb_reads_every_snapshot_with_hive_partitioning(tmp_path: Path) -> None:
    _three_snapshots(tmp_path)
    rows = duckdb.sql(
        f"SELECT snapshot_at, count(*) AS n FROM read_parquet('{tmp_path}/*/models.parquet', "
        "hive_partitioning = true) GROUP BY snapshot_at ORDER BY snapshot_at"
    ).fetchall()
    assert rows == [
        ("2026-03-01T12-00-00Z", 10),
        ("2026-03-02T12-00-00Z", 20),
        ("2026-03-03T12-00-00Z", 30),
    ]
    total = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{tmp_path}/*/models.parquet', hive_partitioning = true)"
    )
    assert total.fetchall() == [(60,)]


def test_pyarrow_dataset_reads_every_snapshot_with_hive_partitioning(tmp_path: Path) -> None:
    _three_snapshots(tmp_path)
    files = sorted(str(p) for p in tmp_path.glob("*/models.parquet"))
    dataset = ds.dataset(
        files, format="parquet", partitioning="hive", partition_base_dir=str(tmp_path)
    )
    table = dataset.to_table()
    assert table.num_rows == 60
    assert "snapshot_at" in table.schema.names
    counts = (
        pl.from_arrow(table.select(["snapshot_at"]))
        .group_by("snapshot_at")
        .len()
        .sort("snapshot_at")
    )
    assert counts["len"].to_list() == [10, 20, 30]
    # Hidden staging folders are skipped by pyarrow's directory discovery too.
    (tmp_path / snap.STAGING / "1.x.host").mkdir(parents=True)
    discovered = ds.dataset(
        str(tmp_path), format="parquet", partitioning="hive", exclude_invalid_files=True
    )
    assert not any(snap.STAGING in f for f in discovered.files)


def test_history_is_lazy_with_snapshot_at_and_pushdown(tmp_path: Path) -> None:
    paths = _three_snapshots(tmp_path)
    hist = snap.history(tmp_path)
    assert set(hist) == set(schema.TABLE_ORDER)
    models = hist["models"]
    assert isinstance(models, pl.LazyFrame)
    assert models.select(pl.len()).collect().item() == 60
    assert models.collect_schema()["snapshot_at"] == pl.String
    assert models.collect_schema()["snapshot_time"] == pl.Datetime("us", "UTC")
    some_id = make_records(1, seed=3)[0]["id"]
    query = models.filter(
        pl.col("model_id") == some_id, pl.col("snapshot_at") >= "2026-03-02"
    ).select("snapshot_at", "snapshot_time")
    plan = query.explain()
    # The filter reaches the parquet scan, and the partition filter prunes the first folder.
    scan = plan[plan.index("SCAN") :]
    assert "SELECTION" in scan and "model_id" in scan
    assert paths[0].name not in plan and paths[1].name in plan and paths[2].name in plan
    got = query.collect()
    assert got["snapshot_at"].to_list() == ["2026-03-02T12-00-00Z", "2026-03-03T12-00-00Z"]
    assert got["snapshot_time"].to_list() == [T0 + timedelta(days=1), T0 + timedelta(days=2)]
    # Tables without files in any snapshot are empty frames with the right columns.
    assert hist["rejects"].collect().height == 0
    assert "snapshot_at" in hist["rejects"].collect_schema()
    assert snap.history(tmp_path / "none")["models"].collect().height == 0


def test_stale_staging_is_cleaned_and_live_staging_kept(tmp_path: Path, catalog: Catalog) -> None:
    host = socket.gethostname()
    staging = tmp_path / snap.STAGING
    dead_pid = 2**22 + 12345  # above the default pid_max, never a live process
    stale = staging / f"{dead_pid}.dead.{host}"
    live = staging / f"{os.getpid()}.live.{host}"
    for d in (stale, live):
        d.mkdir(parents=True)
        (d / "models.parquet").write_bytes(b"partial")
    snap.write_snapshot(catalog, tmp_path)
    assert not stale.exists()
    assert live.exists()
    assert [p.name for p in snap.list_snapshots(tmp_path)] == ["snapshot_at=2026-03-01T12-00-00Z"]


def test_empty_catalog_snapshot(tmp_path: Path) -> None:
    empty = Catalog.from_records(
        [],
        meta=CatalogMeta(
            fetched_at=T0,
            query={},
            base_url=None,
            pages=1,
            requests=1,
            retries=0,
            duration_s=0.0,
            duplicates=0,
            incremental_from=None,
        ),
    )
    path = snap.write_snapshot(empty, tmp_path)
    back = snap.read_snapshot(path)
    assert all(back.tables[t].height == 0 for t in schema.TABLE_ORDER)
    assert back.models.schema == schema.TABLES["models"].schema


def test_read_snapshot_reads_a_folder_and_the_latest_under_out(tmp_path: Path) -> None:
    """``read_snapshot`` gives back the written tables, from the folder or from OUT."""
    first = Catalog.from_records(make_records(30, seed=3))
    second = Catalog.from_records(make_records(45, seed=4))
    snap.write_snapshot(first, tmp_path, at=datetime(2026, 1, 1, tzinfo=UTC))
    newest = snap.write_snapshot(second, tmp_path, at=datetime(2026, 1, 2, tzinfo=UTC))
    from_folder = snap.read_snapshot(newest)
    from_out = snap.read_snapshot(tmp_path)
    assert from_folder.counts == from_out.counts == second.counts
    assert from_out.models.sort("model_id").equals(second.models.sort("model_id"))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=40),
    long=st.text(min_size=13, max_size=300),
    number=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    tags=st.lists(st.text(max_size=15), max_size=4),
    drop=st.booleans(),
)
def test_any_values_survive_the_parquet_round_trip(
    tmp_path_factory: pytest.TempPathFactory, text, long, number, tags, drop
) -> None:
    """Whatever text (NUL, surrogate-free unicode, views short and long) and numbers a
    catalog holds, its snapshot reads back equal, table by table, drift records included."""
    from _frames_records import full_record

    rec = full_record("model_x", 2)
    rec["name"], rec["description"], rec["tags"] = text, long, tags
    rec["trainingImagesNumber"] = number
    rec["surprise"] = {"k": [text, number]}  # unknown: kept in extra
    if drop:
        rec.pop("thumbnail", None)
    records = [rec, *make_records(6, seed=5, drift=True)]
    cat = Catalog.from_records(records, meta=CatalogMeta(fetched_at=T0))
    out = tmp_path_factory.mktemp("snap")
    back = snap.read_snapshot(snap.write_snapshot(cat, out))
    for name in schema.TABLE_ORDER:
        assert back.tables[name].schema == cat.tables[name].schema, name
        assert back.tables[name].equals(cat.tables[name]), name
