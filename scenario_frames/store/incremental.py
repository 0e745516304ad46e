"""Incremental refresh: fetch only what changed since the latest snapshot, write a full new one.

``incremental_query`` turns the latest manifest's query into one sorted by ``updatedAt`` from
just before that snapshot; ``merge_incremental`` lays the updated models over the previous
tables; ``refresh_incremental`` does both and writes the result as a complete snapshot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import schema
from ..errors import SnapshotError
from ..listing.query import SNAKE_NAMES, iso_utc, to_utc

if TYPE_CHECKING:  # pragma: no cover
    from ..tables.catalog import Catalog

from .manifest import Manifest, _jsonable, _table_order, latest_snapshot
from .read import _empty, read_tables
from .write import write_snapshot

log = logging.getLogger(__name__)

# Incremental refresh
# ---------------------------------------------------------------------------------------------

# Query parameters an incremental fetch sets itself, or cannot carry over.
_INCREMENTAL_OWN = ("sortBy", "sortDirection", "updatedAfter", "pageSize", "paginationToken")
_INCREMENTAL_BLOCKERS = ("createdAfter", "createdBefore", "updatedBefore")


def incremental_query(
    manifest: Manifest | Mapping[str, Any], updated_after: datetime
) -> dict[str, str]:
    """The API-named query that lists what changed since a snapshot, keeping its filters.

    ``manifest`` is the snapshot's ``Manifest``, or its JSON form (``read_manifest``).

    Raises ``SnapshotError`` when the snapshot's listing cannot be refreshed this way: the
    API offers ``updatedAfter`` only on public listings sorted by updatedAt, and a date
    window of the original query cannot be combined with that sort.
    """
    if not isinstance(manifest, Manifest):
        manifest = Manifest.from_json(manifest)
    query = dict(manifest.meta.query)
    if query.get("privacy") != "public":
        raise SnapshotError(
            "incremental refresh needs a snapshot of a public listing (privacy=public): the API "
            "offers updatedAfter only there; take a full snapshot instead"
        )
    blockers = [k for k in _INCREMENTAL_BLOCKERS if k in query]
    if blockers:
        raise SnapshotError(
            f"the latest snapshot's query uses {', '.join(blockers)}, which an updatedAt-sorted "
            "listing cannot repeat; take a full snapshot instead"
        )
    q = {k: v for k, v in query.items() if k not in _INCREMENTAL_OWN}
    q.update(privacy="public", sortBy="updatedAt", updatedAfter=iso_utc(updated_after))
    return q


def _snake_query(api_query: Mapping[str, str]) -> dict[str, str]:
    return {SNAKE_NAMES.get(k, schema.snake(k)): v for k, v in api_query.items()}


def merge_incremental(
    previous: Mapping[str, pl.DataFrame], update: Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Previous tables with every row of the updated models replaced by the update's rows.

    Models in ``update`` (and records it rejected) lose all their old rows in every table,
    then the update's rows are appended; a model that lost a variant loses it here too.
    """
    key = schema.KEY
    ids = pl.concat(
        [
            update["models"][key],
            update.get("rejects", _empty("rejects"))[key].drop_nulls(),
        ]
    ).unique()
    keep = ~pl.col(key).is_in(ids.implode()) | pl.col(key).is_null()
    merged: dict[str, pl.DataFrame] = {}
    for name in _table_order({**previous, **update}):
        fallback = _empty(name) if name in schema.TABLES else None
        old, new = previous.get(name, fallback), update.get(name, fallback)
        frames = [f for f in (None if old is None else old.filter(keep), new) if f is not None]
        merged[name] = pl.concat(frames, how="diagonal_relaxed")
    return merged


def refresh_incremental(
    out: str | os.PathLike[str],
    fetch: Callable[..., Catalog],
    *,
    overlap_s: float | None = None,
    at: datetime | None = None,
) -> Path:
    """Fetch only models updated since the latest snapshot and write a new full snapshot.

    ``fetch(**query)`` gets snake_case query arguments (``privacy="public"``,
    ``sort_by="updatedAt"``, ``updated_after=...`` plus the previous snapshot's own filters)
    and returns a Catalog.  The watermark is the newest ``updated_at`` of the latest snapshot
    minus ``overlap_s`` (default: that snapshot's fetch duration plus one second), because a
    model updated while the previous fetch was running may have been read before its change;
    models fetched twice are simply replaced.  Removed models stay in the merged snapshot:
    only a full snapshot sees removals.
    """
    from ..tables.catalog import Catalog

    root = Path(out)
    prev_path = latest_snapshot(root)
    if prev_path is None:
        raise SnapshotError(f"no snapshot under {root} to refresh; take a full snapshot first")
    prev_tables, manifest = read_tables(prev_path)
    newest = prev_tables["models"]["updated_at"].max() if prev_tables["models"].height else None
    if not isinstance(newest, datetime):  # None when no model has an updated_at
        raise SnapshotError(
            f"{prev_path.name} holds no models with updated_at; take a full snapshot first"
        )
    overlap = manifest.meta.duration_s + 1.0 if overlap_s is None else float(overlap_s)
    watermark = to_utc(newest) - timedelta(seconds=overlap)
    api_query = incremental_query(manifest, watermark)
    update = fetch(**_snake_query(api_query))
    merged = merge_incremental(prev_tables, update.tables)
    # The merged snapshot answers the previous (full) query; the fetch figures are this run's.
    meta = dataclasses.replace(
        update.meta, query=dict(manifest.meta.query), incremental_from=prev_path.name
    )
    catalog = Catalog.from_tables(merged, meta)
    detail = {
        "from": prev_path.name,
        "updated_after": api_query["updatedAfter"],
        "newest_updated_at": _jsonable(to_utc(newest)),
        "overlap_s": overlap,
        "fetched_models": update.tables["models"].height,
        "query": api_query,
    }
    return write_snapshot(catalog, root, at=at, incremental=detail)
