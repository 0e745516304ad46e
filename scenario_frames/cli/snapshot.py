"""The ``snapshot`` and ``diff`` subcommands of ``scenario-frames``.

``snapshot`` fetches the catalog (from the real API, any base URL, or the embedded demo with
``--demo``) and writes an atomic parquet snapshot under ``--out``; ``--incremental`` fetches
only what changed since the latest snapshot there.  ``diff`` compares two snapshots.  Both
print a short human summary; errors surface as one line through the CLI's main.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from .. import store as snap
from .common import (
    DEMO_MODELS,
    check_checkpoint,
    check_transport_flags,
    demo_models,
    has_credentials,
)

# The query flags we check under --incremental (snake_case argparse destinations).
_QUERY_DESTS = (
    "status",
    "type",
    "types",
    "tags",
    "collection_id",
    "collection_ids",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
    "sort_by",
    "sort_direction",
    "blacklisted",
    "loaded_only",
    "original_assets",
)


def register_snapshot(subs: argparse._SubParsersAction) -> None:
    """Add ``scenario-frames snapshot``."""
    p = subs.add_parser(
        "snapshot",
        help="fetch the catalog and write an atomic parquet snapshot",
        description=(
            "Fetch every page of GET /models and write OUT/snapshot_at=<UTC time>/ with one "
            "parquet file per table and a manifest.json.  --demo starts the embedded demo API "
            "in-process and snapshots its public listing (--privacy private lists the demo "
            "team's private and unlisted models with the demo credentials demo/demo).  Without "
            "--demo the listing is public unless SCENARIO_API_KEY and SCENARIO_API_SECRET are "
            "set (then private).  --incremental "
            "fetches only models updated since the latest snapshot under OUT (public "
            "listings) and writes a new full snapshot merged from it."
        ),
    )
    p.add_argument(
        "--demo", action="store_true", help="snapshot the embedded demo API (no account needed)"
    )
    p.add_argument(
        "--demo-models",
        type=demo_models,
        default=DEMO_MODELS,
        metavar="N",
        help=f"size of the demo catalog with --demo (default {DEMO_MODELS:,}, the one "
        "demo catalog every --demo serves)",
    )
    p.add_argument(
        "--out",
        default="snapshots",
        metavar="DIR",
        help="folder holding the snapshots (default: snapshots)",
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="fetch only models updated since the latest snapshot in --out and merge",
    )
    from .common import add_fetch_arguments

    add_fetch_arguments(p)
    p.set_defaults(run=run_snapshot)


def register_diff(subs: argparse._SubParsersAction) -> None:
    """Add ``scenario-frames diff``."""
    p = subs.add_parser(
        "diff",
        help="compare two snapshots: added, removed and changed models",
        description=(
            "Compare two snapshot folders (or two OUT folders: their latest snapshots).  Prints "
            "a readable summary; --json prints one object with keys added, removed, changed "
            "(lists of model ids) and details (per changed model: table -> column -> old/new)."
        ),
    )
    p.add_argument("old", help="older snapshot folder")
    p.add_argument("new", help="newer snapshot folder")
    p.add_argument("--json", action="store_true", help="print the diff as one JSON object")
    p.add_argument(
        "--limit",
        type=int,
        default=20,
        help="models listed per section in the summary (default 20)",
    )
    p.set_defaults(run=run_diff)


# ---------------------------------------------------------------------------------------------
# snapshot
# ---------------------------------------------------------------------------------------------


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    """The HTTP client for this run: the embedded demo's with --demo, else from the flags.

    With --demo the client always carries the demo team's credentials explicitly, so real
    credentials in the environment are never sent to the demo server; the listing is public
    unless --privacy private asks for the demo team's private and unlisted models.
    """
    from .common import client_from_args

    if not args.demo:
        client = client_from_args(args)
        try:
            yield client
        finally:
            client.close()
        return
    from ..demo import serve_demo

    if args.privacy is None:
        args.privacy = "public"
    with serve_demo(models=args.demo_models) as server:
        args.demo_split = server.privacy_split()
        client = client_from_args(
            args,
            base_url=server.base_url,
            api_key=server.api_key,
            api_secret=server.api_secret,
        )
        try:
            yield client
        finally:
            client.close()


class _Fetcher:
    """``fetch(**query)`` with this run's client and transport flags (workers, checkpoint, ...).

    Without --checkpoint it keeps the raw pages of its last fetch (and the query they
    answer) until the snapshot is written, so that a write that fails does not lose them
    (see ``_keep_pages``); that holds the listing's JSON in memory next to its tables for
    the length of the write.  With --checkpoint the pages are on disk already.
    """

    def __init__(self, args: argparse.Namespace, client: Any) -> None:
        self.args = args
        self.client = client
        self.fetched = False
        self.pages: list[bytes] | None = None
        self.query: dict[str, Any] = {}

    def __call__(self, **query: Any) -> Any:
        from ..fetch import fetch_catalog_pages

        a = self.args
        self.query = dict(query)
        catalog, result = fetch_catalog_pages(
            client=self.client,
            workers=a.workers,
            checkpoint=a.checkpoint,
            progress=not a.no_progress,
            **query,
        )
        self.fetched = True
        self.pages = None if a.checkpoint else result.pages
        return catalog


def _keep_pages(fetcher: _Fetcher, out: Path, exc: OSError) -> snap.SnapshotError:
    """The error for a snapshot that could not be written, after saving what was fetched.

    With ``--checkpoint`` the pages are already there.  Without it they are written as a
    complete checkpoint in the system's temporary folder; rerunning the same command with
    ``--checkpoint`` that folder writes the snapshot without a single request.
    """
    from ..listing.checkpoint import save_pages_checkpoint

    why = f"could not write the snapshot under {out}: {exc.strerror or exc}"
    if fetcher.args.checkpoint:
        return snap.SnapshotError(
            f"{why}. The fetched pages are kept in the checkpoint folder {fetcher.args.checkpoint}: "
            "fix the problem and rerun the same command to write them without requests"
        )
    try:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="scenario-frames-pages-"))
        query = {"privacy": fetcher.client.default_privacy} | {
            k: v for k, v in fetcher.query.items() if v is not None
        }
        save_pages_checkpoint(folder, fetcher.client, query, fetcher.pages or [])
    except OSError as again:
        return snap.SnapshotError(
            f"{why}; the fetched pages could not be kept either ({again.strerror or again})"
        )
    return snap.SnapshotError(
        f"{why}. The {len(fetcher.pages or [])} fetched pages were kept in {folder}: fix the problem and "
        f"rerun the same command with --checkpoint {folder} to write them without requests"
    )


def _check_incremental_flags(args: argparse.Namespace) -> None:
    """Under --incremental the query is the latest snapshot's; refuse flags that would change it."""
    given = [d for d in _QUERY_DESTS if getattr(args, d, None) is not None]
    if given:
        flags = ", ".join("--" + d.replace("_", "-") for d in given)
        raise ValueError(
            f"--incremental reuses the query of the latest snapshot; drop {flags} "
            "(or take a full snapshot with them)"
        )
    if getattr(args, "privacy", None) == "private":
        raise ValueError(
            "--incremental works on public listings only (the API offers updatedAfter there)"
        )


