"""Parquet snapshots of the catalog: written whole or not at all, read back, diffed, refreshed.

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
import math
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from ._exceptions import ScenarioFramesError
from ._version import __version__
from .query import SNAKE_NAMES, iso_utc, safe_base_url, to_utc  # noqa: F401  (safe_base_url: also public here)

if TYPE_CHECKING:  # pragma: no cover
    from .frames import Catalog

log = logging.getLogger(__name__)

PREFIX = "snapshot_at="
STAGING = ".staging"
MANIFEST = "manifest.json"
FORMAT = "scenario_frames.snapshot"
# Version of the snapshot layout and table schemas.  Bump it when a table or the manifest
# changes in a way readers must know about; the fingerprint below changes with any column.
SCHEMA_VERSION = 1
TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
STALE_FOREIGN_STAGING_S = 24 * 3600.0
_WRITE_THREADS = 4  # parquet files written at once (pyarrow compresses without the GIL)


class SnapshotError(ScenarioFramesError, ValueError):
    """A snapshot is missing, damaged (a sha256 mismatch) or cannot serve the request."""


# ---------------------------------------------------------------------------------------------
# Names and listing
# ---------------------------------------------------------------------------------------------


def schema_fingerprint() -> str:
    """A short hash of every table's columns and dtypes, so readers can tell schemas apart."""
    h = hashlib.sha256()
    for name in schema.TABLE_ORDER:
        for c in schema.TABLES[name].columns:
            h.update(f"{name}.{c.name}:{c.dtype}\n".encode())
    return h.hexdigest()[:16]


def snapshot_name(at: datetime) -> str:
    """The partition value for a time: ``2026-11-26T22-58-03Z`` (UTC, whole seconds)."""
    return to_utc(at).strftime(TIME_FORMAT)


def parse_snapshot_at(name: str | os.PathLike[str]) -> datetime:
    """The UTC time a snapshot folder name (with or without ``snapshot_at=`` and suffix) stands for."""
    text = Path(name).name
    text = text.removeprefix(PREFIX)
    try:
        return datetime.strptime(text[:20], TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SnapshotError(f"{name!s} is not a snapshot name like {PREFIX}2026-11-26T22-58-03Z") from None


def list_snapshots(out: str | os.PathLike[str]) -> list[Path]:
    """Complete snapshot folders under OUT, oldest first (names sort in time order)."""
    root = Path(out)
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file()),
        key=lambda p: p.name,
    )


def latest_snapshot(out: str | os.PathLike[str]) -> Path | None:
    """The newest complete snapshot folder under OUT, or None when there is none."""
    snaps = list_snapshots(out)
    return snaps[-1] if snaps else None


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a snapshot folder, as a dict."""
    p = Path(path) / MANIFEST
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{path!s} is not a snapshot: it has no {MANIFEST}") from None
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{p}: manifest is not valid JSON ({exc})") from None


# ---------------------------------------------------------------------------------------------
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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _arrow_table(name: str, df: pl.DataFrame) -> pa.Table:
    """The frame as Arrow with the data dictionary in field and schema metadata."""
    table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    spec = schema.TABLES.get(name)
    cols = {c.name: c for c in spec.columns} if spec else {}
    new_fields = []
    for f in table.schema:
        col = cols.get(f.name)
        meta = {b"description": col.description.encode(), b"source": col.source.encode()} if col else {}
        new_fields.append(f.with_metadata(meta) if meta else f)
    meta = {
        b"scenario_frames.table": name.encode(),
        b"scenario_frames.version": __version__.encode(),
        b"scenario_frames.schema_version": str(SCHEMA_VERSION).encode(),
    }
    if spec:
        meta[b"description"] = spec.description.encode()
    return pa.Table.from_arrays(table.columns, schema=pa.schema(new_fields, metadata=meta))


def _write_parquet(name: str, df: pl.DataFrame, path: Path) -> None:
    pq.write_table(
        _arrow_table(name, df), path, compression="zstd", write_statistics=True,
        row_group_size=128 * 1024,
    )


def _write_one(name: str, df: pl.DataFrame, folder: Path) -> dict[str, Any]:
    """Write one table into ``folder``, fsync it, and describe it for the manifest."""
    path = folder / f"{name}.parquet"
    _write_parquet(name, df, path)
    digest, size = _sha256_and_sync(path)
    return {"file": path.name, "rows": df.height, "columns": df.width, "bytes": size,
            "sha256": digest}


def _write_tables(tables: Mapping[str, pl.DataFrame], folder: Path) -> dict[str, dict[str, Any]]:
    """Write every table (an empty ``rejects`` is skipped) into ``folder``, several at once.

    Arrow's parquet writer, the hashing and fsync all release the GIL, so a few threads
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


