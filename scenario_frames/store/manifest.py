"""Where snapshots live and what their manifest says: folder names, the manifest, the schema fingerprint.

Every reader and writer of the store agrees on these names: ``snapshot_at=...`` folders
under OUT (``PREFIX``, ``snapshot_name``, ``parse_snapshot_at``, ``list_snapshots``,
``latest_snapshot``) and the ``manifest.json`` beside the parquet files.  ``Manifest`` is the
one definition of that file: ``write`` builds it with ``Manifest.from_catalog`` and writes
``to_json()``; every reader (``read``, ``incremental``, ``timeline``, the CLI's summary) gets
it from ``Manifest.read``.  Its catalog part is a ``CatalogMeta`` (with the fetch's
``FetchStats`` fields), turned to JSON and back by its own fields, so a field added there is
written and read without a line here.  Keys a newer version wrote are kept as they are, and
a manifest from an older version, without the newer fields, reads with their defaults.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from .. import schema
from .._version import __version__
from ..errors import SnapshotError
from ..listing.query import to_utc
from ..urls import safe_base_url

if TYPE_CHECKING:  # pragma: no cover
    from ..tables.catalog import Catalog, CatalogMeta

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


# The manifest
# ---------------------------------------------------------------------------------------------

# Top-level keys the manifest owns beside the catalog's meta (``CatalogMeta``'s fields).
_HEADER = ("format", "schema_version", "schema_fingerprint", "scenario_frames_version")
_OWN = (
    *_HEADER,
    "snapshot_at",
    "written_at",
    "rows",
    "incremental",
    "incremental_detail",
    "tables",
)


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What a snapshot folder holds, as written to and read from its ``manifest.json``.

    ``meta`` is the catalog's metadata (when, what, where from, what the fetch cost);
    ``rows`` the rows per table; ``tables`` per table file its name, rows, columns, bytes
    and sha256; ``incremental_detail`` where a merged incremental snapshot came from.  The
    header (``format`` ... ``scenario_frames_version``) says which writer made it, and is
    None when an older one left a key out.  ``other`` keeps the keys this version does not
    know, so ``Manifest.from_json(d).to_json()`` gives ``d`` back.
    """

    meta: CatalogMeta
    rows: dict[str, int] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshot_at: str | None = None  # the folder name without its ``snapshot_at=`` prefix
    written_at: datetime | None = None
    incremental_detail: dict[str, Any] | None = None
    format: str | None = None
    schema_version: int | None = None
    schema_fingerprint: str | None = None
    scenario_frames_version: str | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        """Whether the snapshot was merged from an incremental refresh."""
        return self.incremental_detail is not None or bool(self.meta.incremental_from)

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        files: Mapping[str, Mapping[str, Any]],
        *,
        incremental: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """The manifest of a snapshot of ``catalog`` whose table files are ``files``, not yet
        named (``snapshot_at`` is set once the folder has its name).

        The meta is taken as the catalog has it, made fit to be written: ``fetched_at`` in
        UTC, the base URL without credentials, the duration rounded to microseconds, and
        ``incremental_from`` taken from ``incremental["from"]`` when given.  A catalog-like
        object without a ``CatalogMeta`` (tables wrapped by hand) gets what its ``meta``
        offers of the fields, and defaults (fetched now) for the rest.
        """
        meta = _catalog_meta(getattr(catalog, "meta", None))
        detail = dict(incremental) if incremental else None
        meta = dataclasses.replace(
            meta,
            fetched_at=to_utc(meta.fetched_at),
            base_url=safe_base_url(meta.base_url),
            query=dict(meta.query),
            duration_s=round(float(meta.duration_s), 6),
            incremental_from=(detail or {}).get("from") or meta.incremental_from,
        )
        tables = catalog.tables
        return cls(
            meta=meta,
            rows={name: tables[name].height for name in _table_order(tables)},
            tables={name: dict(info) for name, info in files.items()},
            written_at=datetime.now(UTC),
            incremental_detail=detail,
            format=FORMAT,
            schema_version=SCHEMA_VERSION,
            schema_fingerprint=schema_fingerprint(),
            scenario_frames_version=__version__,
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest as plain JSON values, in the file's key order.

        Every ``CatalogMeta`` field is written under its own name (datetimes as ISO text
        ending in ``Z``), then the keys kept in ``other``.
        """
        meta = {f.name: getattr(self.meta, f.name) for f in dataclasses.fields(self.meta)}
        head: dict[str, Any] = {name: getattr(self, name) for name in _HEADER}
        head |= {
            "snapshot_at": self.snapshot_at,
            "fetched_at": meta.pop("fetched_at"),
            "written_at": self.written_at,
            "base_url": meta.pop("base_url"),
            "query": meta.pop("query"),
            "rows": self.rows,
        }
        tail = {
            "incremental": self.incremental,
            "incremental_from": meta.pop("incremental_from"),
            "incremental_detail": self.incremental_detail,
            "tables": self.tables,
        }
        known = {**head, **meta, **tail}
        return _jsonable(known | {k: v for k, v in self.other.items() if k not in known})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        """The inverse of ``to_json``, for manifests of any version.

        Missing keys take their defaults (an older writer's manifest), unknown ones land in
        ``other``.  A manifest without ``fetched_at`` is dated by its ``snapshot_at``.
        Raises ``ValueError`` when a value has the wrong type.
        """
        from ..tables.catalog import CatalogMeta

        values = dict(data)
        if not values.get("fetched_at") and values.get("snapshot_at"):
            values["fetched_at"] = parse_snapshot_at(str(values["snapshot_at"]))
        meta = CatalogMeta.from_dict(values)
        if meta.base_url is not None:  # written without credentials; read that way too
            meta = dataclasses.replace(meta, base_url=safe_base_url(str(meta.base_url)))
        rows, tables = values.get("rows") or {}, values.get("tables") or {}
        detail = values.get("incremental_detail")
        if not isinstance(rows, dict) or not isinstance(tables, dict):
            raise ValueError("rows and tables must be JSON objects")
        if not all(isinstance(info, dict) for info in tables.values()):
            raise ValueError("every entry of tables must be a JSON object")
        if detail is not None and not isinstance(detail, dict):
            raise ValueError("incremental_detail must be a JSON object")
        written = values.get("written_at")
        version = values.get("schema_version")
        known = {f.name for f in dataclasses.fields(CatalogMeta)} | set(_OWN)
        return cls(
            meta=meta,
            rows=dict(rows),
            tables={str(name): dict(info) for name, info in tables.items()},
            snapshot_at=values.get("snapshot_at"),
            written_at=to_utc(written) if written else None,
            incremental_detail=detail,
            format=values.get("format"),
            schema_version=None if version is None else int(version),
            schema_fingerprint=values.get("schema_fingerprint"),
            scenario_frames_version=values.get("scenario_frames_version"),
            other={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        """A manifest from the bytes of its file (parsed with orjson: ``history`` reads every
        manifest under OUT, and a year of them adds up).

        Raises ``ValueError`` whose message completes "the manifest ...": it is not valid
        JSON, not an object, or a value has the wrong type.
        """
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("is not a JSON object")
        try:
            return cls.from_json(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot be read: {exc}") from None

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> Manifest:
        """The manifest of a snapshot folder; ``SnapshotError`` when it is missing or unreadable."""
        p = Path(folder) / MANIFEST
        try:
            return cls.parse(p.read_bytes())
        except FileNotFoundError:
            raise SnapshotError(f"{folder!s} is not a snapshot: it has no {MANIFEST}") from None
        except ValueError as exc:
            raise SnapshotError(f"{p} {exc}") from None


def _catalog_meta(meta: object) -> CatalogMeta:
    """``meta`` as a ``CatalogMeta``: itself when it is one, else the fields it has."""
    from ..tables.catalog import CatalogMeta

    if isinstance(meta, CatalogMeta):
        return meta
    names = [f.name for f in dataclasses.fields(CatalogMeta)]
    return CatalogMeta.from_dict({n: getattr(meta, n) for n in names if hasattr(meta, n)})


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a snapshot folder as its JSON dict (``Manifest.read`` gives it typed).

    Read through ``Manifest``, so an older manifest comes with the newer keys at their
    defaults and a newer one keeps the keys this version does not know.
    """
    return Manifest.read(path).to_json()


def _table_order(tables: Mapping[str, Any]) -> list[str]:
    """Table names in schema order, then any others sorted (how the store lists tables)."""
    names = [t for t in schema.TABLE_ORDER if t in tables]
    return names + sorted(t for t in tables if t not in schema.TABLE_ORDER)


# ---------------------------------------------------------------------------------------------
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
