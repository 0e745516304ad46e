"""Where snapshots live and what their manifest says: folder names, the manifest file, the schema fingerprint.

Every reader and writer of the store agrees on these names: ``snapshot_at=...`` folders
under OUT (``PREFIX``, ``snapshot_name``, ``parse_snapshot_at``, ``list_snapshots``,
``latest_snapshot``), the ``manifest.json`` beside the parquet files (``read_manifest``), and
how a ``CatalogMeta`` is rebuilt from a manifest (``meta_from_manifest``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import schema
from ..errors import SnapshotError
from ..listing.query import to_utc

if TYPE_CHECKING:  # pragma: no cover
    pass

log = logging.getLogger(__name__)


PREFIX = "snapshot_at="
STAGING = ".staging"
MANIFEST = "manifest.json"
FORMAT = "scenario_frames.snapshot"
# Version of the snapshot layout and table schemas.  Bump it when a table or the manifest
# changes in a way readers must know about; the fingerprint below changes with any column.
SCHEMA_VERSION = 1
TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
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
        raise SnapshotError(
            f"{name!s} is not a snapshot name like {PREFIX}2026-11-26T22-58-03Z"
        ) from None


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
    """Find the newest complete snapshot folder under ``out``.

    A folder counts once its manifest is written (the last step of ``write_snapshot``), so a
    write in progress or an interrupted one is never picked.

    Parameters
    ----------
    out : str or os.PathLike
        The folder holding the snapshots.

    Returns
    -------
    pathlib.Path or None
        The newest snapshot folder (names sort in time order), or None when there is none
        (or ``out`` does not exist).

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
    >>> from scenario_frames import latest_snapshot, write_snapshot
    >>> print(latest_snapshot(workdir))
    None
    >>> for day in (3, 1, 2):
    ...     _ = write_snapshot(catalog, workdir, at=datetime(2026, 1, day, tzinfo=UTC))
    >>> latest_snapshot(workdir).name
    'snapshot_at=2026-01-03T00-00-00Z'
    >>> scratch.cleanup()
    """
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
def _meta_value(meta: object, name: str, default: Any = None) -> Any:
    return getattr(meta, name, default) if meta is not None else default


def meta_from_manifest(manifest: Mapping[str, Any]) -> Any:
    """A ``CatalogMeta`` rebuilt from a manifest (only the fields CatalogMeta declares)."""
    from ..tables.catalog import CatalogMeta

    values: dict[str, Any] = {  # JSON values, checked by the conversions below
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
