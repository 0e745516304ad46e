"""The README's reader examples, run as written against two snapshots whose columns differ.

The older snapshot lacks a column the newer one has (as when a later version of the toolkit
adds a field).  Every reader of the README must return both snapshots' rows with every column;
DuckDB without ``union_by_name`` is checked to drop it, so the test would notice the trap.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog, CatalogMeta

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- readers-example:"
DROPPED = "short_description"  # the column the older snapshot does not have


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    after = text.split(MARKER, 1)[1]
    match = re.search(r"```python\n(.*?)```", after, flags=re.S)
    assert match, "the README lost its readers example"
    return match.group(1)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history")
    meta = CatalogMeta(fetched_at=datetime(2026, 1, 1, tzinfo=UTC), query={"privacy": "public"})
    old = Catalog.from_records(make_records(20, seed=1), meta=meta)
    first = snap.write_snapshot(old, out, at=datetime(2026, 1, 1, tzinfo=UTC))
    # As written by an older version that did not know the column yet.
    models = first / "models.parquet"
    pl.read_parquet(models).drop(DROPPED).write_parquet(models)
    new = Catalog.from_records(make_records(30, seed=2), meta=meta)
    snap.write_snapshot(new, out, at=datetime(2026, 2, 1, tzinfo=UTC))
    return out


def test_the_trap_is_real(history: Path) -> None:
    plain = duckdb.sql(
        f"SELECT * FROM read_parquet('{history}/snapshot_at=*/models.parquet', "
        "hive_partitioning = true)"
    )
    assert DROPPED not in plain.columns  # the first file decided, the new column is gone


def test_readme_readers_keep_every_column(history: Path) -> None:
    newest = pl.read_parquet(snap.latest_snapshot(history) / "models.parquet")
    assert DROPPED in newest.columns
    want = set(newest.columns) | {"snapshot_at"}
    scope: dict[str, object] = {}
    code = readme_block().replace('OUT = "snapshots"', f"OUT = {str(history)!r}")
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 (the README's own example)
    for name in ("models_duckdb", "models_polars", "models_pandas", "models_arrow"):
        frame = scope[name]
        columns = set(frame.column_names if hasattr(frame, "column_names") else frame.columns)
        assert columns == want, (name, want ^ columns)
        assert len(frame) == 20 + 30, name
    # Rows of the older snapshot read the new column as null, the newer ones keep its values.
    pol = scope["models_polars"]
    by_snapshot = pol.group_by("snapshot_at").agg(pl.col(DROPPED).is_not_null().sum())
    counts = dict(by_snapshot.iter_rows())
    assert counts["2026-01-01T00-00-00Z"] == 0
    assert counts["2026-02-01T00-00-00Z"] == newest.get_column(DROPPED).is_not_null().sum() > 0
