"""``scenario-frames usage``: fetch per-model usage for a date range into a parquet file.

The command writes ``OUT/model_usage.parquet`` and ``OUT/manifest.json`` (what was asked,
how many calls it took, row counts and the file's sha256; never a credential), then prints
a few lines: the period, totals and the models that used the most compute units.
``--demo`` runs the embedded Scenario API in this process, so the command can be tried
without an account.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .._version import __version__
from ..errors import QueryError
from ..listing.query import iso_utc, parse_iso
from ..urls import safe_base_url
from .common import (
    add_transport_arguments,
    check_transport_flags,
    client_from_args,
    has_credentials,
)

if TYPE_CHECKING:  # the usage module is imported when the subcommand runs, not at CLI start
    from ..transport.client import ScenarioClient

PARQUET_NAME = "model_usage.parquet"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "scenario_frames.usage"
DEMO_USAGE_PRIVACIES = ("public",)


def register_usage(subs: argparse._SubParsersAction) -> None:
    """Add the ``usage`` subcommand."""
    p = subs.add_parser(
        "usage",
        help="fetch per-model usage (jobs, compute units) for a date range",
        description=(
            "Fetch per-model usage from GET /v1/usages for the period [START, END): START is "
            "included, END is excluded, bare dates are midnight UTC.  Periods over 120 days are "
            "fetched in several calls and joined without overlap or gap.  Credentials come from "
            "SCENARIO_API_KEY / SCENARIO_API_SECRET (or SCENARIO_SDK_API_KEY / ..._SECRET).  "
            "--demo reads the usage of the one demo catalog that snapshot --demo lists, so the "
            "two outputs join."
        ),
    )
    p.add_argument(
        "--start",
        required=True,
        metavar="DATE",
        help="first day of the period, included (e.g. 2025-01-01 or 2025-01-01T06:00:00Z)",
    )
    p.add_argument(
        "--end",
        required=True,
        metavar="DATE",
        help="end of the period, excluded (2025-02-01 ends with 31 January)",
    )
    p.add_argument(
        "--project-ids",
        nargs="+",
        metavar="ID",
        default=None,
        help="only these projects (space or comma separated)",
    )
    p.add_argument(
        "--out",
        default="usage",
        metavar="DIR",
        help="folder for model_usage.parquet and manifest.json (default: ./usage)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="start the embedded demo API in this process and use its demo credentials",
    )
    add_transport_arguments(p)
    p.set_defaults(run=run_usage)


@contextlib.contextmanager
def _client_for(args: argparse.Namespace) -> Iterator[tuple[ScenarioClient, bool]]:
    """The client to use: one on an in-process demo server with ``--demo``, else the real one."""
    if args.demo:
        from ..demo import serve_demo

        # The demo catalog of snapshot --demo; its team used public models, the ones that
        # snapshot --demo lists, so every usage row finds its model there.  The client carries
        # the demo's own key pair, so real credentials never reach it.
        with (
            serve_demo(usage_privacies=DEMO_USAGE_PRIVACIES) as server,
            client_from_args(
                args,
                base_url=server.base_url,
                api_key=server.api_key,
                api_secret=server.api_secret,
            ) as client,
        ):
            yield client, True
    else:
        if not has_credentials():
            raise ValueError(
                "usage is private to an account: set SCENARIO_API_KEY and "
                "SCENARIO_API_SECRET in the environment (the public access cannot "
                "read usage), or try --demo"
            )
        with client_from_args(args) as client:
            yield client, False


def _date_flag(flag: str, text: str) -> datetime:
    """A --start/--end value as UTC, or an error naming the flag."""
    try:
        return parse_iso(text)
    except QueryError as exc:
        raise ValueError(f"{flag}: {exc.message}") from None


def check_range(args: argparse.Namespace) -> None:
    """--start and --end readable and in order, in flag names, before anything starts."""
    start, end = _date_flag("--start", args.start), _date_flag("--end", args.end)
    if end <= start:
        raise ValueError(
            f"--end ({iso_utc(end)}) must be after --start ({iso_utc(start)}); the "
            "period includes --start and excludes --end"
        )


def _project_ids(values: list[str] | None) -> list[str]:
    return [part.strip() for v in values or [] for part in v.split(",") if part.strip()]


def build_manifest(
    usage: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    project_ids: list[str],
    base_url: str,
    demo: bool,
    windows: list[tuple[datetime, datetime]],
    stats: dict[str, int],
    parquet: Path,
) -> dict[str, Any]:
    """What the output holds and how it was made; holds no credential by construction."""
    from ..files import sha256_file

    return {
        "format": MANIFEST_FORMAT,
        "scenario_frames_version": __version__,
        "written_at": iso_utc(datetime.now(UTC)),
        "start": iso_utc(start),
        "end": iso_utc(end),
        "range": "start included, end excluded",
        "project_ids": project_ids,
        "base_url": safe_base_url(base_url),
        "demo": demo,
        "calls": len(windows),
        "windows": [[iso_utc(lo), iso_utc(hi)] for lo, hi in windows],
        "requests": stats.get("requests", 0),
        "retries": stats.get("retries", 0),
        "rows": usage.height,
        "models": usage.get_column("model_id").n_unique(),
        "jobs": int(usage.get_column("jobs").sum() or 0),
        "cost_cu": float(usage.get_column("cost").sum() or 0.0),
        "granularity": sorted(usage.get_column("granularity").drop_nulls().unique().to_list()),
        "columns": {name: str(dtype) for name, dtype in usage.schema.items()},
        "file": {
            "name": parquet.name,
            "sha256": sha256_file(parquet),
            "bytes": parquet.stat().st_size,
        },
    }


def summary_lines(usage: pl.DataFrame, manifest: dict[str, Any], top: int = 5) -> list[str]:
    """A few human lines about a fetched usage frame."""
    days = (parse_iso(manifest["end"]) - parse_iso(manifest["start"])).total_seconds() / 86400
    jobs, cost = manifest["jobs"], manifest["cost_cu"]
    per_job = f"{cost / jobs:,.2f} CU/job" if jobs else "no jobs"
    lines = [
        f"usage {manifest['start'][:10]} .. {manifest['end'][:10]} (end excluded): "
        f"{days:g} days in {manifest['calls']} call(s)",
        f"  {usage.height:,} points, {manifest['models']:,} models, {jobs:,} jobs, "
        f"{cost:,.1f} CU ({per_job})",
    ]
    if usage.height:
        ranked = (
            usage.group_by("model_id")
            .agg(pl.col("cost").sum(), pl.col("jobs").sum())
            .sort(["cost", "model_id"], descending=[True, False])
            .head(top)
        )
        lines.append(f"  top {ranked.height} models by CU:")
        for model_id, model_cost, model_jobs in ranked.iter_rows():
            lines.append(f"    {model_id:<28} {model_cost:>12,.1f} CU {model_jobs:>9,} jobs")
    return lines


def run_usage(args: argparse.Namespace) -> int:
    """Fetch, write parquet and manifest, print the summary; returns the exit code."""
    from ..files import atomic_write
    from ..usage import fetch_model_usage, usage_windows

    check_range(args)
    if args.demo and args.base_url:
        raise ValueError("--demo and --base-url exclude each other")
    check_transport_flags(args)
    windows = usage_windows(args.start, args.end)
    start, end = windows[0][0], windows[-1][1]
    project_ids = _project_ids(args.project_ids)
    out = Path(args.out)
    with _client_for(args) as (client, demo):
        # tqdm's bar only on a terminal: in a log file it would write one frame per refresh
        # (the usage module logs a summary line either way).
        from ..listing.progress import is_interactive

        usage = fetch_model_usage(
            start,
            end,
            project_ids or None,
            client=client,
            progress=not args.no_progress and is_interactive(),
        )
        stats = client.stats()
        base_url = client.base_url
    out.mkdir(parents=True, exist_ok=True)
    parquet = out / PARQUET_NAME
    buf = io.BytesIO()
    usage.write_parquet(buf)
    atomic_write(parquet, buf.getvalue())  # a reader never sees half a file
    manifest = build_manifest(
        usage,
        start=start,
        end=end,
        project_ids=project_ids,
        base_url=base_url,
        demo=demo,
        windows=windows,
        stats=stats,
        parquet=parquet,
    )
    atomic_write(
        out / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode(), sync_dir=True
    )
    for line in summary_lines(usage, manifest):
        print(line)
    print(f"wrote {parquet} and {out / MANIFEST_NAME}")
    return 0
