"""The catalog as typed, tidy polars tables: ``Catalog`` and its ``CatalogMeta``.

``Catalog.from_json_pages`` turns raw ``GET /models`` bodies into one table per name of
``schema.TABLE_ORDER``: ``models`` (one row per model, nested objects flattened by path),
child tables keyed by ``model_id`` and a position, and ``rejects`` (records that could not be
read, kept whole with the reason).  Every column, dtype and JSON source comes from
``schema.TABLES``; how the bytes become Arrow arrays is in ``materialize`` (one route per
record), and why most records need no Python objects at all is in ``decode``.

Rules worth knowing:

* Unknown fields are never dropped: each table (but the plain string-list ones) has an
  ``extra`` column with the JSON text of the keys the schema does not know, shaped like the
  record (``{"deletedAt": ..., "trainingProgress": {"retryCount": 2}}``), null when none.  In
  ``epochs`` an epoch's unknown keys repeat on each of its asset rows and an asset's own
  unknown keys sit under ``"assets"``.
* Enum-like fields are plain strings: unknown values are kept as they come.
* A record is refused (``rejects``) when it is not an object, has no string id, or holds a
  value of a JSON type its column cannot take (see ``materialize`` for the coercions).
  Missing fields and ``null`` are fine.  A bad record never costs the rest of its page.
* Identity is exact: a record is a model only with a non-empty string ``id``; any other
  record is a reject with the reason.  Every record sent ends in exactly one place: ``models``
  (once per id), ``rejects``, or counted in ``meta.duplicates`` (the policy, which copy wins,
  lives in ``_stack`` and nowhere else).
* ``meta.records_fast`` / ``meta.records_exact`` count the records decoded on the fast route
  (no Python objects) and on the exact route (see ``decode`` and ``materialize``).
* ``inputs`` rows are keyed by ``(model_id, parent_name, position)``: top-level inputs have a
  null ``parent_name``; members of an ``inputs_array`` input carry its name and their
  position within it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema as S
from ..fetch_stats import FetchStats
from ..urls import safe_base_url
from . import materialize as M

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["Catalog", "CatalogMeta"]


def _list_lengths(chunk: pa.Array) -> np.ndarray:
    """Item counts of a list array as numpy, 0 for null lists.

    Reads the lengths' buffer directly: ``fill_null``/``to_numpy`` would convert Python values
    through pyarrow's pandas shim, which imports pandas (~0.1 s) on every command-line run
    where pandas happens to be installed.
    """
    lengths = pc.list_value_length(chunk)
    width = np.dtype(f"int{lengths.type.bit_width}")
    if len(lengths) == 0:
        return np.zeros(0, dtype=width)
    out = np.frombuffer(lengths.buffers()[1], dtype=width)[
        lengths.offset : lengths.offset + len(lengths)
    ].copy()
    if lengths.null_count:
        out[pc.indices_nonzero(pc.is_null(lengths)).to_pylist()] = 0  # undefined under a null
    return out


@dataclass(frozen=True, kw_only=True)
class CatalogMeta(FetchStats):
    """How and when a catalog was obtained (filled by the fetcher; defaults for local data).

    The fetch's figures (pages, requests, retries, duration, duplicates, records per
    decoding route ...) are the inherited ``FetchStats`` fields, declared once there; this
    adds when (``fetched_at``, UTC), what (``query``, API names), where from (``base_url``)
    and, for a merged incremental snapshot, which snapshot it refreshed.  Every field has a
    default, so a catalog built from local pages or records reads zero for what is unknown.
    It is frozen: ``dataclasses.replace`` makes a changed copy.

    Parameters
    ----------
    requests : int, default 0
        HTTP exchanges sent, retries, probes and redirects included.
    retries : int, default 0
        The requests that repeated a failed one.
    pages : int, default 0
        Listing pages kept.
    body_bytes : int, default 0
        The size of the kept page bodies, as the server sent them.
    models : int, default 0
        The records in the kept pages, a model listed twice counted twice.
    duration_s : float, default 0.0
        Wall-clock seconds the listing took.
    partitioned : bool, default False
        Whether the listing ran as ``createdAt`` windows shared by several workers.
    workers : int, default 1
        The workers that listed (1 for a sequential listing).
    partitions : int, default 1
        The ``createdAt`` windows, after every split.
    mode_reason : str, default ""
        Why the listing ran sequentially, or ``"partitioned"``.
    resumed : bool, default False
        Whether some pages came from the checkpoint of an earlier run.
    duplicates : int, default 0
        Extra copies of a model id that the table builder dropped.
    records_fast : int, default 0
        Records decoded on the fast route (a typed read only).
    records_exact : int, default 0
        Records decoded on the exact route (walked in Python).
    fetched_at : datetime, optional
        When the listing started, timezone-aware in UTC; by default the moment the object
        is made.
    query : dict of str to str, default {}
        The query string of the listing, with the API's parameter names.
    base_url : str, optional
        The base URL the catalog was listed from; None for local data.
    incremental_from : str, optional
        For a merged incremental snapshot, the name of the snapshot it refreshed.

    See Also
    --------
    Catalog.meta : Where a catalog keeps its ``CatalogMeta``.

    Examples
    --------
    >>> from scenario_frames import CatalogMeta, fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     catalog = fetch_catalog(
    ...         base_url=demo.base_url,
    ...         api_key="demo",
    ...         api_secret="demo",
    ...         privacy="public",
    ...         progress=False,
    ...     )
    >>> meta = catalog.meta
    >>> meta.query, meta.pages, meta.models, meta.duplicates
    ({'privacy': 'public'}, 1, 26, 0)
    >>> meta.base_url == demo.base_url, str(meta.fetched_at.tzinfo)
    (True, 'UTC')
    >>> meta.records_fast + meta.records_exact == meta.models
    True
    >>> CatalogMeta.from_dict(meta.to_dict()) == meta
    True

    A catalog built from local data has the defaults:

    >>> CatalogMeta().pages, CatalogMeta().base_url
    (0, None)
    """

    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    query: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    incremental_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``fetched_at`` as ISO 8601 text)."""
        d = super().to_dict()
        d["fetched_at"] = self.fetched_at.isoformat()
        d["query"] = dict(self.query)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Inverse of ``to_dict``; unknown keys are ignored and missing ones take their
        default, so old and new files both load.  ``fetched_at`` may be ISO text or a
        datetime; a naive one is taken as UTC, any other offset converted to UTC."""
        values = dict(d)
        at = values.get("fetched_at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError:
                raise ValueError(f"fetched_at must be ISO 8601 text, not {at!r}") from None
        if isinstance(at, datetime):
            values["fetched_at"] = (
                at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            )
        values["query"] = dict(values.get("query") or {})
        return super().from_dict(values)


# ---------------------------------------------------------------------------------------------
# Schema-derived expressions
# ---------------------------------------------------------------------------------------------


def _field_expr(base: pl.Expr, path: tuple[str, ...]) -> pl.Expr:
    for key in path:
        base = base.struct.field(key)
    return base


def _list_nodes(
    nodes: tuple[S.Node, ...], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], S.ListOf]]:
    for node in nodes:
        if isinstance(node, S.Obj):
            yield from _list_nodes(node.fields, path + (node.key,))
        elif isinstance(node, S.ListOf):
            yield path + (node.key,), node


_LISTS: dict[str, tuple[tuple[str, ...], S.ListOf]] = {
    node.table: (path, node) for path, node in _list_nodes(S.MODEL.fields)
}
_STRING_LISTS = S.STRING_LIST_TABLES
_EMPTY_DF = {name: pl.DataFrame(schema=S.TABLES[name].schema) for name in S.TABLE_ORDER}


def _typed_expr(col: S.Column, base: pl.Expr) -> pl.Expr:
    expr = _field_expr(base, col.path)
    if col.field is not None and col.field.kind == "epoch_ms":
        expr = expr.cast(pl.Datetime("ms", "UTC"))
    return expr.alias(col.name)


def _conform(df: pl.LazyFrame, table: str) -> pl.LazyFrame:
    """Columns in schema order with schema dtypes (cheap when already right), plus the
    private record id ``_rid`` that the final assembly drops."""
    spec = S.TABLES[table]
    return df.select(pl.col("_rid"), *[pl.col(c.name).cast(c.dtype) for c in spec.columns])


def _json_col(path: tuple[str, ...], level_json: tuple) -> int:
    for i, (p, _key) in enumerate(level_json):
        if p == path:
            return i
    raise KeyError(path)


def _extra_frame(
    rows: dict[tuple, dict], keys: list[str], key_types: list[pl.DataType]
) -> pl.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in keys]  # owners by key
    data = {k: pl.Series(k, c, dtype=t) for k, c, t in zip(keys, cols, key_types, strict=True)}
    data["extra"] = pl.Series("extra", [M.dumps(extra) for extra in rows.values()], pl.String)
    return pl.DataFrame(data)


_KEY_TYPES = {"_rid": pl.Int64(), "position": pl.Int32(), "asset_position": pl.Int32()}


def _join_extra(
    df: pl.LazyFrame, extras: dict[tuple, dict] | None, keys: list[str]
) -> pl.LazyFrame:
    if not extras:
        return df.with_columns(extra=pl.lit(None, pl.String))
    side = _extra_frame(extras, keys, [_KEY_TYPES[k] for k in keys])
    return df.join(side.lazy(), on=keys, how="left", nulls_equal=True, maintain_order="left")


def _epoch_extras(ex: dict[tuple, dict], counts: dict[tuple[int, int], int]) -> dict[tuple, dict]:
    """Spread epoch-level unknown keys over the epoch's asset rows; add the assets' own."""
    epoch_level = {o: d for o, d in ex.items() if len(o) == 2}
    asset_level = {o: d for o, d in ex.items() if len(o) == 3}
    rows: dict[tuple, dict] = {}
    for (rid, pos), d in epoch_level.items():
        n = counts.get((rid, pos), 0)
        for apos in range(n) if n else (None,):
            merged = dict(d)
            own = asset_level.pop((rid, pos, apos), None)
            if own:
                merged.update(own)
            rows[(rid, pos, apos)] = merged
    rows.update(asset_level)
    return rows


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------


# Records turned into tables together: the Arrow arrays of a batch are released (polars has
# copied what it keeps) before the next batch is read, which bounds the peak memory.
BATCH_RECORDS = 10_000


def _assemble(outs: Iterable[M.PageOut]) -> tuple[dict[str, pl.DataFrame], FetchStats]:
    """Derive every table from page outputs.  Returns (tables, stats).

    ``stats`` holds the pages read and the counts the builder owns (duplicates dropped,
    records per decoding route); ``meta.with_decoded(stats)`` puts them into a meta.

    Pages are turned into tables in batches of about ``BATCH_RECORDS`` records, so the
    Arrow arrays of a batch are released (where polars copied them) before the next batch
    is read; the batches are then stacked and duplicates removed (``_stack``).
    """
    batch: list[M.PageOut] = []
    n_batch = 0
    batches: list[dict[str, pl.DataFrame]] = []
    rejects: list[tuple] = []
    pages = fast = exact = 0
    within = 0  # copies dropped inside a batch

    def flush() -> None:
        nonlocal within
        with M.GC_PAUSE:
            tables, dropped = _without_rid(_batch_tables(batch))
        batches.append(tables)
        within += dropped
        batch.clear()

    for out in outs:  # each page arrives with its inputs read
        pages += 1
        fast += out.fast_records
        exact += out.exact_records
        rejects.extend(out.rejects)
        if out.models is not None and len(out.models):
            batch.append(out)
            n_batch += len(out.models)
            if n_batch >= BATCH_RECORDS:
                flush()
                n_batch = 0
    if batch:
        flush()
    tables, duplicates = _stack(batches, rejects)
    stats = FetchStats(
        pages=pages, duplicates=within + duplicates, records_fast=fast, records_exact=exact
    )
    log.debug(
        "decoded %d record(s) on the fast route and %d on the exact route in %d page(s); "
        "%d duplicate copy(ies) dropped",
        stats.records_fast,
        stats.records_exact,
        stats.pages,
        stats.duplicates,
    )
    return tables, stats


def _without_rid(tables: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], int]:
    """A batch's tables without the private record id ``_rid``, and the copies dropped.

    Of several records with the same id in one batch, the last in page order is kept and its
    child rows with it (the record id tells the copies' child rows apart, which the model id
    cannot).  Then ``_rid`` goes: the batch holds each model id once, so from here on the
    model id alone says which rows belong to a record (``_stack``), and 8 bytes per row of
    every table are not carried while the other batches are read (about 19 MiB at the peak
    for 100,000 drift models).
    """
    models = tables["models"]
    dropped = 0
    if models[S.KEY].n_unique() < models.height:
        kept = models.filter(pl.col(S.KEY).is_last_distinct())
        dropped = models.height - kept.height
        rids = kept.select("_rid")
        tables = {
            name: kept
            if name == "models"
            else df.join(rids, on="_rid", how="semi", maintain_order="left")
            for name, df in tables.items()
        }
    return {name: df.drop("_rid") for name, df in tables.items()}, dropped


def _stack(
    batches: list[dict[str, pl.DataFrame]], rejects: list[tuple]
) -> tuple[dict[str, pl.DataFrame], int]:
    """Stack per-batch tables (in page order) into the final ones.  Returns (tables, duplicates).

    Here, with ``_without_rid`` inside each batch, is the one de-duplication of the package:
    **of several records with the same id, the last one in page order wins** (the copy on the
    later page, or later on the same page), because pages are stacked in listing order and a
    model that changes while it is listed shows its newer state on the later page; the other
    copies are counted as duplicates.  Ids are non-empty strings by then (any other record is
    a reject), compared exactly.  Child rows follow their record: a batch holds each id once,
    so an earlier batch's copy is dropped with every row of that batch carrying its id.
    ``batches`` is emptied on the way so they can be freed as soon as they are stacked.
    """
    rejects = sorted(
        rejects, key=lambda r: (-1 if r[0] is None else r[0], -1 if r[1] is None else r[1])
    )
    tables: dict[str, pl.DataFrame] = {
        "rejects": pl.DataFrame(
            {name: [r[i] for r in rejects] for i, name in enumerate(S.TABLES["rejects"].schema)},
            schema=S.TABLES["rejects"].schema,
        )
    }
    if not batches:
        return {name: tables.get(name, _EMPTY_DF[name]) for name in S.TABLE_ORDER}, 0
    duplicates = 0
    if len(batches) > 1:
        ids = pl.concat([b["models"][S.KEY] for b in batches], rechunk=False)
        if ids.n_unique() < len(ids):
            keep = ids.is_last_distinct()
            at = 0
            for b in batches:
                n = b["models"].height
                gone = b["models"][S.KEY].filter(~keep.slice(at, n))
                at += n
                if len(gone):
                    duplicates += len(gone)
                    for name, df in b.items():
                        b[name] = df.filter(~pl.col(S.KEY).is_in(gone.implode()))
    for name in S.TABLE_ORDER[:-1]:
        dfs = [b[name] for b in batches if name in b]
        if not dfs:
            tables[name] = _EMPTY_DF[name]
        else:
            tables[name] = pl.concat(dfs, rechunk=False) if len(dfs) > 1 else dfs[0]
    batches.clear()
    return {name: tables[name] for name in S.TABLE_ORDER}, duplicates


class _Leaves:
    """Leaf arrays of struct arrays by JSON path, parents' nulls applied (cached per level).

    Only leaves travel to polars: importing a whole struct would tie every buffer of a
    page to any column taken from it, while a leaf keeps only its own buffers.  A leaf is
    handed out once (``get`` forgets it unless told to ``keep`` it) and a struct is
    forgotten once its level is flattened, and the struct arrays given are not kept: so
    each Arrow buffer is released as soon as the column built from it is in polars, and a
    batch's Arrow arrays and its polars columns are not all alive at once.
    """

    def __init__(self, chunks: list[pa.StructArray]) -> None:
        self._levels: dict[tuple[str, ...], list[dict[str, pa.Array]]] = {
            (): [dict(zip(c.type.names, c.flatten(), strict=True)) for c in chunks]
        }

    def _level(self, path: tuple[str, ...]) -> list[dict[str, pa.Array]]:
        got = self._levels.get(path)
        if got is None:
            parent = self._level(path[:-1])
            got = [
                dict(zip(lv[path[-1]].type.names, lv.pop(path[-1]).flatten(), strict=True))
                for lv in parent
            ]
            self._levels[path] = got
        return got

    def get(self, path: tuple[str, ...], *, keep: bool = False) -> list[pa.Array]:
        level = self._level(path[:-1])
        if keep:
            return [lv[path[-1]] for lv in level]
        return [lv.pop(path[-1]) for lv in level]


# Strings go to polars as Arrow string views: polars keeps a string as a 16-byte view, and
# from Arrow's offsets-and-bytes layout it builds those views while keeping the whole Arrow
# array alive (offsets included) as their backing.  Arrow's cast to views keeps only the
# bytes buffer; 100,000 drift models then hold 14 MiB less (1.42x the raw JSON instead of
# 1.46x, measured).
_VIEWS = {
    pa.large_string(): pa.string_view(),
    pa.string(): pa.string_view(),
    pa.large_list(pa.large_string()): pa.large_list(pa.string_view()),
    pa.list_(pa.large_string()): pa.large_list(pa.string_view()),
}


def _column(name: str, parts: list[pa.Array], typ: pa.DataType) -> pl.Series:
    # One array per column (a batch's pages are joined before, ``_joined``; a list's items
    # may still come in parts): polars imports one chunk, and no page buffer outlives its
    # batch.
    if len(parts) == 1:
        whole = parts[0]
    else:
        whole = pa.concat_arrays(parts or [pa.nulls(0, typ)], memory_pool=M.ARROW_POOL)
    view = _VIEWS.get(whole.type)
    if view is not None:
        whole = whole.cast(view, memory_pool=M.ARROW_POOL)
    out = pl.from_arrow(whole)
    assert isinstance(out, pl.Series)
    return out.alias(name)


def _leaf_type(struct_type: pa.DataType, path: tuple[str, ...]) -> pa.DataType:
    for key in path:
        struct_type = struct_type.field(key).type
    return struct_type


def _frame(
    leaves: _Leaves,
    typ: pa.StructType,
    columns: list[tuple[str, tuple[str, ...]]],
    keep: frozenset[tuple[str, ...]] = frozenset(),
) -> pl.DataFrame:
    """A frame of leaf columns (name, JSON path); the leaves at ``keep`` stay for later use."""
    return pl.DataFrame(
        [
            _column(name, leaves.get(path, keep=path in keep), _leaf_type(typ, path))
            for name, path in columns
        ]
    )


def _epoch_ms(df: pl.DataFrame, spec: S.TableSpec) -> pl.DataFrame:
    casts = [
        pl.col(c.name).cast(pl.Datetime("ms", "UTC"))
        for c in spec.columns
        if c.field is not None and c.field.kind == "epoch_ms" and c.name in df.columns
    ]
    return df.with_columns(casts) if casts else df


def _joined(chunks: list[pa.StructArray]) -> list[pa.StructArray]:
    """The pages' typed reads as one struct array (Arrow joins them, copying each buffer once).

    Every later step (flattening the levels, joining a column's chunks, exploding a list) then
    runs once per batch instead of once per page: the table step of 10,000 drift records
    takes 56-63 ms instead of 72 ms, and the tables hold one chunk per batch (measured).
    The pages' arrays are let go as soon as this returns.
    """
    if len(chunks) <= 1:
        return chunks
    return [pa.concat_arrays(chunks, memory_pool=M.ARROW_POOL)]


def _batch_tables(outs: list[M.PageOut]) -> dict[str, pl.DataFrame]:
    """The tables of a batch of pages, each with the private record id ``_rid``."""
    rids = [rid for out in outs for rid in out.rids]
    input_chunks = _joined(
        [out.inputs for out in outs if out.inputs is not None and len(out.inputs)]
    )
    ui_rows = [row for out in outs for row in out.ui_json]
    extras: dict[str, dict[tuple, dict]] = {}
    epoch_counts: dict[tuple[int, int], int] = {}
    for out in outs:
        for table, rows in out.extras.items():
            extras.setdefault(table, {}).update(rows)
        epoch_counts.update(out.epoch_assets)
    leaves = _Leaves(_joined([out.models for out in outs]))
    for out in outs:
        out.models = out.inputs = None  # the leaves and the batch's tables own the data now
    typ = M.MODEL_ARROW
    lazy: dict[str, pl.LazyFrame] = {}

    # models: leaf columns; json text and extras placed by row
    spec = S.TABLES["models"]
    cols = [
        (c.name, c.path) for c in spec.columns if c.field is not None and c.field.kind != "json"
    ]
    lists = frozenset((key,) for key, _col, _doc in _STRING_LISTS.values())
    models = _frame(leaves, typ, cols, keep=lists).with_columns(
        _rid=pl.Series(rids, dtype=pl.Int64)
    )
    n = models.height
    row_of = {rid: i for i, rid in enumerate(rids)}
    side: list[pl.Series] = []
    json_cols = [c for c in spec.columns if c.field is not None and c.field.kind == "json"]
    for c in json_cols:
        i = _json_col(c.path, M.MODEL_LEVEL.json)
        values: list[str | None] = [None] * n
        for ui_row in ui_rows:
            values[row_of[ui_row[0]]] = ui_row[1 + i]
        side.append(pl.Series(c.name, values, dtype=pl.String))
    values = [None] * n
    for (rid,), extra in (extras.get("models") or {}).items():
        values[row_of[rid]] = M.dumps(extra)
    side.append(pl.Series("extra", values, dtype=pl.String))
    models = _epoch_ms(models.with_columns(side), spec)
    lazy["models"] = _conform(models.lazy(), "models")
    carry = models.select(S.KEY, "_rid", _default="default_variant_key")

    # child tables: the lists' items are Arrow's own values (no copy).  First every leaf
    # goes to polars, then Arrow's page arrays are let go (what no table uses goes back to
    # the system), and only then does polars gather and explode.
    imported: dict[str, tuple[pl.DataFrame, pl.Series, pl.Series]] = {}
    for table, (key, col, _doc) in _STRING_LISTS.items():
        items, row, pos = _explode(leaves.get((key,)))
        frame = pl.DataFrame([_column(col, items, typ.field(key).type.value_type)])
        imported[table] = (frame, row, pos)
    for table, (path, node) in _LISTS.items():
        if node.recursive is not None:
            continue
        spec = S.TABLES[table]
        items, row, pos = _explode(leaves.get(path))
        item_type = _leaf_type(typ, path).value_type
        nested = node.nested
        cols = [
            (c.name, c.path)
            for c in spec.columns
            if c.path and not (nested is not None and c.path[0] == nested.key)
        ]
        if nested is not None:
            cols.append(("_sub", (nested.key,)))
        frame = _frame(_Leaves(items or [pa.nulls(0, item_type)]), item_type, cols)
        imported[table] = (frame, row, pos)
    inputs_rows = _input_rows(input_chunks) if input_chunks else None
    del leaves, input_chunks, items

    for table, (_key, col, _doc) in _STRING_LISTS.items():
        frame, row, pos = imported.pop(table)
        df = carry.select(S.KEY, "_rid")[row].with_columns(position=pos, **{col: frame[col]})
        lazy[table] = _conform(df.lazy(), table)
    for table, (_path, node) in _LISTS.items():
        if node.recursive is not None:
            continue
        spec = S.TABLES[table]
        frame, row, pos = imported.pop(table)
        nested = node.nested
        df = pl.concat([carry[row], frame.with_columns(position=pos)], how="horizontal")
        keys = ["_rid", "position"]
        if nested is not None:
            sub = pl.col("_sub")
            df = (
                df.with_columns(asset_position=pl.int_ranges(0, sub.list.len(), dtype=pl.Int32))
                .explode(["_sub", "asset_position"], empty_as_null=True, keep_nulls=True)
                .with_columns(
                    [
                        _typed_expr(dataclasses.replace(c, path=c.path[1:]), sub)
                        for c in spec.columns
                        if c.path and c.path[0] == nested.key
                    ]
                )
            )
            keys.append("asset_position")
        if table == "variants":
            df = df.with_columns(
                is_default=(pl.col("variant_key") == pl.col("_default")).fill_null(False)
            )
        df = _epoch_ms(df, spec)
        ex = extras.get(table)
        if ex and nested is not None:
            ex = _epoch_extras(ex, epoch_counts)
        lazy[table] = _conform(_join_extra(df.lazy(), ex, keys), table)

    # inputs (read separately: recursive, with free-form JSON leaves)
    if inputs_rows is not None:
        lazy["inputs"] = _inputs_table(inputs_rows, carry)
    # One collect for all: polars runs the independent queries in parallel.  The leaf columns
    # came in as one chunk each (``_column``), so a table holds a chunk or two, not one per
    # page, and no page buffer waits on it: a ``rechunk`` here, needed when columns came in
    # page by page, now cost 0.03 s and 1.5% of peak memory for nothing (measured).
    return {name: df for name, df in zip(lazy, pl.collect_all(list(lazy.values())), strict=True)}


def _explode(lists: list[pa.ListArray]) -> tuple[list[pa.Array], pl.Series, pl.Series]:
    """Items of list arrays (chunks of one column), with each item's owner row and position.

    The items are the lists' own values, shared with Arrow where contiguous; null and empty
    lists give no item.
    """
    rows: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    items: list[pa.Array] = []
    at = 0
    for chunk in lists:
        lengths = _list_lengths(chunk)
        total = int(lengths.sum())
        if total:
            starts = np.cumsum(lengths) - lengths
            rows.append(np.repeat(np.arange(at, at + len(chunk)), lengths))
            positions.append(
                np.arange(total, dtype=np.int32) - np.repeat(starts, lengths).astype(np.int32)
            )
            items.append(_list_values(chunk, total))
        at += len(chunk)
    row = pl.Series(np.concatenate(rows) if rows else np.zeros(0, np.int64))
    pos = pl.Series("position", np.concatenate(positions) if positions else np.zeros(0, np.int32))
    return items, row, pos


def _list_values(chunk: pa.ListArray, total: int) -> pa.Array:
    """The items of a list array, shared with it when they are contiguous (the reader leaves
    null lists empty), else copied by Arrow's flatten."""
    offsets = chunk.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    if last - first == total:
        return chunk.values.slice(first, total)
    return chunk.flatten()


def _input_rows(chunks: list[pa.StructArray]) -> pl.DataFrame:
    """The flattened input rows as leaf columns named after the inputs table."""
    spec = S.TABLES["inputs"]
    derived = {
        "position": "_pos",
        "parent_name": "_parent",
        "default_number": "_dnum",
        "default_string": "_dstr",
        "default_bool": "_dbool",
        "extra": "_extra",
    }
    cols: list[tuple[str, tuple[str, ...]]] = [("_rid", ("_rid",))]
    for c in spec.columns:
        if c.name == S.KEY:
            continue
        if c.field is not None and c.field.kind == "json":
            cols.append((c.name, (f"_j{_json_col(c.path, M.INPUT_LEVEL.json)}",)))
        elif c.field is not None:
            cols.append((c.name, c.path))
        else:
            cols.append((c.name, (derived[c.name],)))
    return _epoch_ms(_frame(_Leaves(chunks), M.INPUT_ROW_ARROW, cols), spec)


def _inputs_table(rows: pl.DataFrame, carry: pl.DataFrame) -> pl.LazyFrame:
    """The inputs table: input rows of the records kept, with their model id."""
    joined = rows.lazy().join(
        carry.lazy().select("_rid", S.KEY), on="_rid", how="inner", maintain_order="left"
    )
    return _conform(joined, "inputs")


# ---------------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------------


class Catalog:
    """An immutable bundle of the catalog's tables (``schema.TABLE_ORDER``) and its metadata.

    Every part of the toolkit downstream of a fetch works with this one object: the tables
    are polars DataFrames keyed by ``model_id`` (``models`` has one row per model, each child
    table one row per item of a model's list, ``rejects`` the records that could not be
    read), and ``meta`` says how and when they were obtained.  It never changes once built
    (``with_meta`` returns a new one), so it can be shared freely.  Usually made by
    :func:`fetch_catalog` or :func:`read_snapshot` rather than by hand.

    Parameters
    ----------
    tables : mapping of str to polars.DataFrame
        The tables by name, taken as they are (``from_tables`` fills in missing ones).
    meta : CatalogMeta
        How and when the tables were obtained.

    See Also
    --------
    fetch_catalog : Fetch a catalog from the API.
    read_snapshot : Read a catalog back from a parquet snapshot.

    Examples
    --------
    Fetch the public models of a small embedded demo and look at the tables:

    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> len(catalog)
    26
    >>> list(catalog.tables)[:4]
    ['models', 'capabilities', 'tags', 'collections']
    >>> catalog.models.schema["created_at"]
    Datetime(time_unit='us', time_zone='UTC')
    >>> catalog.tags.columns
    ['model_id', 'position', 'tag']
    """

    __slots__ = ("_tables", "_meta")

    def __init__(self, tables: Mapping[str, pl.DataFrame], meta: CatalogMeta) -> None:
        self._tables = MappingProxyType(dict(tables))
        self._meta = meta

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_json_pages(
        cls, pages: Iterable[bytes | str], *, meta: CatalogMeta | None = None
    ) -> Catalog:
        """Build a catalog from raw ``GET /models`` response bodies, in page order.

        This is how a fetch's pages become tables; it is also the way to rebuild a catalog
        from bodies archived earlier (``fetch_pages``).  A bad record costs only itself (it
        lands in ``rejects``), and of several records with one id the later one wins.

        Parameters
        ----------
        pages : iterable of bytes or str
            The response bodies, in listing order.
        meta : CatalogMeta, optional
            The metadata to keep; by default one counting the pages (as requests too).

        Returns
        -------
        Catalog
            The tables, with ``meta.duplicates`` and the per-route record counts filled in.

        Examples
        --------
        >>> from scenario_frames import Catalog, ScenarioClient, fetch_pages, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     with ScenarioClient(demo.base_url, "demo", "demo") as client:
        ...         result = fetch_pages(client=client, privacy="public", progress=False)
        >>> catalog = Catalog.from_json_pages(result.pages)
        >>> catalog.counts["models"], catalog.meta.pages
        (26, 1)
        """
        tables, stats = _assemble(M.iter_page_outputs(pages))
        meta = meta or CatalogMeta(pages=stats.pages, requests=stats.pages)
        return cls(tables, meta.with_decoded(stats))

    @classmethod
    def from_records(cls, records: Iterable[object], *, meta: CatalogMeta | None = None) -> Catalog:
        """Build a catalog from decoded model records (dicts shaped like the API's).

        Handy for records that came some other way than a listing (a test, a saved JSON
        file).  The same rules as for pages apply; rejects have a null ``page``.

        Parameters
        ----------
        records : iterable of object
            The model records, in order (a later record with an id already seen wins).
        meta : CatalogMeta, optional
            The metadata to keep; by default an empty one fetched now.

        Returns
        -------
        Catalog
            The tables of the records.

        Examples
        --------
        A record without an id is refused, and the second copy of ``model_a`` wins:

        >>> from scenario_frames import Catalog
        >>> catalog = Catalog.from_records(
        ...     [
        ...         {"id": "model_a", "name": "First", "tags": ["ink"]},
        ...         {"name": "no id"},
        ...         {"id": "model_a", "name": "Second"},
        ...     ]
        ... )
        >>> catalog.models.select("model_id", "name").rows()
        [('model_a', 'Second')]
        >>> catalog.meta.duplicates, catalog.rejects["reason"].to_list()
        (1, ['no id'])
        """
        tables, stats = _assemble(M.records_pages(records))
        return cls(tables, (meta or CatalogMeta()).with_decoded(stats))

    @classmethod
    def from_tables(cls, tables: Mapping[str, pl.DataFrame], meta: CatalogMeta) -> Catalog:
        """Wrap existing tables (e.g. read back from parquet) as a catalog.

        Missing tables become empty ones, and schema columns a table lacks (an older file)
        are added as nulls; columns the schema does not know are kept at the end.  So files
        written by an older release still read as a complete catalog.

        Parameters
        ----------
        tables : mapping of str to polars.DataFrame
            Tables by name; every name must be one of ``schema.TABLE_ORDER``.
        meta : CatalogMeta
            The metadata to keep.

        Returns
        -------
        Catalog
            Every table of the schema, in schema order.

        Raises
        ------
        ValueError
            A table name the schema does not know.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> from scenario_frames import Catalog
        >>> narrow = {"models": catalog.models.select("model_id", "name")}
        >>> rebuilt = Catalog.from_tables(narrow, catalog.meta)
        >>> rebuilt.models.width == catalog.models.width, rebuilt.counts["tags"]
        (True, 0)
        """
        unknown = set(tables) - set(S.TABLE_ORDER)
        if unknown:
            raise ValueError(
                f"unknown table(s): {', '.join(sorted(unknown))}; "
                f"expected names from {', '.join(S.TABLE_ORDER)}"
            )
        out: dict[str, pl.DataFrame] = {}
        for name in S.TABLE_ORDER:
            df = tables.get(name)
            if df is None:
                out[name] = _EMPTY_DF[name]
                continue
            spec = S.TABLES[name]
            missing = [
                pl.lit(None, c.dtype).alias(c.name)
                for c in spec.columns
                if c.name not in df.columns
            ]
            if missing:
                df = df.with_columns(missing)
                known = [c.name for c in spec.columns]
                df = df.select(known + [c for c in df.columns if c not in known])
            out[name] = df
        return cls(out, meta)

    # -- access ---------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table by name, in ``schema.TABLE_ORDER`` (a fresh dict: the catalog stays as is).

        Returns
        -------
        dict of str to polars.DataFrame
            The tables, ``models`` first and ``rejects`` last.
        """
        return dict(self._tables)

    @property
    def meta(self) -> CatalogMeta:
        """How and when the catalog was obtained.

        Returns
        -------
        CatalogMeta
            The fetch time, query, base URL (without credentials), request and page counts.
        """
        return self._meta

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table.

        Returns
        -------
        dict of str to int
            The number of rows of each table, in ``schema.TABLE_ORDER``.
        """
        return {name: df.height for name, df in self._tables.items()}

    def table(self, name: str) -> pl.DataFrame:
        """One table by name.

        Parameters
        ----------
        name : str
            A name of ``schema.TABLE_ORDER`` (``"models"``, ``"variants"``, ...).

        Returns
        -------
        polars.DataFrame
            The table.

        Raises
        ------
        KeyError
            The name is unknown; the message lists the table names.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> catalog.table("variants").height
        159
        >>> catalog.table("tags").equals(catalog.tags)
        True
        """
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; tables are {', '.join(S.TABLE_ORDER)}") from None

    models = property(lambda self: self._tables["models"], doc="One row per model.")
    capabilities = property(lambda self: self._tables["capabilities"], doc="Model capabilities.")
    tags = property(lambda self: self._tables["tags"], doc="Model tags.")
    collections = property(lambda self: self._tables["collections"], doc="Collections of models.")
    variants = property(lambda self: self._tables["variants"], doc="Performance variants.")
    inputs = property(lambda self: self._tables["inputs"], doc="Custom models' inputs.")
    concepts = property(lambda self: self._tables["concepts"], doc="Composition concepts.")
    epochs = property(lambda self: self._tables["epochs"], doc="Epochs and their sample assets.")
    training_images = property(lambda self: self._tables["training_images"], doc="Training images.")
    training_image_pairs = property(
        lambda self: self._tables["training_image_pairs"], doc="Training image pairs."
    )
    example_assets = property(lambda self: self._tables["example_assets"], doc="Example assets.")
    rejects = property(lambda self: self._tables["rejects"], doc="Records that could not be read.")

    def with_meta(self, **changes: Any) -> Catalog:
        """Return the same tables with some metadata fields replaced.

        The catalog itself never changes; the new one shares its tables.

        Parameters
        ----------
        **changes
            ``CatalogMeta`` fields and their new values.

        Returns
        -------
        Catalog
            A new catalog over the same tables.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> relabelled = catalog.with_meta(query={"privacy": "public", "note": "demo"})
        >>> relabelled.meta.query["note"], catalog.meta.query
        ('demo', {'privacy': 'public'})
        """
        return Catalog(self._tables, dataclasses.replace(self._meta, **changes))

    # -- views ----------------------------------------------------------------------------

    def describe(self, table: str | None = None) -> pl.DataFrame:
        """The data dictionary of this catalog's tables: what each column holds and where from.

        Columns a table holds but the schema does not describe are listed after the described
        ones with ``in_schema`` false, so a drifted or hand-made table never hides a column;
        the dtype shown is the one the table actually has.

        Parameters
        ----------
        table : str, optional
            A table name: that table's columns.  Without one, every table's, in schema
            order, with a leading ``table`` column: the whole dictionary in one frame to
            browse or filter.

        Returns
        -------
        polars.DataFrame
            Columns ``column``, ``dtype``, ``description``, ``source`` (the JSON path) and
            ``in_schema`` (with a leading ``table`` when no table was named).

        Raises
        ------
        KeyError
            An unknown table name.

        See Also
        --------
        data_dictionary : The same from the schema alone, without a catalog.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> catalog.describe("tags").select("column", "dtype", "in_schema").rows()
        [('model_id', 'String', True), ('position', 'Int32', True), ('tag', 'String', True)]
        >>> catalog.describe().columns
        ['table', 'column', 'dtype', 'description', 'source', 'in_schema']
        """
        if table is None:
            parts = [
                self.describe(name).select(pl.lit(name).alias("table"), pl.all())
                for name in self._tables
            ]
            return pl.concat(parts, how="vertical")
        df = self.table(table)
        spec = S.TABLES[table]
        rows = [
            {
                "column": c.name,
                "dtype": str(df.schema.get(c.name, c.dtype)),
                "description": c.description,
                "source": c.source,
                "in_schema": True,
            }
            for c in spec.columns
        ]
        known = {c.name for c in spec.columns}
        rows += [
            {
                "column": name,
                "dtype": str(dtype),
                "description": "Not described by the schema.",
                "source": None,
                "in_schema": False,
            }
            for name, dtype in df.schema.items()
            if name not in known
        ]
        return pl.DataFrame(
            rows,
            schema={
                "column": pl.String,
                "dtype": pl.String,
                "description": pl.String,
                "source": pl.String,
                "in_schema": pl.Boolean,
            },
        )

    def capability_matrix(self) -> pl.DataFrame:
        """One row per model, one Boolean column per capability.

        The documented capabilities come first in schema order (all of them, so the shape is
        stable), then any capability the catalog holds that the schema does not know, sorted.
        Handy for "which models can do X and Y" filters and for counting models per
        capability.

        Returns
        -------
        polars.DataFrame
            ``model_id`` followed by one Boolean column per capability, in ``models`` order.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> matrix = catalog.capability_matrix()
        >>> matrix.columns[0], matrix.height == len(catalog)
        ('model_id', True)
        >>> int(matrix["txt2img"].sum())
        21
        """
        models = self.models
        seen = self.capabilities["capability"].drop_nulls().unique().to_list()
        extra = sorted(set(seen) - set(S.CAPABILITIES))
        caps = pl.col("capabilities")
        return models.select(
            pl.col(S.KEY),
            *[
                caps.list.contains(pl.lit(c, pl.String)).fill_null(False).alias(c)
                for c in (*S.CAPABILITIES, *extra)
            ],
        )

    def to_pandas(self, table: str = "models") -> pd.DataFrame:
        """One table as a pandas DataFrame, via Arrow.

        pandas is optional (the toolkit itself works in polars); without it this raises an
        ``ImportError`` saying how to install it, rather than a bare "No module named".

        Parameters
        ----------
        table : str, default "models"
            The table's name (``models`` has one row per model).

        Returns
        -------
        pandas.DataFrame
            The table's rows and columns.

        Raises
        ------
        ImportError
            pandas is not installed (``pip install scenario-frames[pandas]``).
        KeyError
            An unknown table name.

        Examples
        --------
        >>> from scenario_frames import fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> frame = catalog.to_pandas("tags")
        >>> type(frame).__name__, frame.shape
        ('DataFrame', (66, 3))
        """
        frame = self.table(table)
        try:
            import pandas  # noqa: F401  (only to tell whether it is installed)
        except ImportError:
            raise ImportError(
                "Catalog.to_pandas needs pandas, which is not installed: run "
                '"pip install pandas" (or "pip install scenario-frames[pandas]")'
            ) from None
        return frame.to_arrow().to_pandas()

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v or k == "models")
        m = self._meta
        url = safe_base_url(m.base_url)
        parts = [
            counts,
            f"duplicates={m.duplicates}",
            f"fetched_at={m.fetched_at.isoformat(timespec='seconds')}",
        ]
        if url:
            parts.append(f"base_url={url!r}")
        return f"Catalog({', '.join(parts)})"

    def __len__(self) -> int:
        return self.models.height
