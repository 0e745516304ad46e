"""Writing a parquet snapshot of the catalog: whole or not at all.

Layout (a data contract that users script against; keep it stable)::

    OUT/
      snapshot_at=2026-11-26T22-58-03Z/        one folder per snapshot, named by fetch time (UTC)
        manifest.json                          what the snapshot holds, with a sha256 per file
        models.parquet  capabilities.parquet  tags.parquet  collections.parquet
        variants.parquet  inputs.parquet  concepts.parquet  epochs.parquet
        training_images.parquet  training_image_pairs.parquet  example_assets.parquet
        rejects.parquet                        only when some records could not be read
      snapshot_at=2026-11-26T22-58-03Z-001/    a second snapshot taken in the same second
      .staging/                                work in progress; never matches snapshot_at=*

Folder names are ``snapshot_at=YYYY-MM-DDTHH-MM-SSZ`` (hyphens instead of colons so the name
is legal on every file system), with a three-digit ``-NNN`` suffix when that second is
already taken.  The names sort as plain strings in time order, and any hive-aware engine
(polars, DuckDB, pyarrow, Spark) reads ``OUT/snapshot_at=*/models.parquet`` with a
``snapshot_at`` string column.

Why the writing is careful: a snapshot that is half there is worse than none, because a
later diff or history query would silently read a truncated table.  Each snapshot is written
into ``OUT/.staging/<pid>.<token>.<host>/``; every file and the folder are fsynced, then the
folder is renamed to its ``snapshot_at=`` name in one atomic step.  A crash at any moment
leaves either the complete folder or none; old snapshots are never opened for writing, and a
staging folder left by a dead writer is removed by the next write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from .. import schema
from .._version import __version__
from ..errors import SnapshotError

if TYPE_CHECKING:  # pragma: no cover
    from ..tables.catalog import Catalog

from .manifest import (
    MANIFEST,
    PREFIX,
    SCHEMA_VERSION,
    STAGING,
    Manifest,
    _table_order,
    snapshot_name,
)

log = logging.getLogger(__name__)

STALE_FOREIGN_STAGING_S = 24 * 3600.0
_WRITE_THREADS = 4  # parquet files written at once (pyarrow compresses without the GIL)
# Writing
# ---------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_and_sync(path: Path) -> tuple[str, int]:
    """Hash a file we just wrote and fsync it through the same descriptor."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        os.fsync(fh.fileno())
    return h.hexdigest(), size


def _arrow_schema(name: str, df: pl.DataFrame) -> pa.Schema:
    """The frame's Arrow schema with the data dictionary in each field's metadata.

    Types are those of Arrow's oldest layout polars writes (``large_string``, ``large_list``),
    so every reader of parquet, old or new, reads the files.
    """
    arrow = df.head(0).to_arrow(compat_level=pl.CompatLevel.oldest()).schema
    spec = schema.TABLES.get(name)
    cols = {c.name: c for c in spec.columns} if spec else {}
    fields = []
    for f in arrow:
        col = cols.get(f.name)
        if col is not None:
            f = f.with_metadata(
                {b"description": col.description.encode(), b"source": col.source.encode()}
            )
        fields.append(f)
    return pa.schema(fields)


def _file_metadata(name: str) -> dict[str, str]:
    """What the file says about itself: its table, the package and schema versions, and the
    table's description (parquet key-value metadata)."""
    meta = {
        "scenario_frames.table": name,
        "scenario_frames.version": __version__,
        "scenario_frames.schema_version": str(SCHEMA_VERSION),
    }
    spec = schema.TABLES.get(name)
    if spec:
        meta["description"] = spec.description
    return meta


def _write_parquet(name: str, df: pl.DataFrame, path: Path) -> None:
    # polars' own writer: no conversion to Arrow first, and it encodes columns in parallel
    # (models of 10,000 drift records: 17 ms instead of 35 ms through pyarrow, measured).
    df.write_parquet(
        path,
        compression="zstd",
        statistics=True,
        row_group_size=128 * 1024,
        arrow_schema=_arrow_schema(name, df),
        metadata=_file_metadata(name),
    )


def _write_one(name: str, df: pl.DataFrame, folder: Path) -> dict[str, Any]:
    """Write one table into ``folder``, fsync it, and describe it for the manifest."""
    path = folder / f"{name}.parquet"
    _write_parquet(name, df, path)
    digest, size = _sha256_and_sync(path)
    return {
        "file": path.name,
        "rows": df.height,
        "columns": df.width,
        "bytes": size,
        "sha256": digest,
    }


