"""Reading a snapshot back: its tables checked against the manifest's sha256, or a whole ``Catalog``.

``read_tables`` gives the tables of one snapshot folder (or the latest under OUT), each file
verified against the digest the manifest recorded, so a damaged file is an error and never a
silently truncated table; ``read_snapshot`` wraps them in a ``Catalog`` with its meta.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .. import schema
from ..errors import SnapshotError
from ..files import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from ..tables.catalog import Catalog

from .manifest import MANIFEST, PREFIX, Manifest, latest_snapshot

log = logging.getLogger(__name__)

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
        return (
            f"{p / MANIFEST} is missing: a snapshot folder is complete only with its manifest "
            "(this one was copied in part or edited by hand)"
        )
    partial = sorted(q.name for q in p.iterdir() if q.name.startswith(PREFIX) and q.is_dir())
    if partial:
        return f"no complete snapshot under {p}: {MANIFEST} is missing from {partial[-1]}" + (
            f" and {len(partial) - 1} other {PREFIX}... folder(s)" if len(partial) > 1 else ""
        )
    return f"no snapshot at {p}: it has no {MANIFEST} and no {PREFIX}... folders holding one"


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema.TABLES[name].schema)


def read_tables(
    path: str | os.PathLike[str], *, verify: bool = True, tables: Iterable[str] | None = None
) -> tuple[dict[str, pl.DataFrame], Manifest]:
    """The tables and manifest of one snapshot; ``verify`` checks each file's sha256 first."""
    folder = _resolve(path)
    manifest = Manifest.read(folder)
    wanted = set(tables) if tables is not None else None
    out: dict[str, pl.DataFrame] = {}
    for name, info in manifest.tables.items():
        if wanted is not None and name not in wanted:
            continue
        fpath = folder / info["file"]
        if not fpath.is_file():
            raise SnapshotError(f"{fpath} is listed in the manifest but missing")
        if verify:
            digest = sha256_file(fpath)
            if digest != info.get("sha256"):
                raise SnapshotError(
                    f"{fpath} does not match its manifest sha256 (the file changed or is damaged)"
                )
        out[name] = pl.read_parquet(fpath)
    for name in schema.TABLE_ORDER:
        if name not in out and (wanted is None or name in wanted):
            out[name] = _empty(name)
    return out, manifest


def read_snapshot(path: str | os.PathLike[str], *, verify: bool = True) -> Catalog:
    """Read the Catalog stored in a snapshot folder (or the latest one under a folder).

    With ``verify`` (the default) every file's sha256 is checked against the manifest first,
    so a damaged or edited file raises ``SnapshotError`` instead of giving wrong answers.
    Tables written by an older release come back complete (see ``Catalog.from_tables``).

    Parameters
    ----------
    path : str or os.PathLike
        A snapshot folder, or the folder holding the snapshots (then the latest one is read).
    verify : bool, default True
        Check every file against its sha256 in the manifest before reading it.

    Returns
    -------
    Catalog
        The tables, with ``meta`` rebuilt from the manifest.

    Raises
    ------
    SnapshotError
        There is no snapshot at ``path``, its manifest is unreadable, or a file is missing
        or does not match its sha256.

    See Also
    --------
    write_snapshot : Write a snapshot.
    latest_snapshot : The newest snapshot folder under a folder.

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
    >>> from scenario_frames import read_snapshot, write_snapshot
    >>> folder = write_snapshot(catalog, workdir)
    >>> back = read_snapshot(folder)
    >>> back.counts == catalog.counts, back.models.equals(catalog.models)
    (True, True)
    >>> read_snapshot(workdir).meta.query
    {'privacy': 'public'}
    >>> scratch.cleanup()
    """
    from ..tables.catalog import Catalog

    tables, manifest = read_tables(path, verify=verify)
    return Catalog.from_tables(tables, manifest.meta)


# ---------------------------------------------------------------------------------------------