def check_flags(args: argparse.Namespace) -> None:
    """Refuse what cannot work before any server starts or any request is sent, in flag names.

    The query is built once here (with the privacy the run will use), so a broken rule is
    reported as a ``QueryError`` that the CLI words with flags; its warnings are left to the
    real build, so each is shown once.
    """
    import warnings

    from ..listing.query import ModelQuery
    from .common import query_from_args

    if args.demo and args.base_url:
        raise ValueError("--demo serves its own API; drop --base-url (or drop --demo)")
    check_transport_flags(args)
    check_checkpoint(args.checkpoint)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    credentials = args.demo or has_credentials()
    if args.privacy == "private" and not credentials:
        raise ValueError(
            "--privacy private lists your team's models and needs your API key pair: "
            "set SCENARIO_API_KEY and SCENARIO_API_SECRET in the environment, or use "
            "--privacy public (or try --demo --privacy private)"
        )
    if args.incremental:
        return  # the query is the latest snapshot's (checked by _check_incremental_flags)
    query = query_from_args(args)
    query.setdefault("privacy", "public" if args.demo or not credentials else "private")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ModelQuery.build(**query)


def run_snapshot(args: argparse.Namespace) -> int:
    """Fetch (or refresh) and write one snapshot, then print its summary.

    --out is checked before anything is fetched (a file, a read-only or missing filesystem
    fail at once, naming the path).  A snapshot written from a --checkpoint consumes it
    (``pages.consume_checkpoint``): the same folder cannot replay old pages as new data.
    """
    from ..listing.checkpoint import consume_checkpoint
    from .common import query_from_args

    out = Path(args.out)
    check_flags(args)
    if args.incremental:
        _check_incremental_flags(args)
        if snap.latest_snapshot(out) is None:
            raise ValueError(
                f"--incremental needs an earlier snapshot under {out}; take a full snapshot first"
            )
    snap.check_writable(out)
    with _client(args) as client:
        fetch = _Fetcher(args, client)
        try:
            if args.incremental:
                path = snap.refresh_incremental(out, fetch)
            else:
                path = snap.write_snapshot(fetch(**query_from_args(args)), out)
        except OSError as exc:
            if not fetch.fetched:
                raise
            raise _keep_pages(fetch, out, exc) from None
    if args.checkpoint:
        consume_checkpoint(args.checkpoint, path.name)
    print(snapshot_summary(path))
    split = getattr(args, "demo_split", None)
    if split is not None:
        listed = snap.Manifest.read(path).rows.get("models", 0)
        print(demo_note(split, args.privacy, listed))
    return 0