def _write_tables(tables: Mapping[str, pl.DataFrame], folder: Path) -> dict[str, dict[str, Any]]:
    """Write every table (an empty ``rejects`` is skipped) into ``folder``, several at once.

    polars' parquet writer, the hashing and fsync all release the GIL, so a few threads
    overlap the files' compression and disk waits.  Every file is complete, hashed and
    fsynced before this returns; on an error the remaining writes still finish (the pool
    is joined) before it is raised, so the caller can remove the staging folder safely.
    The result keeps the table order, whatever order the writes finish in.
    """
    names = [n for n in _table_order(tables) if not (n == "rejects" and tables[n].height == 0)]
    if len(names) <= 1:
        return {n: _write_one(n, tables[n], folder) for n in names}
    workers = min(len(names), _WRITE_THREADS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot-write") as pool:
        futures = {n: pool.submit(_write_one, n, tables[n], folder) for n in names}
        return {n: futures[n].result() for n in names}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_staging(out: str | os.PathLike[str]) -> list[Path]:
    """Remove staging folders whose writer is gone; returns what was removed.

    A folder made on this host is stale when its process id no longer runs; one from another
    host (a shared file system) when it is older than a day.  Live writers are left alone.
    """
    root = Path(out) / STAGING
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    host = socket.gethostname()
    for entry in root.iterdir():
        pid_s, _, rest = entry.name.partition(".")
        _, _, their_host = rest.partition(".")
        try:
            pid = int(pid_s)
        except ValueError:
            pid = -1
        if their_host == host and pid > 0:
            stale = not _pid_alive(pid)
        else:
            try:
                stale = time.time() - entry.stat().st_mtime > STALE_FOREIGN_STAGING_S
            except FileNotFoundError:
                continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.info("removed %d stale staging folder(s) under %s", len(removed), root)
    _drop_empty_staging(root.parent)
    return removed


def check_writable(out: str | os.PathLike[str]) -> Path:
    """Make sure snapshots can be written under OUT, before anything is fetched; returns it.

    OUT is created when missing, but only inside an existing folder: a missing parent is
    more often an unmounted or mistyped filesystem than a wish to create a tree.  A probe
    file is then written, synced and removed in ``OUT/.staging``, which is where a snapshot
    is written first.  Raises ``SnapshotError`` naming the path and the problem.
    """
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise SnapshotError(f"cannot write snapshots to {root}: it exists and is not a folder")
    if not root.exists():
        parent = root.absolute().parent
        if not parent.is_dir():
            raise SnapshotError(
                f"cannot write snapshots to {root}: its parent folder {parent} does not exist "
                "(a missing or unmounted filesystem?); create it first"
            )
    probe = root / STAGING / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        root.mkdir(exist_ok=True)
        probe.parent.mkdir(exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"probe")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise SnapshotError(f"cannot write snapshots to {root}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return root


def write_snapshot(
    catalog: Catalog,
    out: str | os.PathLike[str],
    *,
    at: datetime | None = None,
    incremental: Mapping[str, Any] | None = None,
) -> Path:
    """Write the catalog as a new snapshot folder under ``out``, atomically.

    Each table becomes a parquet file, next to a ``manifest.json`` (``Manifest.from_catalog``) that records the sha256
    of every file, the row counts, the query and where the data came from (the base URL
    without credentials).  The folder is assembled in a staging area and renamed into place
    in one step, so a reader never sees half a snapshot and a crash leaves nothing behind.
    Existing snapshots are never modified; a name already taken gets a ``-NNN`` suffix.

    Parameters
    ----------
    catalog : Catalog
        The catalog to keep.
    out : str or os.PathLike
        The folder holding the snapshots (created when missing).
    at : datetime, optional
        The time that names the folder (``snapshot_at=2026-11-26T22-58-03Z``, UTC, whole
        seconds); default the catalog's ``meta.fetched_at``, else now.
    incremental : mapping, optional
        Set by ``refresh_incremental``: records where a merged snapshot came from.

    Returns
    -------
    pathlib.Path
        The new snapshot folder.

    Raises
    ------
    SnapshotError
        No free name was left for ``at`` (a thousand snapshots in one second).
    OSError
        The folder cannot be written.

    See Also
    --------
    read_snapshot : Read a snapshot back, verified.
    history : Every snapshot under ``out`` at once.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> from datetime import UTC, datetime
    >>> from scenario_frames import write_snapshot
    >>> folder = write_snapshot(catalog, workdir, at=datetime(2026, 1, 5, tzinfo=UTC))
    >>> folder.name
    'snapshot_at=2026-01-05T00-00-00Z'
    >>> sorted(p.name for p in folder.iterdir())[:3]
    ['capabilities.parquet', 'collections.parquet', 'concepts.parquet']
    >>> write_snapshot(catalog, workdir, at=datetime(2026, 1, 5, tzinfo=UTC)).name
    'snapshot_at=2026-01-05T00-00-00Z-001'
    >>> scratch.cleanup()
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    clean_staging(root)

    staging_root = root / STAGING
    staging = staging_root / f"{os.getpid()}.{secrets.token_hex(4)}.{socket.gethostname()}"
    staging.mkdir(parents=True)  # parents: another writer may just have removed an empty .staging
    try:
        files = _write_tables(catalog.tables, staging)
        manifest = Manifest.from_catalog(catalog, files, incremental=incremental)
        base = snapshot_name(at if at is not None else manifest.meta.fetched_at)

        for attempt in range(1000):
            name = PREFIX + base + (f"-{attempt:03d}" if attempt else "")
            target = root / name
            if target.exists():
                continue
            named = dataclasses.replace(manifest, snapshot_at=name.removeprefix(PREFIX))
            mpath = staging / MANIFEST
            with open(mpath, "w", encoding="utf-8") as fh:
                json.dump(named.to_json(), fh, indent=2, default=str)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(staging)
            try:
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another writer took the name between our check and rename
                raise
            _fsync_dir(root)
            _drop_empty_staging(root)
            log.info("wrote snapshot %s", target)
            return target
        raise SnapshotError(f"no free snapshot name for {base} under {root}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _drop_empty_staging(root)
        raise


def _drop_empty_staging(root: Path) -> None:
    """Remove ``OUT/.staging`` once nothing is in progress there (rmdir fails while it holds
    another writer's folder, which then stays untouched)."""
    with contextlib.suppress(OSError):
        (root / STAGING).rmdir()
        _fsync_dir(root)


# ---------------------------------------------------------------------------------------------