def _meta_value(meta: object, name: str, default: Any = None) -> Any:
    return getattr(meta, name, default) if meta is not None else default


def _table_order(tables: Mapping[str, pl.DataFrame]) -> list[str]:
    names = [t for t in schema.TABLE_ORDER if t in tables]
    return names + sorted(t for t in tables if t not in schema.TABLE_ORDER)


def write_snapshot(
    catalog: Catalog,
    out: str | os.PathLike[str],
    *,
    at: datetime | None = None,
    incremental: Mapping[str, Any] | None = None,
) -> Path:
    """Write the catalog as a new snapshot folder under OUT atomically; returns its path.

    ``at`` names the folder (default: the catalog's ``meta.fetched_at``, else now).
    ``incremental`` (set by ``refresh_incremental``) records where a merged snapshot came
    from.  Existing snapshots are never modified; a name already taken gets a ``-NNN`` suffix.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    clean_staging(root)
    meta = getattr(catalog, "meta", None)
    fetched_at = to_utc(_meta_value(meta, "fetched_at") or datetime.now(UTC))
    base = snapshot_name(at if at is not None else fetched_at)

    staging_root = root / STAGING
    staging = staging_root / f"{os.getpid()}.{secrets.token_hex(4)}.{socket.gethostname()}"
    staging.mkdir(parents=True)  # parents: another writer may just have removed an empty .staging
    try:
        tables = catalog.tables
        rows = {name: tables[name].height for name in _table_order(tables)}
        files = _write_tables(tables, staging)
        inc = dict(incremental) if incremental else None
        incremental_from = (inc or {}).get("from") or _meta_value(meta, "incremental_from")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "schema_fingerprint": schema_fingerprint(),
            "scenario_frames_version": __version__,
            "snapshot_at": None,  # filled with the final folder name below
            "fetched_at": fetched_at.isoformat().replace("+00:00", "Z"),
            "written_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "base_url": safe_base_url(_meta_value(meta, "base_url")),
            "query": dict(_meta_value(meta, "query") or {}),
            "rows": rows,
            "pages": _meta_value(meta, "pages", 0),
            "requests": _meta_value(meta, "requests", 0),
            "retries": _meta_value(meta, "retries", 0),
            "duplicates": _meta_value(meta, "duplicates", 0),
            # records decoded on the fast route (typed read only) and on the exact one
            "records_fast": _meta_value(meta, "records_fast", 0),
            "records_exact": _meta_value(meta, "records_exact", 0),
            "duration_s": round(float(_meta_value(meta, "duration_s", 0.0) or 0.0), 6),
            "incremental": inc is not None or bool(incremental_from),
            "incremental_from": incremental_from,
            "incremental_detail": inc,
            "tables": files,
        }

        for attempt in range(1000):
            name = PREFIX + base + (f"-{attempt:03d}" if attempt else "")
            target = root / name
            if target.exists():
                continue
            manifest["snapshot_at"] = name.removeprefix(PREFIX)
            mpath = staging / MANIFEST
            with open(mpath, "w", encoding="utf-8") as fh:
                json.dump(_jsonable(manifest), fh, indent=2, default=str)
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
# Reading
# ---------------------------------------------------------------------------------------------


def _resolve(path: str | os.PathLike[str]) -> Path:
    """A snapshot folder; OUT itself stands for its latest snapshot."""
    p = Path(path)
    if (p / MANIFEST).is_file():
        return p
    latest = latest_snapshot(p)
    if latest is None:
        raise SnapshotError(_no_snapshot_message(p))
    return latest


def _no_snapshot_message(p: Path) -> str:
    """Why ``p`` holds no readable snapshot, naming the missing file or folder."""
    if not p.exists():
        return f"no snapshot at {p}: the folder does not exist"
    if not p.is_dir():
        return f"no snapshot at {p}: it is a file, not a snapshot folder"
    if p.name.startswith(PREFIX):
        return (f"{p / MANIFEST} is missing: a snapshot folder is complete only with its manifest "
                "(this one was copied in part or edited by hand)")
    partial = sorted(q.name for q in p.iterdir() if q.name.startswith(PREFIX) and q.is_dir())
    if partial:
        return (f"no complete snapshot under {p}: {MANIFEST} is missing from {partial[-1]}"
                + (f" and {len(partial) - 1} other {PREFIX}... folder(s)" if len(partial) > 1 else ""))
    return (f"no snapshot at {p}: it has no {MANIFEST} and no {PREFIX}... folders holding one")


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema.TABLES[name].schema)


def read_tables(path: str | os.PathLike[str], *, verify: bool = True,
                tables: Iterable[str] | None = None) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The tables and manifest of one snapshot; ``verify`` checks each file's sha256 first."""
    folder = _resolve(path)
    manifest = read_manifest(folder)
    wanted = set(tables) if tables is not None else None
    out: dict[str, pl.DataFrame] = {}
    for name, info in manifest.get("tables", {}).items():
        if wanted is not None and name not in wanted:
            continue
        fpath = folder / info["file"]
        if not fpath.is_file():
            raise SnapshotError(f"{fpath} is listed in the manifest but missing")
        if verify:
            digest = sha256_file(fpath)
            if digest != info.get("sha256"):
                raise SnapshotError(f"{fpath} does not match its manifest sha256 (the file changed or is damaged)")
        out[name] = pl.read_parquet(fpath)
    for name in schema.TABLE_ORDER:
        if name not in out and (wanted is None or name in wanted):
            out[name] = _empty(name)
    return out, manifest


