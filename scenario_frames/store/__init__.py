"""The store: parquet snapshots of the catalog on disk, read back, followed over time, diffed, refreshed.

``write`` writes a snapshot whole or not at all; ``manifest`` holds the names every part
agrees on (folders, manifest file, schema fingerprint); ``read`` reads a snapshot back,
verified; ``timeline`` gives every snapshot's tables at once (``history``); ``compare`` diffs
two snapshots; ``incremental`` refreshes from the latest one.  The public names of all of
them are importable from here (``scenario_frames.store.write_snapshot`` ...).
"""

from __future__ import annotations

from ..errors import SnapshotError
from .compare import (
    CHILD_KEYS,
    DIFF_TABLES,
    CatalogDiff,
    diff,
)
from .incremental import (
    incremental_query,
    merge_incremental,
    refresh_incremental,
)
from .manifest import (
    FORMAT,
    MANIFEST,
    PREFIX,
    SCHEMA_VERSION,
    STAGING,
    TIME_FORMAT,
    Manifest,
    latest_snapshot,
    list_snapshots,
    parse_snapshot_at,
    read_manifest,
    schema_fingerprint,
    snapshot_name,
)
from .read import (
    read_snapshot,
    read_tables,
)
from .timeline import (
    history,
)
from .write import (
    STALE_FOREIGN_STAGING_S,
    check_writable,
    clean_staging,
    write_snapshot,
)

__all__ = [
    "CatalogDiff",
    "check_writable",
    "CHILD_KEYS",
    "clean_staging",
    "diff",
    "DIFF_TABLES",
    "FORMAT",
    "history",
    "incremental_query",
    "latest_snapshot",
    "list_snapshots",
    "MANIFEST",
    "Manifest",
    "merge_incremental",
    "parse_snapshot_at",
    "PREFIX",
    "read_manifest",
    "read_snapshot",
    "read_tables",
    "refresh_incremental",
    "schema_fingerprint",
    "SCHEMA_VERSION",
    "snapshot_name",
    "SnapshotError",
    "STAGING",
    "STALE_FOREIGN_STAGING_S",
    "TIME_FORMAT",
    "write_snapshot",
]
