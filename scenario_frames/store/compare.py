"""Diff: what changed between two snapshots (or catalogs), model by model and field by field.

``diff`` compares every table by its natural key (``CHILD_KEYS`` for child tables) and
returns a ``CatalogDiff``: added, removed and changed models, with the old and new value of
each changed field, as tables and as short human lines.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import schema

if TYPE_CHECKING:  # pragma: no cover
    pass

from .manifest import _jsonable, snapshot_name
from .read import _resolve, read_tables

log = logging.getLogger(__name__)

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
            out += [
                f"{table}[{key}].{col}: {_short(v['old'])} -> {_short(v['new'])}"
                for col, v in cols.items()
            ]
    return out


def _keys_for(table: str, old: pl.DataFrame, new: pl.DataFrame) -> list[str]:
    """The per-model row key of a child table: its natural key when unique, else positions."""
    structural: list[str] = [
        c
        for c in ("parent_name", "position", "asset_position")
        if c in old.columns and c in new.columns
    ]
    natural: list[str] = [
        c for c in CHILD_KEYS.get(table, ()) if c in old.columns and c in new.columns
    ]
    for keys in (natural, structural):
        if not keys:
            continue
        cols = [schema.KEY, *keys]
        if not any(
            df.select(pl.struct(cols).is_duplicated().any()).item()
            for df in (old, new)
            if df.height
        ):
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


def _compare(
    table: str, old: pl.DataFrame, new: pl.DataFrame, details: dict[str, dict[str, Any]]
) -> None:
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
            t["changed"][label] = {
                c: {"old": row[c], "new": row[c + sfx]} for c in values if row[f"__chg_{c}"]
            }
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
    held = getattr(source, "tables", None)
    if held is None:
        raise TypeError(f"diff() takes Catalogs or snapshot paths, not {type(source).__name__}")
    when = getattr(getattr(source, "meta", None), "fetched_at", None)
    return dict(held), (f"catalog fetched {snapshot_name(when)}" if when else "catalog")


def diff(old: Any, new: Any) -> CatalogDiff:
    """Compare two catalogs (Catalog objects or snapshot folders): added, removed, changed models.

    A model counts as changed when any of its columns differs, or any of its rows in a child
    table (variants, inputs, capabilities, ...) was added, removed or changed; each change is
    listed as old -> new.  Rejects are not compared.  Child rows are matched by their
    natural key (``CHILD_KEYS``), so a reordered list is not a change.

    Parameters
    ----------
    old, new : Catalog or str or os.PathLike
        The two catalogs: ``Catalog`` objects, snapshot folders, or folders holding
        snapshots (their latest one is used).

    Returns
    -------
    CatalogDiff
        ``added``, ``removed`` and ``changed`` model ids (sorted), ``details`` per changed
        model and table, and ``summary()`` for a readable text.  It is false when nothing
        changed.

    Raises
    ------
    TypeError
        An argument is neither a catalog nor a path.
    SnapshotError
        A path holds no readable snapshot.

    Examples
    --------
    Fetch the demo, rename one model, remove another and add two, then fetch again:

    >>> from scenario_frames import diff, fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     before = fetch_catalog(**account, privacy="public", progress=False)
    ...     renamed, removed = before.models["model_id"][:2]
    ...     demo.catalog.update([renamed], {"name": "Renamed"})
    ...     demo.catalog.remove([removed])
    ...     _ = demo.catalog.add_models(2)
    ...     after = fetch_catalog(**account, privacy="public", progress=False)
    >>> changes = diff(before, after)
    >>> len(changes.added), changes.removed == [removed], changes.changed == [renamed]
    (1, True, True)
    >>> changes.details[renamed]["models"]["name"]["new"]
    'Renamed'
    >>> bool(diff(after, after))
    False
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
        added=sorted(new_ids - old_ids),
        removed=sorted(old_ids - new_ids),
        changed=sorted(details),
        details=details,
        old_label=old_label,
        new_label=new_label,
        old_models=len(old_ids),
        new_models=len(new_ids),
    )


# ---------------------------------------------------------------------------------------------