def meta_from_manifest(manifest: Mapping[str, Any]) -> Any:
    """A ``CatalogMeta`` rebuilt from a manifest (only the fields CatalogMeta declares)."""
    from .frames import CatalogMeta

    values = {
        "fetched_at": to_utc(manifest["fetched_at"]) if manifest.get("fetched_at") else None,
        "query": dict(manifest.get("query") or {}),
        "base_url": manifest.get("base_url"),
        "pages": int(manifest.get("pages") or 0),
        "requests": int(manifest.get("requests") or 0),
        "retries": int(manifest.get("retries") or 0),
        "duration_s": float(manifest.get("duration_s") or 0.0),
        "duplicates": int(manifest.get("duplicates") or 0),
        "records_fast": int(manifest.get("records_fast") or 0),
        "records_exact": int(manifest.get("records_exact") or 0),
        "incremental_from": manifest.get("incremental_from"),
    }
    known = {f.name for f in fields(CatalogMeta)}
    return CatalogMeta(**{k: v for k, v in values.items() if k in known})


def read_snapshot(path: str | os.PathLike[str], *, verify: bool = True) -> Catalog:
    """The Catalog stored in a snapshot folder (or the latest one under OUT).

    With ``verify`` (the default) every file's sha256 is checked against the manifest first,
    so a damaged or edited file raises ``SnapshotError`` instead of giving wrong answers.
    """
    from .frames import Catalog

    tables, manifest = read_tables(path, verify=verify)
    return Catalog.from_tables(tables, meta_from_manifest(manifest))


# ---------------------------------------------------------------------------------------------
# History: every snapshot at once, lazily
# ---------------------------------------------------------------------------------------------


def _snapshot_tables(folder: Path) -> tuple[dict[str, Path], str | None]:
    """The table files of a snapshot folder, and why it cannot be read (None when it looks whole).

    Cheap checks only, since ``history`` runs them on every folder: the manifest parses, and
    every table file it lists is there with the size the manifest recorded (one directory
    scan per folder, no file opened).  A file damaged without changing size is caught by
    ``read_snapshot``'s sha256 check, or by the parquet reader when the history is collected.
    """
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())  # orjson: a year of manifests adds up
        with os.scandir(folder) as entries:
            sizes = {e.name: e.stat().st_size for e in entries if e.name.endswith(".parquet")}
    except orjson.JSONDecodeError as exc:
        return {}, f"its {MANIFEST} is not valid JSON ({exc})"
    except OSError as exc:
        return {}, f"it cannot be read ({exc.strerror or exc})"
    tables = manifest.get("tables") if isinstance(manifest, dict) else None
    if not isinstance(tables, dict):
        return {}, "its manifest lists no tables"
    files: dict[str, Path] = {}
    for name, info in tables.items():
        file = str((info or {}).get("file", f"{name}.parquet"))
        size = sizes.get(file)
        if size is None:
            return {}, f"{file} is listed in its manifest but missing"
        if info.get("bytes") is not None and size != info["bytes"]:
            return {}, f"{file} has {size:,} bytes, its manifest says {info['bytes']:,} (truncated or changed)"
        files[name] = folder / file
    return files, None


