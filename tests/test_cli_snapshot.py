"""The ``snapshot`` and ``diff`` subcommands, run through the installed console script.

Every test starts ``scenario-frames`` as a real process, the way a user types it; the demo
runs inside that process for ``snapshot --demo``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog, CatalogMeta

SCRIPT = shutil.which("scenario-frames", path=str(Path(sys.executable).parent)) or "scenario-frames"
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def run(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_snapshot_demo_end_to_end(tmp_path: Path) -> None:
    res = run("snapshot", "--demo", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    folders = snap.list_snapshots(tmp_path / "snapshots")  # default --out
    assert len(folders) == 1
    folder = folders[0]
    for name in ("manifest.json", "models.parquet", "capabilities.parquet", "variants.parquet"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    models = pl.read_parquet(folder / "models.parquet")
    assert models.height == manifest["rows"]["models"] > 500  # the public part of 2,000 demo models
    assert models["model_id"].is_unique().all()
    assert set(models["privacy"]) == {"public"}
    assert manifest["query"]["privacy"] == "public"
    assert manifest["base_url"].startswith("http://127.0.0.1:")
    assert pl.read_parquet(folder / "variants.parquet").height > 0
    # The one-screen summary names the folder, types, rows per table and fetch figures.
    out = res.stdout
    assert str(Path("snapshots") / folder.name) in out
    assert f"models    {models.height:,} in " in out
    top_type = models.group_by("type").len().sort("len", descending=True)["type"][0]
    assert top_type in out
    for word in ("variants", "capabilities", "retries", "rejects"):
        assert word in out
    assert len(out.splitlines()) <= 24


def test_snapshot_incremental_on_the_demo(tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    first = run(
        "snapshot",
        "--incremental",
        "--demo",
        "--demo-models",
        "300",
        "--no-progress",
        "--out",
        str(out),
    )
    assert first.returncode == 1
    assert first.stderr.strip().count("\n") == 0 and "take a full snapshot first" in first.stderr
    assert (
        run(
            "snapshot", "--demo", "--demo-models", "300", "--no-progress", "--out", str(out)
        ).returncode
        == 0
    )
    res = run(
        "snapshot",
        "--incremental",
        "--demo",
        "--demo-models",
        "300",
        "--no-progress",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    base, inc = snap.list_snapshots(out)
    manifest = json.loads((inc / "manifest.json").read_text())
    assert manifest["incremental"] is True and manifest["incremental_from"] == base.name
    assert "incremental from" in res.stdout
    assert not snap.diff(base, inc)  # the same seeded demo: nothing changed
    bad = run("snapshot", "--incremental", "--types", "sd-xl", "--out", str(out))
    assert bad.returncode == 1 and "--types" in bad.stderr and "Traceback" not in bad.stderr


def _write_pair(out: Path) -> tuple[Path, Path, dict]:
    records = make_records(12, seed=21)
    meta = CatalogMeta(
        fetched_at=T0,
        query={"privacy": "public"},
        base_url=None,
        pages=1,
        requests=1,
        retries=0,
        duration_s=0.1,
        duplicates=0,
        incremental_from=None,
    )
    old = Catalog.from_records(records, meta=meta)
    changed = [dict(r) for r in records[1:]] + make_records(1, seed=21, start=12)
    changed[0] = {**changed[0], "name": "A new name"}
    new = Catalog.from_records(changed, meta=meta)
    a = snap.write_snapshot(old, out)
    b = snap.write_snapshot(new, out, at=T0 + timedelta(days=1))
    expect = {
        "added": [make_records(1, seed=21, start=12)[0]["id"]],
        "removed": [records[0]["id"]],
        "changed": [records[1]["id"]],
    }
    return a, b, expect


def test_diff_summary_and_json(tmp_path: Path) -> None:
    a, b, expect = _write_pair(tmp_path)
    text = run("diff", str(a), str(b))
    assert text.returncode == 0, text.stderr
    assert "1 added, 1 removed, 1 changed" in text.stdout
    assert "name: " in text.stdout and '"A new name"' in text.stdout
    js = run("diff", str(a), str(b), "--json")
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    assert set(data) == {"added", "removed", "changed", "details"}
    assert {k: data[k] for k in ("added", "removed", "changed")} == expect
    assert data["details"][expect["changed"][0]]["models"]["name"]["new"] == "A new name"


def test_diff_errors_are_one_line(tmp_path: Path) -> None:
    res = run("diff", str(tmp_path / "nope1"), str(tmp_path / "nope2"))
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and res.stderr.strip().count("\n") == 0
    (tmp_path / "snapshot_at=2026-01-01T00-00-00Z").mkdir()
    res = run("diff", str(tmp_path / "snapshot_at=2026-01-01T00-00-00Z"), str(tmp_path))
    assert res.returncode == 1 and "Traceback" not in res.stderr
