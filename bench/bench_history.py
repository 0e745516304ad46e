"""Bench: a year of daily snapshots, and "when did model X's p50 cost change" from history().

Builds one 2,000-model Catalog from the demo generator, then writes 365 daily snapshots with
``write_snapshot`` (the real writer: zstd parquet, manifest, fsync, atomic rename), each day
nudging the variant costs of a few random models; model X's costs change on known days.  The
question is then answered from ``history(OUT)["variants"]`` (a lazy hive-partitioned scan of
all 365 folders) and checked against those days.  Goal: under 1 s.  Writes its markdown
section to ``bench/results/history.md``.

    python bench/bench_history.py [--days 365] [--models 2000] [--reuse]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog, CatalogMeta

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "history"
START = datetime(2025, 1, 1, 6, 0, 0, tzinfo=UTC)
X_CHANGE_DAYS = (37, 180, 301)  # days on which model X's costs change
GOAL_S = 1.0


def build_year(out: Path, days: int, models: int) -> tuple[str, list[str], float]:
    """Write ``days`` daily snapshots; returns model X, the days its p50 changed, write time."""
    meta = CatalogMeta(
        fetched_at=START,
        query={"privacy": "public"},
        base_url="http://127.0.0.1/v1",
        pages=4,
        requests=4,
        retries=0,
        duration_s=0.5,
        duplicates=0,
        incremental_from=None,
    )
    base = Catalog.from_records(make_records(models, seed=2026), meta=meta)
    variants = base.variants
    with_p50 = (
        variants.filter(pl.col("cost_per_asset_p50_cu").is_not_null())["model_id"].unique().sort()
    )
    model_x = with_p50[len(with_p50) // 2]
    others = [m for m in with_p50.to_list() if m != model_x]
    rng = random.Random(7)
    factor = pl.Series("factor", [1.0] * variants.height)
    ids = variants["model_id"]
    expected: list[str] = []
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    for day in range(days):
        bumped = set(rng.sample(others, 8))
        if day in X_CHANGE_DAYS:
            bumped.add(model_x)
        if day:
            mask = ids.is_in(list(bumped))
            factor = pl.select(
                pl.when(mask).then(factor * rng.choice((0.9, 1.1, 1.25))).otherwise(factor)
            ).to_series()
        tables = dict(base.tables)
        tables["variants"] = variants.with_columns(
            (pl.col("cost_per_asset_p50_cu") * factor).round(4).alias("cost_per_asset_p50_cu")
        )
        when = START + timedelta(days=day)
        path = snap.write_snapshot(Catalog.from_tables(tables, meta), out, at=when)
        if day and model_x in bumped:
            expected.append(path.name.removeprefix(snap.PREFIX))
    return model_x, expected, time.perf_counter() - t0


def when_did_p50_change(out: Path, model_id: str) -> pl.DataFrame:
    """Snapshots in which any p50 cost of the model differs from the snapshot before."""
    variants = snap.history(out)["variants"]
    return (
        variants.filter(pl.col("model_id") == model_id)
        .select("snapshot_at", "variant_key", "cost_per_asset_p50_cu")
        .sort("variant_key", "snapshot_at")
        .with_columns(previous=pl.col("cost_per_asset_p50_cu").shift(1).over("variant_key"))
        .filter(
            pl.col("previous").is_not_null()
            & (pl.col("previous") != pl.col("cost_per_asset_p50_cu"))
        )
        .sort("snapshot_at", "variant_key")
        .collect()
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument(
        "--reuse", action="store_true", help="reuse snapshots kept by an earlier --keep run"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the ~0.5 GB of snapshots in bench/_work"
    )
    args = ap.parse_args(argv)

    out = WORK / "snapshots"
    marker = WORK / f"built-{args.days}-{args.models}.txt"
    if args.reuse and marker.exists():
        model_x, *expected = marker.read_text().split()
        write_s = float("nan")
    else:
        model_x, expected, write_s = build_year(out, args.days, args.models)
        if args.keep:
            marker.write_text(" ".join([model_x, *expected]))
    n_snaps = len(snap.list_snapshots(out))
    size_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    variant_rows = snap.history(out)["variants"].select(pl.len()).collect().item()

    timings = []
    answer = pl.DataFrame()
    for _ in range(7):
        t = time.perf_counter()
        answer = when_did_p50_change(out, model_x)
        timings.append(time.perf_counter() - t)
    got = sorted(set(answer["snapshot_at"].to_list()))
    correct = got == sorted(expected)
    first, median = timings[0], statistics.median(timings[1:])
    plan = snap.history(out)["variants"].filter(pl.col("model_id") == model_x).explain()
    pushed = "SELECTION" in plan[plan.index("SCAN") :]

    ok = correct and first < GOAL_S
    lines = [
        "## Snapshot history: when did model X's p50 cost change",
        "",
        f"{n_snaps} daily snapshots of {args.models:,} demo models ({variant_rows:,} variant rows in "
        f"all, {size_mb:.0f} MB of zstd parquet), written by `write_snapshot`"
        + (
            f" in {write_s:.1f} s ({write_s / max(n_snaps, 1) * 1000:.0f} ms per snapshot)."
            if write_s == write_s
            else "."
        ),
        f'Question answered from `history(OUT)["variants"]` (lazy hive scan over all folders, '
        f"filter on `model_id` pushed into the parquet reader: {'yes' if pushed else 'NO'}).",
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        f"| first query in the process (history() + scan of 365 folders) | {first * 1000:.0f} ms | < {GOAL_S * 1000:.0f} ms |",
        f"| median of 6 repeats | {median * 1000:.0f} ms | < {GOAL_S * 1000:.0f} ms |",
        f"| answer | {len(got)} change dates, {'matching' if correct else 'NOT matching'} the {len(expected)} planted ones | exact |",
        "",
        f"Result: {'PASS' if ok else 'FAIL'}.",
    ]
    text = "\n".join(lines) + "\n"
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "history.md").write_text(text)
    print(text)
    print(answer)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