def history(out: str | os.PathLike[str], *, damaged: str = "raise") -> dict[str, pl.LazyFrame]:
    """A LazyFrame per table over every snapshot under OUT, with ``snapshot_at`` (and ``snapshot_time``).

    Each frame scans the ``OUT/snapshot_at=*/<table>.parquet`` files with hive partitioning,
    so ``snapshot_at`` is the folder's value (a string that sorts in time order) and filters
    on it skip whole folders while filters on other columns are pushed into the parquet
    reader (row-group statistics).  ``snapshot_time`` is the same instant as a UTC Datetime.
    Columns a snapshot lacks read as null, so older snapshots stay readable.

    Only complete snapshots are read: folders without a ``manifest.json`` (a write in
    progress, or something that is not ours) are skipped.  A damaged snapshot (unreadable
    manifest, a listed file missing or of another size than recorded) raises ``SnapshotError``
    naming the folder and the problem, because a history silently missing a day gives wrong
    answers; pass ``damaged="skip"`` to leave such folders out with a warning instead.
    """
    if damaged not in ("raise", "skip"):
        raise ValueError(f"damaged must be 'raise' or 'skip', not {damaged!r}")
    root = Path(out)
    readable: list[dict[str, Path]] = []
    for folder in list_snapshots(root):
        files, problem = _snapshot_tables(folder)
        if problem is None:
            readable.append(files)
        elif damaged == "skip":
            log.warning("history: skipping damaged snapshot %s: %s", folder, problem)
        else:
            raise SnapshotError(
                f"snapshot {folder} cannot be read: {problem}. Move it aside, or pass "
                "damaged='skip' to history() to leave it out"
            )
    frames: dict[str, pl.LazyFrame] = {}
    for name in schema.TABLE_ORDER:
        spec_schema = schema.TABLES[name].schema
        paths = [str(f[name]) for f in readable if name in f]
        if paths:
            lf = pl.scan_parquet(
                paths,
                hive_partitioning=True,
                hive_schema={"snapshot_at": pl.String},
                schema=spec_schema,
                missing_columns="insert",
                extra_columns="ignore",
                glob=False,
            )
        else:
            lf = pl.LazyFrame(schema={**dict(spec_schema), "snapshot_at": pl.String})
        frames[name] = lf.with_columns(
            snapshot_time=pl.col("snapshot_at").str.slice(0, 20).str.strptime(
                pl.Datetime("us", "UTC"), TIME_FORMAT, strict=False)
        )
    return frames


# ---------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------

# Natural key of each child table's rows within one model (used when unique; else position).
CHILD_KEYS: dict[str, tuple[str, ...]] = {
    "capabilities": ("capability",),
    "tags": ("tag",),
    "collections": ("collection_id",),
    "example_assets": ("asset_id",),
    "variants": ("variant_key",),
    "inputs": ("parent_name", "name"),
    "concepts": ("concept_model_id",),
    "epochs": ("epoch", "asset_position"),
    "training_images": ("image_id",),
    "training_image_pairs": ("position",),
}
DIFF_TABLES = tuple(t for t in schema.TABLE_ORDER if t != "rejects")


