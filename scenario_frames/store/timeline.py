"""History: every snapshot under OUT at once, as lazy tables with a ``snapshot_at`` column.

``history`` scans each table across all snapshot folders without loading them, so questions
over time ("when did this model appear?") are one polars query; a damaged snapshot raises,
or is skipped and named with ``damaged="skip"``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .. import schema
from ..errors import SnapshotError

if TYPE_CHECKING:  # pragma: no cover
    pass

from .manifest import MANIFEST, TIME_FORMAT, Manifest, list_snapshots

log = logging.getLogger(__name__)

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
        tables = Manifest.parse((folder / MANIFEST).read_bytes()).tables
        with os.scandir(folder) as entries:
            sizes = {e.name: e.stat().st_size for e in entries if e.name.endswith(".parquet")}
    except ValueError as exc:
        return {}, f"its {MANIFEST} {exc}"
    except OSError as exc:
        return {}, f"it cannot be read ({exc.strerror or exc})"
    if not tables:
        return {}, f"its {MANIFEST} lists no tables"
    files: dict[str, Path] = {}
    for name, info in tables.items():
        file = str(info.get("file", f"{name}.parquet"))
        size = sizes.get(file)
        if size is None:
            return {}, f"{file} is listed in its manifest but missing"
        if info.get("bytes") is not None and size != info["bytes"]:
            return (
                {},
                f"{file} has {size:,} bytes, its manifest says {info['bytes']:,} (truncated or changed)",
            )
        files[name] = folder / file
    return files, None


def history(out: str | os.PathLike[str], *, damaged: str = "raise") -> dict[str, pl.LazyFrame]:
    """Every snapshot under ``out`` at once: a LazyFrame per table with ``snapshot_at``.

    Questions over time ("when did this model appear?", "how did its cost move?") become
    one polars query, and nothing is read until it is collected.  Each frame scans the
    ``OUT/snapshot_at=*/<table>.parquet`` files with hive partitioning, so ``snapshot_at``
    is the folder's value (a string that sorts in time order) and filters on it skip whole
    folders while filters on other columns are pushed into the parquet reader (row-group
    statistics).  ``snapshot_time`` is the same instant as a UTC Datetime.
    Columns a snapshot lacks read as null, so older snapshots stay readable.

    Only complete snapshots are read: folders without a ``manifest.json`` (a write in
    progress, or something that is not ours) are skipped.  A damaged snapshot (unreadable
    manifest, a listed file missing or of another size than recorded) raises ``SnapshotError``
    naming the folder and the problem, because a history silently missing a day gives wrong
    answers; pass ``damaged="skip"`` to leave such folders out with a warning instead.

    Parameters
    ----------
    out : str or os.PathLike
        The folder holding the snapshots.
    damaged : {"raise", "skip"}, default "raise"
        What to do with a damaged snapshot: raise, or leave it out with a logged warning.

    Returns
    -------
    dict of str to polars.LazyFrame
        One frame per table of ``schema.TABLE_ORDER``, each with the table's columns plus
        ``snapshot_at`` (String) and ``snapshot_time`` (Datetime UTC); empty frames when
        there is no snapshot.

    Raises
    ------
    SnapshotError
        A snapshot is damaged and ``damaged`` is ``"raise"``.
    ValueError
        ``damaged`` is neither ``"raise"`` nor ``"skip"``.

    See Also
    --------
    join_usage_asof : Usage joined with the catalog as it was at each point.

    Examples
    --------
    Two snapshots a day apart, with one model renamed in between:

    >>> import tempfile
    >>> from pathlib import Path
    >>> scratch = tempfile.TemporaryDirectory()
    >>> workdir = Path(scratch.name)
    >>> from datetime import UTC, datetime
    >>> import polars as pl
    >>> from scenario_frames import fetch_catalog, history, serve_demo, write_snapshot
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     for day in (1, 2):
    ...         catalog = fetch_catalog(**account, privacy="public", progress=False)
    ...         _ = write_snapshot(catalog, workdir, at=datetime(2026, 1, day, tzinfo=UTC))
    ...         demo.catalog.update([catalog.models["model_id"][0]], {"name": "Renamed"})
    >>> models = history(workdir)["models"]
    >>> models.group_by("snapshot_at").len().sort("snapshot_at").collect().rows()
    [('2026-01-01T00-00-00Z', 26), ('2026-01-02T00-00-00Z', 26)]
    >>> renamed = models.filter(pl.col("name") == "Renamed").select("snapshot_time")
    >>> renamed.collect().item()
    datetime.datetime(2026, 1, 2, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    >>> scratch.cleanup()
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
            snapshot_time=pl.col("snapshot_at")
            .str.slice(0, 20)
            .str.strptime(pl.Datetime("us", "UTC"), TIME_FORMAT, strict=False)
        )
    return frames


# ---------------------------------------------------------------------------------------------