def demo_note(split: Any, privacy: str | None, listed: int) -> str:
    """What a ``--demo`` snapshot holds of the demo catalog (``listed`` models), and where the rest is."""
    hidden = split.private + split.unlisted
    if privacy == "private":
        held = "listed here" if listed == hidden else f"{listed:,} of them match this query"
        return (
            f"demo      {split.total:,} models, of which {hidden:,} private or unlisted ({held}, "
            f"with the demo credentials demo/demo); the {split.public:,} public ones are listed "
            "without --privacy private"
        )
    held = "listed here" if listed == split.public else f"{listed:,} of them match this query"
    return (
        f"demo      {split.total:,} models, of which {split.public:,} public ({held}); "
        f"--privacy private lists the {hidden:,} private and unlisted ones with the demo "
        "credentials demo/demo"
    )


def _fmt_counts(pairs: list[tuple[str, int]], limit: int) -> str:
    shown = ", ".join(f"{k} {v:,}" for k, v in pairs[:limit])
    return shown + (f", ... {len(pairs) - limit} more" if len(pairs) > limit else "")


def snapshot_summary(path: str | os.PathLike[str]) -> str:
    """One screen about a snapshot: folder, models per type, rows per table, fetch figures."""
    folder = Path(path)
    m = snap.Manifest.read(folder)
    meta, rows = m.meta, m.rows
    types: list[tuple[str, int]] = []
    if "models" in m.tables:
        counts = (
            pl.read_parquet(folder / "models.parquet", columns=["type"])
            .group_by("type")
            .len()
            .sort(["len", "type"], descending=[True, False])
        )
        types = [(t or "(none)", n) for t, n in counts.iter_rows()]
    query = " ".join(f"{k}={v}" for k, v in sorted(meta.query.items())) or "(defaults)"
    kind = f"incremental from {meta.incremental_from}" if m.incremental else "full"
    if m.incremental:
        fetched = (m.incremental_detail or {}).get("fetched_models", "?")
        kind += f", {fetched} updated model(s) fetched"
    lines = [
        f"snapshot  {folder}",
        f"source    {meta.base_url or '(unknown)'}  query: {query}  [{kind}]",
        f"models    {rows.get('models', 0):,} in {len(types)} types: {_fmt_counts(types, 6)}",
        "rows      " + _fmt_counts([(t, n) for t, n in rows.items() if t != "rejects"], 99),
        f"fetch     {meta.duration_s:.2f} s, {meta.pages:,} pages, "
        f"{meta.requests:,} requests, {meta.retries:,} retries",
        f"rejects   {rows.get('rejects', 0):,}"
        + ("  (see rejects.parquet)" if rows.get("rejects") else ""),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# diff
# ---------------------------------------------------------------------------------------------


def run_diff(args: argparse.Namespace) -> int:
    """Print the diff of two snapshots as text or JSON."""
    for p in (args.old, args.new):
        if not Path(p).exists():
            raise ValueError(f"no such snapshot: {p}")
    result = snap.diff(args.old, args.new)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(result.summary(limit=args.limit))
    return 0