def _jsonable(value: Any) -> Any:
    """A value as plain JSON (datetimes as ISO text, NaN and infinities as text)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pl.Series):
        return [_jsonable(v) for v in value.to_list()]
    return value


@dataclass
class CatalogDiff:
    """What changed between two catalogs, by model id.

    ``details[model_id][table]`` holds, for ``models``, ``{column: {"old", "new"}}``; for a
    child table ``{"added": [row keys], "removed": [row keys], "changed": {row key: {column:
    {"old", "new"}}}}``, row keys being the row's natural key (e.g. a variant's key).
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    old_label: str = "old"
    new_label: str = "new"
    old_models: int = 0
    new_models: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with keys ``added``, ``removed``, ``changed`` and ``details``."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "details": _jsonable(self.details),
        }

    def summary(self, *, limit: int = 20) -> str:
        """A readable text summary: counts, then ids, then each changed model's changes."""
        lines = [
            f"diff {self.old_label} -> {self.new_label}: {len(self.added)} added, "
            f"{len(self.removed)} removed, {len(self.changed)} changed "
            f"({self.old_models} -> {self.new_models} models)"
        ]
        if not self:
            lines.append("no differences")
            return "\n".join(lines)

        def ids(title: str, values: list[str]) -> None:
            if not values:
                return
            shown = ", ".join(values[:limit])
            more = f", ... and {len(values) - limit} more" if len(values) > limit else ""
            lines.append(f"{title} ({len(values)}): {shown}{more}")

        ids("added", self.added)
        ids("removed", self.removed)
        if self.changed:
            lines.append(f"changed ({len(self.changed)}):")
        for mid in self.changed[:limit]:
            lines.append(f"  {mid}")
            changes = _change_lines(self.details.get(mid, {}))
            lines.extend(f"    {change}" for change in changes[:8])
            extra = len(changes) - 8
            if extra > 0:
                lines.append(f"    ... and {extra} more change(s)")
        if len(self.changed) > limit:
            lines.append(f"  ... and {len(self.changed) - limit} more changed model(s)")
        return "\n".join(lines)


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(_jsonable(value), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _change_lines(detail: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for table, d in detail.items():
        if table == "models":
            out += [f"{col}: {_short(v['old'])} -> {_short(v['new'])}" for col, v in d.items()]
            continue
        out += [f"{table} + {k}" for k in d.get("added", [])]
        out += [f"{table} - {k}" for k in d.get("removed", [])]
        for key, cols in d.get("changed", {}).items():
            out += [f"{table}[{key}].{col}: {_short(v['old'])} -> {_short(v['new'])}" for col, v in cols.items()]
    return out


def _keys_for(table: str, old: pl.DataFrame, new: pl.DataFrame) -> list[str]:
    """The per-model row key of a child table: its natural key when unique, else positions."""
    structural = [c for c in ("parent_name", "position", "asset_position") if c in old.columns and c in new.columns]
    natural = [c for c in CHILD_KEYS.get(table, ()) if c in old.columns and c in new.columns]
    for keys in (natural, structural):
        if not keys:
            continue
        cols = [schema.KEY, *keys]
        if not any(df.select(pl.struct(cols).is_duplicated().any()).item() for df in (old, new) if df.height):
            return keys
    return structural or natural


def _label(keys: list[str], row: Mapping[str, Any]) -> str:
    parts = []
    for k in keys:
        v = row.get(k)
        if v is None:
            continue
        parts.append(f"#{v}" if k in ("position", "asset_position") else str(v))
    return "/".join(parts) or "#"


def _compare(table: str, old: pl.DataFrame, new: pl.DataFrame, details: dict[str, dict[str, Any]]) -> None:
    """Record in ``details`` every difference of one table between models present in both."""
    key = schema.KEY
    is_models = table == "models"
    keys = [] if is_models else _keys_for(table, old, new)
    on = [key, *keys]
    values = [c for c in old.columns if c in new.columns and c not in on]
    sfx = "__new"
    o = old.select([*on, *values]).with_columns(pl.lit(True).alias("__o"))
    n = new.select([*on, *values]).with_columns(pl.lit(True).alias("__n"))
    joined = o.join(n, on=on, how="full", nulls_equal=True, coalesce=True, suffix=sfx)
    # Change flags next to the values, then keep only rows with some difference.
    flag_frame = joined.select(
        *on,
        pl.col("__o").is_null().alias("__added"),
        pl.col("__n").is_null().alias("__removed"),
        *[pl.col(c).ne_missing(pl.col(c + sfx)).alias(f"__chg_{c}") for c in values],
        *[pl.col(c) for c in values],
        *[pl.col(c + sfx) for c in values],
    )
    any_change = pl.col("__added") | pl.col("__removed")
    for c in values:
        any_change = any_change | pl.col(f"__chg_{c}")
    hits = flag_frame.filter(any_change)
    if hits.height == 0:
        return
    for row in hits.iter_rows(named=True):
        mid = row[key]
        entry = details.setdefault(mid, {})
        if is_models:
            cols = entry.setdefault("models", {})
            for c in values:
                if row[f"__chg_{c}"]:
                    cols[c] = {"old": row[c], "new": row[c + sfx]}
            continue
        t = entry.setdefault(table, {"added": [], "removed": [], "changed": {}})
        label = _label(keys, row)
        if row["__added"]:
            t["added"].append(label)
        elif row["__removed"]:
            t["removed"].append(label)
        else:
            t["changed"][label] = {c: {"old": row[c], "new": row[c + sfx]} for c in values if row[f"__chg_{c}"]}
    if not is_models:  # keep only the kinds of change that happened
        for mid in set(hits[key].to_list()):
            t = details[mid][table]
            for k in ("added", "removed", "changed"):
                if not t[k]:
                    del t[k]


def _as_tables(source: Any) -> tuple[dict[str, pl.DataFrame], str]:
    if isinstance(source, str | os.PathLike):
        folder = _resolve(source)
        tables, _ = read_tables(folder, tables=DIFF_TABLES)
        return tables, folder.name
    tables = getattr(source, "tables", None)
    if tables is None:
        raise TypeError(f"diff() takes Catalogs or snapshot paths, not {type(source).__name__}")
    meta = getattr(source, "meta", None)
    when = _meta_value(meta, "fetched_at")
    return dict(tables), (f"catalog fetched {snapshot_name(when)}" if when else "catalog")


def diff(old: Any, new: Any) -> CatalogDiff:
    """Compare two catalogs (Catalog objects or snapshot folders): added, removed, changed models.

    A model counts as changed when any of its columns differs, or any of its rows in a child
    table (variants, inputs, capabilities, ...) was added, removed or changed; each change is
    listed as old -> new.  Rejects are not compared.
    """
    a, old_label = _as_tables(old)
    b, new_label = _as_tables(new)
    key = schema.KEY
    old_ids = set(a["models"][key].to_list())
    new_ids = set(b["models"][key].to_list())
    common = pl.Series(key, sorted(old_ids & new_ids), dtype=pl.String)
    details: dict[str, dict[str, Any]] = {}
    for table in DIFF_TABLES:
        if table not in a or table not in b:
            continue
        ta = a[table].filter(pl.col(key).is_in(common.implode()))
        tb = b[table].filter(pl.col(key).is_in(common.implode()))
        _compare(table, ta, tb, details)
    details = {k: v for k, v in sorted(details.items()) if v}
    return CatalogDiff(
        added=sorted(new_ids - old_ids), removed=sorted(old_ids - new_ids), changed=sorted(details),
        details=details, old_label=old_label, new_label=new_label,
        old_models=len(old_ids), new_models=len(new_ids),
    )


# ---------------------------------------------------------------------------------------------
# Incremental refresh
# ---------------------------------------------------------------------------------------------

# Query parameters an incremental fetch sets itself, or cannot carry over.
_INCREMENTAL_OWN = ("sortBy", "sortDirection", "updatedAfter", "pageSize", "paginationToken")
_INCREMENTAL_BLOCKERS = ("createdAfter", "createdBefore", "updatedBefore")


def incremental_query(manifest: Mapping[str, Any], updated_after: datetime) -> dict[str, str]:
    """The API-named query that lists what changed since a snapshot, keeping its filters.

    Raises ``SnapshotError`` when the snapshot's listing cannot be refreshed this way: the
    API offers ``updatedAfter`` only on public listings sorted by updatedAt, and a date
    window of the original query cannot be combined with that sort.
    """
    query = dict(manifest.get("query") or {})
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


def merge_incremental(previous: Mapping[str, pl.DataFrame], update: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Previous tables with every row of the updated models replaced by the update's rows.

    Models in ``update`` (and records it rejected) lose all their old rows in every table,
    then the update's rows are appended; a model that lost a variant loses it here too.
    """
    key = schema.KEY
    ids = pl.concat([
        update["models"][key],
        update.get("rejects", _empty("rejects"))[key].drop_nulls(),
    ]).unique()
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
    from .frames import Catalog

    root = Path(out)
    prev_path = latest_snapshot(root)
    if prev_path is None:
        raise SnapshotError(f"no snapshot under {root} to refresh; take a full snapshot first")
    prev_tables, manifest = read_tables(prev_path)
    newest = prev_tables["models"]["updated_at"].max() if prev_tables["models"].height else None
    if newest is None:
        raise SnapshotError(f"{prev_path.name} holds no models with updated_at; take a full snapshot first")
    overlap = float(manifest.get("duration_s") or 0.0) + 1.0 if overlap_s is None else float(overlap_s)
    watermark = to_utc(newest) - timedelta(seconds=overlap)
    api_query = incremental_query(manifest, watermark)
    update = fetch(**_snake_query(api_query))
    merged = merge_incremental(prev_tables, update.tables)
    # The merged snapshot answers the previous (full) query; the fetch figures are this run's.
    meta = dataclasses.replace(update.meta, query=dict(manifest.get("query") or {}),
                               incremental_from=prev_path.name)
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
