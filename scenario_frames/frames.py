"""The catalog as typed, tidy polars tables: ``Catalog`` and its ``CatalogMeta``.

``Catalog.from_json_pages`` turns raw ``GET /models`` bodies into one table per name of
``schema.TABLE_ORDER``: ``models`` (one row per model, nested objects flattened by path),
child tables keyed by ``model_id`` and a position, and ``rejects`` (records that could not be
read, kept whole with the reason).  Every column, dtype and JSON source comes from
``schema.TABLES``; how the bytes become Arrow arrays is in ``_materialize``.

Rules worth knowing:

* Unknown fields are never dropped: each table (but the plain string-list ones) has an
  ``extra`` column with the JSON text of the keys the schema does not know, shaped like the
  record (``{"deletedAt": ..., "trainingProgress": {"retryCount": 2}}``), null when none.  In
  ``epochs`` an epoch's unknown keys repeat on each of its asset rows and an asset's own
  unknown keys sit under ``"assets"``.
* Enum-like fields are plain strings: unknown values are kept as they come.
* A record is refused (``rejects``) when it is not an object, has no string id, or holds a
  value of a JSON type its column cannot take (see ``_materialize`` for the coercions).
  Missing fields and ``null`` are fine.  A bad record never costs the rest of its page.
* A model listed twice is kept once, the later copy; ``meta.duplicates`` counts the copies
  dropped.
* ``inputs`` rows are keyed by ``(model_id, parent_name, position)``: top-level inputs have a
  null ``parent_name``; members of an ``inputs_array`` input carry its name and their
  position within it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl
import pyarrow as pa

from . import _materialize as M
from . import schema as S

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Catalog", "CatalogMeta"]


@dataclass(frozen=True)
class CatalogMeta:
    """How and when a catalog was obtained (filled by the fetcher; defaults for local data)."""

    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    query: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    pages: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float = 0.0
    duplicates: int = 0
    incremental_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``fetched_at`` as ISO 8601 text)."""
        d = dataclasses.asdict(self)
        d["fetched_at"] = self.fetched_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CatalogMeta:
        """Inverse of ``to_dict``; unknown keys are ignored so old and new files both load."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("fetched_at"), str):
            kw["fetched_at"] = datetime.fromisoformat(kw["fetched_at"])
        if isinstance(kw.get("fetched_at"), datetime) and kw["fetched_at"].tzinfo is None:
            kw["fetched_at"] = kw["fetched_at"].replace(tzinfo=UTC)
        kw["query"] = dict(kw.get("query") or {})
        return cls(**kw)


# ---------------------------------------------------------------------------------------------
# Schema-derived expressions
# ---------------------------------------------------------------------------------------------


def _field_expr(base: pl.Expr, path: tuple[str, ...]) -> pl.Expr:
    for key in path:
        base = base.struct.field(key)
    return base


def _list_nodes(nodes: tuple[S.Node, ...], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], S.ListOf]]:
    for node in nodes:
        if isinstance(node, S.Obj):
            yield from _list_nodes(node.fields, path + (node.key,))
        elif isinstance(node, S.ListOf):
            yield path + (node.key,), node


_LISTS: dict[str, tuple[tuple[str, ...], S.ListOf]] = {
    node.table: (path, node) for path, node in _list_nodes(S.MODEL.fields)}
_STRING_LISTS = S.STRING_LIST_TABLES
_EMPTY_DF = {name: pl.DataFrame(schema=S.TABLES[name].schema) for name in S.TABLE_ORDER}
_SECRET_URL = re.compile(r"//[^/@]*@")


def _typed_expr(col: S.Column, base: pl.Expr) -> pl.Expr:
    expr = _field_expr(base, col.path)
    if col.field is not None and col.field.kind == "epoch_ms":
        expr = expr.cast(pl.Datetime("ms", "UTC"))
    return expr.alias(col.name)


def _conform(df: pl.LazyFrame, table: str) -> pl.LazyFrame:
    """Columns in schema order with schema dtypes (cheap when already right)."""
    spec = S.TABLES[table]
    return df.select([pl.col(c.name).cast(c.dtype) for c in spec.columns])


def _json_col(path: tuple[str, ...], level_json: tuple) -> int:
    for i, (p, _key) in enumerate(level_json):
        if p == path:
            return i
    raise KeyError(path)


def _extra_frame(rows: dict[tuple, dict], keys: list[str], key_types: list[pl.DataType]) -> pl.DataFrame:
    cols: dict[str, list] = {k: [] for k in keys}
    texts: list[str] = []
    for owner, extra in rows.items():
        for k, v in zip(keys, owner, strict=True):
            cols[k].append(v)
        texts.append(M.dumps(extra))
    data = {k: pl.Series(k, cols[k], dtype=t) for k, t in zip(keys, key_types, strict=True)}
    data["extra"] = pl.Series("extra", texts, dtype=pl.String)
    return pl.DataFrame(data)


_KEY_TYPES = {"_rid": pl.Int64(), "position": pl.Int32(), "asset_position": pl.Int32()}


def _join_extra(df: pl.LazyFrame, extras: dict[tuple, dict] | None, keys: list[str]) -> pl.LazyFrame:
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


def _assemble(outs: Iterable[M.PageOut]) -> tuple[dict[str, pl.DataFrame], int, int]:
    """Concatenate page outputs and derive every table.  Returns (tables, pages, duplicates)."""
    chunks: list[pa.StructArray] = []
    rids: list[int] = []
    input_chunks: list[pa.StructArray] = []
    ui_rows: list[tuple] = []
    extras: dict[str, dict[tuple, dict]] = {}
    epoch_counts: dict[tuple[int, int], int] = {}
    late: set[int] = set()
    reject_lists: list[list[tuple]] = []
    pages = 0
    for out in outs:  # each page arrives with its inputs resolved
        pages += 1
        if out.models is not None and len(out.models):
            chunks.append(out.models)
            rids.extend(out.rids)
        if out.inputs is not None and len(out.inputs):
            input_chunks.append(out.inputs)
        late |= out.late
        reject_lists.append(out.rejects)
        ui_rows.extend(out.ui_json)
        for table, rows in out.extras.items():
            extras.setdefault(table, {}).update(rows)
        epoch_counts.update(out.epoch_assets)
    rejects = sorted((r for lst in reject_lists for r in lst),
                     key=lambda r: (-1 if r[0] is None else r[0], -1 if r[1] is None else r[1]))
    tables: dict[str, pl.DataFrame] = {}
    rej = pl.DataFrame(
        {name: [r[i] for r in rejects] for i, name in enumerate(S.TABLES["rejects"].schema)},
        schema=S.TABLES["rejects"].schema)
    tables["rejects"] = rej
    if not chunks:
        return {name: tables.get(name, _EMPTY_DF[name]) for name in S.TABLE_ORDER}, pages, 0

    arr = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    chunks.clear()
    base = pl.from_arrow(pa.table({"r": arr, "_rid": pa.array(rids, pa.int64())}))
    del arr
    assert isinstance(base, pl.DataFrame)
    if late:
        refused = pl.DataFrame({"_rid": sorted(late)}, schema={"_rid": pl.Int64})
        base = base.join(refused, on="_rid", how="anti", maintain_order="left")
    base = base.with_columns(pl.col("r").struct.field("id").alias(S.KEY))
    n_valid = base.height
    if base[S.KEY].n_unique() < n_valid:
        base = base.unique(subset=S.KEY, keep="last", maintain_order=True)
    duplicates = n_valid - base.height
    r = pl.col("r")
    lazy: dict[str, pl.LazyFrame] = {}

    # models: typed columns straight from the struct; json text and extras placed by row
    spec = S.TABLES["models"]
    json_cols = [c for c in spec.columns if c.field is not None and c.field.kind == "json"]
    typed = [_typed_expr(c, r) for c in spec.columns
             if c.field is not None and c.field.kind != "json" and c.name != S.KEY]
    row_of = {rid: i for i, rid in enumerate(base["_rid"].to_list())}
    side: list[pl.Series] = []
    idx = {c.name: _json_col(c.path, M.MODEL_LEVEL.json) for c in json_cols}
    for name, i in idx.items():
        values: list[str | None] = [None] * base.height
        for row in ui_rows:
            at = row_of.get(row[0])
            if at is not None:
                values[at] = row[1 + i]
        side.append(pl.Series(name, values, dtype=pl.String))
    values = [None] * base.height
    for (rid,), extra in (extras.get("models") or {}).items():
        at = row_of.get(rid)
        if at is not None:
            values[at] = M.dumps(extra)
    side.append(pl.Series("extra", values, dtype=pl.String))
    base = base.with_columns(side)  # same rows: no join
    lbase = base.lazy()
    models = lbase.select(pl.col("_rid"), pl.col(S.KEY), *typed, *[pl.col(x.name) for x in side])
    lazy["models"] = _conform(models, "models")

    # plain string lists
    for table, (key, col, _doc) in _STRING_LISTS.items():
        df = (lbase.select(pl.col(S.KEY), r.struct.field(key).alias(col))
              .filter(pl.col(col).list.len() > 0)
              .with_columns(position=pl.int_ranges(0, pl.col(col).list.len(), dtype=pl.Int32))
              .explode([col, "position"]))
        lazy[table] = _conform(df, table)

    # lists of objects
    for table, (path, node) in _LISTS.items():
        if node.recursive is not None:
            continue
        spec = S.TABLES[table]
        keep = [pl.col("_rid"), pl.col(S.KEY), _field_expr(r, path).alias("_item")]
        if table == "variants":
            keep.append(_field_expr(r, ("performanceStats", "default")).alias("_default"))
        df = (lbase.select(keep).filter(pl.col("_item").list.len() > 0)
              .with_columns(position=pl.int_ranges(0, pl.col("_item").list.len(), dtype=pl.Int32))
              .explode(["_item", "position"]))
        keys = ["_rid", "position"]
        nested = node.nested
        if nested is not None:
            sub = pl.col("_item").struct.field(nested.key)
            df = (df.with_columns(_sub=sub, asset_position=pl.int_ranges(0, sub.list.len(), dtype=pl.Int32))
                  .explode(["_sub", "asset_position"], empty_as_null=True, keep_nulls=True))
            keys.append("asset_position")
        exprs = []
        for c in spec.columns:
            if not c.path:
                continue
            if nested is not None and c.path[0] == nested.key:
                exprs.append(_typed_expr(dataclasses.replace(c, path=c.path[1:]), pl.col("_sub")))
            else:
                exprs.append(_typed_expr(c, pl.col("_item")))
        if table == "variants":
            exprs.append((pl.col("_item").struct.field("variantKey") == pl.col("_default"))
                         .fill_null(False).alias("is_default"))
        df = df.select(pl.col("_rid"), pl.col(S.KEY), *[pl.col(k) for k in keys[1:]], *exprs)
        ex = extras.get(table)
        if ex and nested is not None:
            ex = _epoch_extras(ex, epoch_counts)
        df = _join_extra(df, ex, keys)
        lazy[table] = _conform(df, table)

    # inputs (read separately: recursive, with free-form JSON leaves)
    if input_chunks:
        lazy["inputs"] = _inputs_table(input_chunks, lbase)
    # One collect for all: polars runs the independent queries in parallel.
    tables.update(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))
    for name in S.TABLE_ORDER:
        tables.setdefault(name, _EMPTY_DF[name])
    return {name: tables[name] for name in S.TABLE_ORDER}, pages, duplicates


def _inputs_table(chunks: list[pa.StructArray], base: pl.LazyFrame) -> pl.LazyFrame:
    arr = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    rows = pl.from_arrow(pa.table({"i": arr}))
    assert isinstance(rows, pl.DataFrame)
    i = pl.col("i")
    lrows = rows.lazy().with_columns(_rid=i.struct.field("_rid"))
    lrows = lrows.join(base.select("_rid", S.KEY), on="_rid", how="inner", maintain_order="left")
    spec = S.TABLES["inputs"]
    derived = {"position": i.struct.field("_pos"), "parent_name": i.struct.field("_parent"),
               "default_number": i.struct.field("_dnum"), "default_string": i.struct.field("_dstr"),
               "default_bool": i.struct.field("_dbool"), "extra": i.struct.field("_extra")}
    exprs = []
    for c in spec.columns:
        if c.name == S.KEY:
            exprs.append(pl.col(S.KEY))
        elif c.field is not None and c.field.kind == "json":
            exprs.append(i.struct.field(f"_j{_json_col(c.path, M.INPUT_LEVEL.json)}").alias(c.name))
        elif c.field is not None:
            exprs.append(_typed_expr(c, i))
        else:
            exprs.append(derived[c.name].alias(c.name))
    return _conform(lrows.select(exprs), "inputs")


# ---------------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------------


class Catalog:
    """An immutable bundle of the catalog's tables (``schema.TABLE_ORDER``) and its metadata."""

    __slots__ = ("_tables", "_meta")

    def __init__(self, tables: Mapping[str, pl.DataFrame], meta: CatalogMeta) -> None:
        self._tables = MappingProxyType(dict(tables))
        self._meta = meta

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_json_pages(cls, pages: Iterable[bytes | str], *, meta: CatalogMeta | None = None) -> Catalog:
        """Materialize raw ``GET /models`` response bodies (bytes or str), in page order."""
        tables, n_pages, dups = _assemble(M.iter_page_outputs(pages))
        meta = meta or CatalogMeta(pages=n_pages, requests=n_pages)
        return cls(tables, dataclasses.replace(meta, duplicates=dups))

    @classmethod
    def from_records(cls, records: Iterable[object], *, meta: CatalogMeta | None = None) -> Catalog:
        """Materialize decoded model records (API-shaped dicts); rejects have a null page."""
        tables, _n, dups = _assemble(M.records_pages(records))
        meta = meta or CatalogMeta()
        return cls(tables, dataclasses.replace(meta, duplicates=dups))

    @classmethod
    def from_tables(cls, tables: Mapping[str, pl.DataFrame], meta: CatalogMeta) -> Catalog:
        """Wrap existing tables (e.g. read back from parquet).

        Missing tables become empty ones, and schema columns a table lacks (an older file)
        are added as nulls; columns the schema does not know are kept at the end.
        """
        unknown = set(tables) - set(S.TABLE_ORDER)
        if unknown:
            raise ValueError(f"unknown table(s): {', '.join(sorted(unknown))}; "
                             f"expected names from {', '.join(S.TABLE_ORDER)}")
        out: dict[str, pl.DataFrame] = {}
        for name in S.TABLE_ORDER:
            df = tables.get(name)
            if df is None:
                out[name] = _EMPTY_DF[name]
                continue
            spec = S.TABLES[name]
            missing = [pl.lit(None, c.dtype).alias(c.name) for c in spec.columns
                       if c.name not in df.columns]
            if missing:
                df = df.with_columns(missing)
                known = [c.name for c in spec.columns]
                df = df.select(known + [c for c in df.columns if c not in known])
            out[name] = df
        return cls(out, meta)

    # -- access ---------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table by name, in ``schema.TABLE_ORDER`` (a fresh dict: the catalog stays as is)."""
        return dict(self._tables)

    @property
    def meta(self) -> CatalogMeta:
        """How and when the catalog was obtained."""
        return self._meta

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: df.height for name, df in self._tables.items()}

    def table(self, name: str) -> pl.DataFrame:
        """One table by name (``KeyError`` listing the names when unknown)."""
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
    training_image_pairs = property(lambda self: self._tables["training_image_pairs"],
                                    doc="Training image pairs.")
    example_assets = property(lambda self: self._tables["example_assets"], doc="Example assets.")
    rejects = property(lambda self: self._tables["rejects"], doc="Records that could not be read.")

    def with_meta(self, **changes: Any) -> Catalog:
        """The same tables with some metadata fields replaced."""
        return Catalog(self._tables, dataclasses.replace(self._meta, **changes))

    # -- views ----------------------------------------------------------------------------

    def describe(self, table: str) -> pl.DataFrame:
        """The data dictionary of one table: column, dtype, description, source, in_schema.

        Columns the table holds but the schema does not describe are listed last with
        ``in_schema`` false, so a drifted or hand-made table never hides a column.
        """
        df = self.table(table)
        spec = S.TABLES[table]
        rows = [{"column": c.name, "dtype": str(df.schema.get(c.name, c.dtype)),
                 "description": c.description, "source": c.source, "in_schema": True}
                for c in spec.columns]
        known = {c.name for c in spec.columns}
        rows += [{"column": name, "dtype": str(dtype), "description": "Not described by the schema.",
                  "source": None, "in_schema": False}
                 for name, dtype in df.schema.items() if name not in known]
        return pl.DataFrame(rows, schema={"column": pl.String, "dtype": pl.String,
                                          "description": pl.String, "source": pl.String,
                                          "in_schema": pl.Boolean})

    def capability_matrix(self) -> pl.DataFrame:
        """One row per model, one Boolean column per capability.

        The documented capabilities come first in schema order (all of them, so the shape is
        stable), then any capability the catalog holds that the schema does not know, sorted.
        """
        models = self.models
        seen = self.capabilities["capability"].drop_nulls().unique().to_list()
        extra = sorted(set(seen) - set(S.CAPABILITIES))
        caps = pl.col("capabilities")
        return models.select(
            pl.col(S.KEY),
            *[caps.list.contains(pl.lit(c, pl.String)).fill_null(False).alias(c)
              for c in (*S.CAPABILITIES, *extra)])

    def to_pandas(self, table: str) -> pd.DataFrame:
        """One table as a pandas DataFrame, converted through Arrow."""
        return self.table(table).to_arrow().to_pandas()

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v or k == "models")
        m = self._meta
        url = _SECRET_URL.sub("//", m.base_url.split("?", 1)[0]) if m.base_url else None
        parts = [counts, f"duplicates={m.duplicates}",
                 f"fetched_at={m.fetched_at.isoformat(timespec='seconds')}"]
        if url:
            parts.append(f"base_url={url!r}")
        return f"Catalog({', '.join(parts)})"

    def __len__(self) -> int:
        return self.models.height


def records_to_page(records: list[dict], token: str | None = None) -> bytes:
    """A page body like the API's (handy in tests and tools)."""
    doc: dict[str, Any] = {"models": records}
    if token:
        doc["nextPaginationToken"] = token
    return orjson.dumps(doc)
