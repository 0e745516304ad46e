"""Pages of ``GET /models`` into Arrow arrays and side rows: the engine behind ``frames``.

Design (measured in ``bench/bench_frames.py``):

* **Typed read, per page, in worker threads.**  Arrow's C++ JSON reader reads the raw page
  bytes against an explicit Arrow type derived from ``schema.MODEL`` (every known leaf but
  the free-form ``json`` ones; the recursive ``inputs`` only as a marker).  It is strict
  about JSON types (a string where a number is declared, a number where a string is
  declared, a bad date... fail the page), parses ISO dates itself and runs without the GIL.
  The same worker finds, with numpy, where every key ends (``":``) in the bytes.
* **Fast path: no Python objects for the page.**  Unknown keys are ruled out by counting:
  the keys in the bytes must equal the non-null values Arrow read plus the keys inside the
  few values Python reads itself (custom models' ``inputs`` and ``uiConfig``, located in the
  bytes and parsed alone with ``orjson``).  See ``fast_page``.
* **Exact path: the page decoded by orjson**, used whenever the fast path cannot prove its
  case (a type error, a record without id, an unknown key, a key set to null, odd bytes).
  Records that are not objects or lack an id are refused here; when the page read failed,
  each record is read alone by the same Arrow reader and schema (same rules by
  construction), failures become rejects with the reader's reason and the others are read
  together again.  Unknown keys are found by comparing key counts with Arrow's, then one set
  union per object level; only levels holding a stranger are walked record by record.
* **Inputs** (custom models) are flattened in Python, nested ``inputs_array`` members
  included, and read by the same strict Arrow reader in the background.

Coercions: a JSON integer is accepted where a number (Float64) is declared; nothing else is
converted.  Strings are never read as numbers, numbers never as strings or booleans, floats
never as integers (``accessRestrictions``, epoch milliseconds), a lone string never as a list.
``null`` means "absent" everywhere.  Dates are ISO 8601 as Arrow reads them (date only, or
date and time to the microsecond, ``Z`` or a ``+hh:mm`` offset; no zone means UTC).
Python records given to ``from_records`` go through JSON first: NaN and infinities (not
JSON) become null, values that are not JSON at all make the record a reject.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from . import schema as S

# ---------------------------------------------------------------------------------------------
# Schema-derived plan
# ---------------------------------------------------------------------------------------------

# Strings are read as plain Arrow strings.  (String views would let polars share Arrow's
# buffers, but Arrow gives each view column of each page its own data blocks, which then
# stay alive: measured 15% more peak memory than letting polars copy plain strings.)
_STR = pa.string()
_ARROW_OF_KIND: dict[str, pa.DataType] = {
    "string": _STR,
    "enum": _STR,
    "number": pa.float64(),
    "integer": pa.int64(),
    "int_enum": pa.int64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", "UTC"),
    "epoch_ms": pa.int64(),
    "list_string": pa.list_(_STR),
    "list_enum": pa.list_(_STR),
}


def _arrow_fields(nodes: tuple[S.Node, ...]) -> list[pa.Field]:
    """Arrow fields of the typed part of one object level (json leaves and recursion left out)."""
    out: list[pa.Field] = []
    for node in nodes:
        if isinstance(node, S.Field):
            if node.kind != "json":
                out.append(pa.field(node.key, _ARROW_OF_KIND[node.kind]))
        elif isinstance(node, S.Obj):
            out.append(pa.field(node.key, pa.struct(_arrow_fields(node.fields))))
        elif node.recursive is not None:
            # Read on its own (see flatten_inputs); here only a marker: a list of objects
            # with a string name, so that the page read still checks the shape.
            out.append(pa.field(node.key, pa.list_(pa.struct([pa.field("name", _STR)]))))
        else:
            fields = _arrow_fields(node.fields)
            if node.nested is not None:
                fields.append(pa.field(node.nested.key,
                                       pa.list_(pa.struct(_arrow_fields(node.nested.fields)))))
            out.append(pa.field(node.key, pa.list_(pa.struct(fields))))
    return out


@dataclass(frozen=True)
class Level:
    """Keys known at one object level, and where to descend for unknown-key detection."""

    known: frozenset[str]
    objs: tuple[tuple[str, Level], ...] = ()
    lists: tuple[tuple[str, Level, str], ...] = ()  # key, item level, table
    nested: tuple[str, Level] | None = None  # a list inside list items, same table (epochs)
    json: tuple[tuple[tuple[str, ...], str], ...] = ()  # json leaves: path, private column
    excluded: frozenset[str] = frozenset()  # keys here that the Arrow read leaves out


def _level(nodes: tuple[S.Node, ...], *, skip_recursive: bool = True,
           json_path: tuple[str, ...] = ()) -> Level:
    objs, lists, json, excluded = [], [], [], set()
    for node in nodes:
        if isinstance(node, S.Obj):
            sub = _level(node.fields, json_path=json_path + (node.key,))
            objs.append((node.key, sub))
            json.extend(sub.json)
        elif isinstance(node, S.ListOf):
            if node.recursive is not None and skip_recursive:
                continue  # read on its own; the Arrow read keeps only a marker
            item = _level(node.fields)
            if node.nested is not None:
                item = dataclasses.replace(item, known=item.known | {node.nested.key},
                                           nested=(node.nested.key, _level(node.nested.fields)))
            lists.append((node.key, item, node.table))
        elif node.kind == "json":
            json.append((json_path + (node.key,), node.key))
            excluded.add(node.key)
    return Level(frozenset(n.key for n in nodes), tuple(objs), tuple(lists), None, tuple(json),
                 frozenset(excluded))


MODEL_ARROW: pa.StructType = pa.struct(_arrow_fields(S.MODEL.fields))


def _bool_mask(values: np.ndarray) -> pa.BooleanArray:
    """A boolean Arrow array from a numpy one, built from its bits: ``pa.array`` would load
    pandas through pyarrow's shim (see ``frames._list_lengths``)."""
    bits = pa.py_buffer(np.packbits(values, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])


RECORD_SCHEMA = pa.schema(list(MODEL_ARROW))
MODEL_LEVEL: Level = _level(S.MODEL.fields)

_INPUTS_NODE: S.ListOf = next(n for n in S.MODEL.fields
                              if isinstance(n, S.ListOf) and n.recursive is not None)
_INPUT_RECURSIVE = _INPUTS_NODE.recursive or "inputs"
_lvl = _level(_INPUTS_NODE.fields)
INPUT_LEVEL: Level = dataclasses.replace(_lvl, known=_lvl.known | {_INPUT_RECURSIVE})
_INPUT_TYPED_KEYS = frozenset(
    n.key for n in _INPUTS_NODE.fields
    if not (isinstance(n, S.Field) and n.kind == "json") and not isinstance(n, S.ListOf))
_INPUT_OBJS = {key: lvl for key, lvl in INPUT_LEVEL.objs}
_INPUT_OBJ_TYPED = {
    n.key: frozenset(f.key for f in n.fields if isinstance(f, S.Field) and f.kind != "json")
    for n in _INPUTS_NODE.fields if isinstance(n, S.Obj)}
# Private columns of a flattened input row, next to the typed fields.
INPUT_ROW_ARROW: pa.StructType = pa.struct(
    _arrow_fields(tuple(n for n in _INPUTS_NODE.fields if not isinstance(n, S.ListOf)))
    + [pa.field(f"_j{i}", _STR) for i in range(len(INPUT_LEVEL.json))]
    + [pa.field("_rid", pa.int64()), pa.field("_pos", pa.int32()),
       pa.field("_parent", _STR), pa.field("_extra", _STR),
       pa.field("_dnum", pa.float64()), pa.field("_dstr", _STR),
       pa.field("_dbool", pa.bool_())])
INPUT_ROWS_SCHEMA = pa.schema([pa.field("rows", pa.list_(INPUT_ROW_ARROW))])
INPUT_ROW_SCHEMA = pa.schema(list(INPUT_ROW_ARROW))
# Top-level keys whose subtree holds json leaves of the models table (uiConfig).
_MODEL_JSON_ROOTS = frozenset(path[0] for path, _ in MODEL_LEVEL.json)

_JSON_TYPE = {dict: "an object", list: "an array", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for reasons."""
    return _JSON_TYPE.get(type(value), type(value).__name__)


def to_json(value: object) -> bytes:
    """Compact JSON of a JSON-like value (key order kept); TypeError when it is not JSON.

    orjson first; values nested deeper than orjson writes (it reads deeper than it writes)
    go through the standard library.
    """
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        if "Recursion" not in str(exc):
            raise TypeError(str(exc)) from None
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError) as exc:
        raise TypeError(f"cannot write as JSON: {exc}") from None
    finally:
        sys.setrecursionlimit(old)


def loads(body: bytes) -> Any:
    """Parse JSON with orjson; documents nested deeper than it reads go through the standard
    library (raises orjson.JSONDecodeError when the text is not JSON)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" not in exc.msg and "ecursion" not in exc.msg:
            raise
        first = exc
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise first from None
    finally:
        sys.setrecursionlimit(old)


def dumps(value: object) -> str:
    """Compact JSON text of a decoded JSON value (key order kept)."""
    return to_json(value).decode()


def safe_dumps(value: object) -> str:
    """JSON text of anything, never raising (used for the raw text of rejects)."""
    try:
        return dumps(value)
    except TypeError:
        pass
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:  # noqa: BLE001 - not JSON at all: keep a readable form
        try:
            return json.dumps(value, default=repr, ensure_ascii=False)
        except Exception:  # noqa: BLE001
            return repr(value)


# ---------------------------------------------------------------------------------------------
# Reading with Arrow
# ---------------------------------------------------------------------------------------------

_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)")
_CONVERT = re.compile(r"Failed to convert JSON to ([^,]+(?:, tz=\w+\])?), couldn't parse:(.*)", re.S)


def arrow_reason(exc: BaseException) -> str:
    """A short reason from an Arrow JSON reader error."""
    msg = str(exc)
    m = _CHANGED.search(msg)
    if m:
        path = m.group(1).replace("/[]", "[]").strip("/").replace("/", ".")
        path = re.sub(r"^models\[\]\.?", "", path) or "record"
        return f"{path}: expected {m.group(2)}, got {m.group(3)}"
    m = _CONVERT.search(msg)
    if m:
        kind = m.group(1)
        kind = "date-time" if kind.startswith("timestamp") else kind
        return f"cannot read {m.group(2)[:80]!r} as {kind}"
    return msg.split("\n", 1)[0][:200]


# The pages' Arrow arrays come from the C library's allocator rather than Arrow's default
# (mimalloc): these are the largest and shortest-lived allocations of a catalog (each
# page's, until its batch is copied into polars), and the system allocator hands such
# blocks back or reuses them where mimalloc kept them mapped.  Chosen here, for our reads
# only, so the rest of the process keeps its own pool (measured: peak memory for 100,000
# models down by about 5%, time unchanged; see bench/results/frames.md).
_POOL = pa.system_memory_pool()


def _read(body: bytes, schema: pa.Schema) -> pa.Table:
    opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 16, len(body) + 16))
    parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                            newlines_in_values=b"\n" in body)
    return pj.read_json(pa.BufferReader(body), read_options=opts, parse_options=parse,
                        memory_pool=_POOL)


# Top-level keys whose values Python reads itself: the recursive inputs and the objects that
# hold json leaves.  Everything else must be typed (no json leaf inside a list of objects).
_SPAN_KEYS: tuple[str, ...] = tuple(sorted({_INPUT_RECURSIVE} | set(_MODEL_JSON_ROOTS)))
_SPAN_NEEDLES = tuple((key, b'"' + key.encode() + b'":') for key in _SPAN_KEYS)
_FAST_OK = all(not item.json for _k, item, _t in MODEL_LEVEL.lists)
_MODEL_OBJS = dict(MODEL_LEVEL.objs)
PAGE_SCHEMA_FULL = pa.schema([pa.field("models", pa.list_(MODEL_ARROW)),
                              pa.field("nextPaginationToken", pa.string())])


@dataclass
class PageRead:
    """What the worker thread learns from a page's bytes alone (no Python objects)."""

    typed: pa.StructArray | BaseException  # the models, or the reader's error
    envelope_keys: int = 0  # keys of the page object the fast path accounts for
    key_ends: Any = None  # positions of '":' in the body, ascending (one per key)
    spaced_colon: bool = True  # some colon follows whitespace: key counting is unsafe
    hits: list[tuple[int, str, int]] = field(default_factory=list)  # (pos, key, width)
    escaped_hit: bool = False  # a span key right after a backslash: ambiguous


def read_page(body: bytes) -> PageRead:
    """Typed models of one page body plus byte counts for the fast path (never raises)."""
    try:
        table = _read(body, PAGE_SCHEMA_FULL)
        col = table.column("models")
        if col.null_count or len(col) != 1:
            return PageRead(ValueError("page has no models list"))
        typed = col.chunk(0).flatten() if col.num_chunks == 1 else pa.concat_arrays(
            [c.flatten() for c in col.chunks])
    except Exception as exc:  # noqa: BLE001 - reported, then the exact path decides
        return PageRead(exc)
    a = np.frombuffer(body, np.uint8)
    colons = np.flatnonzero(a[1:] == 58)  # positions just before each ':'
    before = a[colons]
    key_ends = colons[before == 34]  # '":' (position of the quote)
    spaced = bool(np.any(before <= 32))  # whitespace (or control) before a ':'
    token = table.column("nextPaginationToken").null_count == 0
    read = PageRead(typed, 1 + int(token), key_ends, spaced)
    # Where the keys Python reads itself start: '"inputs":', '"uiConfig":' ...
    hits: list[tuple[int, str, int]] = []
    ends = key_ends[key_ends >= 16]  # no span key this early: the page starts '{"models":[{'
    last = a[ends - 1]  # the last character of each key
    for key, needle in _SPAN_NEEDLES:
        n = len(needle) - 1  # '"key"' before the colon
        cand = ends[last == needle[n - 2]]
        for j in range(1, n - 1):  # compare the other bytes before the closing quote
            cand = cand[a[cand - 1 - j] == needle[n - 2 - j]]
            if not len(cand):
                break
        else:
            starts = cand - (n - 1)
            if len(starts) and np.any(a[np.maximum(starts - 1, 0)] == 0x5C):
                read.escaped_hit = True
            hits.extend((int(p), key, n + 1) for p in starts)
    hits.sort()
    read.hits = hits
    return read


def read_page_models(body: bytes) -> pa.StructArray | BaseException:
    """Typed models of one page body, or the reader's error (never raises)."""
    return read_page(body).typed


def _table_struct(table: pa.Table, typ: pa.StructType) -> pa.StructArray:
    arr = table.to_struct_array()
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return pa.nulls(0, typ)  # not pa.array: that loads pandas
    return arr


def read_lines(lines: list[bytes], schema: pa.Schema, typ: pa.StructType) -> pa.StructArray:
    """Read newline-delimited JSON objects known to be valid."""
    if not lines:
        return pa.nulls(0, typ)
    return _table_struct(_read(b"\n".join(lines), schema), typ)


def check_line(line: bytes, schema: pa.Schema) -> str | None:
    """None when one JSON object reads under ``schema``, else the reason."""
    try:
        _read(line, schema)
    except Exception as exc:  # noqa: BLE001
        return arrow_reason(exc)
    return None


# ---------------------------------------------------------------------------------------------
# Per-page result
# ---------------------------------------------------------------------------------------------


class _Done:
    """A finished 'future' for work run in the calling thread."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


def _run_now(fn: Callable[..., Any], *args: Any) -> _Done:
    return _Done(fn(*args))


@dataclass
class PageOut:
    """What one page contributes: typed models, their record ids, and the side rows."""

    models: pa.StructArray | None = None  # kept records only
    rids: list[int] = field(default_factory=list)  # global record id of each kept record
    rejects: list[tuple[int | None, int | None, str | None, str, str]] = field(default_factory=list)
    ui_json: list[tuple[Any, ...]] = field(default_factory=list)  # (rid, *json texts)
    extras: dict[str, dict[tuple, dict]] = field(default_factory=dict)  # table -> owner -> extra
    epoch_assets: dict[tuple[int, int], int] = field(default_factory=dict)  # (rid,pos) -> n
    n_records: int = 0
    # Inputs are read in the background; ``resolve_inputs`` collects them.
    inputs_future: Any = None
    input_rows: list[dict] = field(default_factory=list)
    input_owner: list[int] = field(default_factory=list)  # record index of each input row
    input_where: list[tuple[str, int]] = field(default_factory=list)  # its place, for reasons
    input_records: dict[int, dict] = field(default_factory=dict)  # record index -> record
    body: bytes | None = None  # kept until the inputs are resolved (raw text of late rejects)
    inputs: pa.StructArray | None = None  # set by resolve_inputs
    late: set[int] = field(default_factory=set)  # rids refused by resolve_inputs
    page: int | None = None
    rid0: int = 0
    index0: int = 0
    indexes: list[int] | None = None  # reject index of each record, when not index0 + i

    def index_of(self, i: int) -> int:
        """The reject index of the page's record ``i``."""
        return self.indexes[i] if self.indexes is not None else self.index0 + i


def _put_extra(out: dict[str, dict[tuple, dict]], table: str, owner: tuple,
               path: tuple[str, ...], unknown: dict) -> None:
    node = out.setdefault(table, {}).setdefault(owner, {})
    for key in path:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node.update(unknown)


def _children(arr: pa.Array) -> dict[str, pa.Array]:
    """Fields of a struct array by name, with the parent's nulls applied."""
    return dict(zip(arr.type.names, arr.flatten(), strict=True))


def has_unknown(level: Level, dicts: list[dict], arr: pa.StructArray) -> bool:
    """Whether any object below ``level`` holds a key the schema does not know.

    Counting, not looking: the keys of the objects (``len`` of each dict, C-level) must equal
    the non-null values Arrow read for the known fields (``null_count``, O(1)).  Equal counts
    prove there is no stranger; otherwise (an unknown key, or a known key set to null) one
    set union settles it.  ``dicts`` must have passed the typed read; ``arr`` holds their
    values (null entries allowed: they add no values).
    """
    if not dicts:
        return False
    kids = _children(arr)
    n_keys = sum(map(len, dicts))
    for key in level.excluded:
        n_keys -= sum(map(dict.__contains__, dicts, repeat(key)))
    n_values = sum(len(c) - c.null_count for c in kids.values())
    if n_keys != n_values and not set().union(*dicts) <= level.known:
        return True
    for key, sub in level.objs:
        objs = list(filter(None, map(dict.get, dicts, repeat(key))))
        if objs and has_unknown(sub, objs, kids[key]):
            return True
    for key, item, _table in level.lists:
        items = list(filter(None, chain.from_iterable(filter(None, map(dict.get, dicts, repeat(key))))))
        if not items:
            continue
        values = kids[key].flatten()  # null items only add nulls: no need to drop them
        if has_unknown(item, items, values):
            return True
        if item.nested is not None:
            nkey, nlevel = item.nested
            nested = list(filter(None, chain.from_iterable(
                filter(None, map(dict.get, items, repeat(nkey))))))
            if nested and has_unknown(nlevel, nested, _children(values)[nkey].flatten()):
                return True
    return False


def arrow_key_count(arr: pa.StructArray, level: Level, skip: frozenset[str] = frozenset()) -> int:
    """Keys with a non-null value that Arrow read below ``level`` (subtrees in ``skip`` count
    as one key each and are not entered)."""
    kids = _children(arr)
    total = sum(len(c) - c.null_count for c in kids.values())
    for key, sub in level.objs:
        if key not in skip:
            total += arrow_key_count(kids[key], sub)
    for key, item, _table in level.lists:
        if key in skip:
            continue
        values = kids[key].flatten()
        total += arrow_key_count(values, item)
        if item.nested is not None:
            nkey, nlevel = item.nested
            total += arrow_key_count(_children(values)[nkey].flatten(), nlevel)
    return total


def scan_unknown(level: Level, table: str, dicts: list[dict], owners: list[tuple],
                 path: tuple[str, ...], out: PageOut) -> None:
    """Record every key unknown to ``level`` under its owner row, descending into known
    objects and lists (run only where a stranger was seen)."""
    if not dicts:
        return
    known = level.known
    if not set().union(*dicts) <= known:
        for d, owner in zip(dicts, owners, strict=True):
            if not d.keys() <= known:
                _put_extra(out.extras, table, owner, path,
                           {k: v for k, v in d.items() if k not in known})
    for key, sub in level.objs:
        pairs = [(d[key], o) for d, o in zip(dicts, owners, strict=True)
                 if type(d.get(key)) is dict]
        if pairs:
            scan_unknown(sub, table, [p[0] for p in pairs], [p[1] for p in pairs],
                         path + (key,), out)
    for key, item, child_table in level.lists:
        sd: list[dict] = []
        so: list[tuple] = []
        nested_d: list[dict] = []
        nested_o: list[tuple] = []
        for d, o in zip(dicts, owners, strict=True):
            items = d.get(key)
            if type(items) is not list:
                continue
            rid = o[0]
            for pos, it in enumerate(items):
                if type(it) is not dict:
                    continue
                sd.append(it)
                so.append((rid, pos))
                if item.nested is not None:
                    sub_items = it.get(item.nested[0])
                    n = len(sub_items) if type(sub_items) is list else 0
                    out.epoch_assets[(rid, pos)] = n
                    for apos in range(n):
                        if type(sub_items[apos]) is dict:
                            nested_d.append(sub_items[apos])
                            nested_o.append((rid, pos, apos))
        if sd:
            scan_unknown(item, child_table, sd, so, (), out)
        if nested_d and item.nested is not None:
            scan_unknown(item.nested[1], child_table, nested_d, nested_o, (item.nested[0],), out)


def _get_path(d: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(d) is not dict:
            return None
        d = d.get(key)
    return d


def _json_text(value: Any) -> str | None:
    return None if value is None else dumps(value)


# json leaves of an input: at its top level, and inside its objects (``required``).
_IN_TOP_JSON = tuple((p[0], f"_j{i}") for i, (p, _k) in enumerate(INPUT_LEVEL.json) if len(p) == 1)
_IN_OBJ_JSON = {key: tuple((p[1], f"_j{i}") for i, (p, _k) in enumerate(INPUT_LEVEL.json)
                           if len(p) == 2 and p[0] == key)
                for key, _lvl in INPUT_LEVEL.objs}
_IN_KNOWN = INPUT_LEVEL.known


def flatten_inputs(rid: int, inputs: list, parent: str | None, prefix: str,
                   rows: list[dict], where: list[tuple[str, int]], depth: int = 0) -> str | None:
    """Flatten one list of inputs (and nested inputs_array members) into private rows.

    Returns a reason when the structure itself is wrong (an item that is not an object,
    members that are not a list); typed leaves are checked by the Arrow reader.
    """
    if depth > 32:
        return f"{prefix}: inputs nested deeper than 32 levels"
    for pos, inp in enumerate(inputs):
        if inp is None:
            rows.append({"_rid": rid, "_pos": pos, "_parent": parent})
            where.append((prefix, pos))
            continue
        if type(inp) is not dict:
            return f"{prefix}[{pos}]: expected an object, got {json_type(inp)}"
        clean = inp.keys() <= _IN_KNOWN
        row = dict(inp) if clean else {k: v for k, v in inp.items() if k in _IN_KNOWN}
        members = row.pop(_INPUT_RECURSIVE, None)
        extra = None if clean else {k: v for k, v in inp.items() if k not in _IN_KNOWN}
        for key, col in _IN_TOP_JSON:
            value = row.pop(key, None)
            if value is not None:
                row[col] = dumps(value)
        for key, leaves in _IN_OBJ_JSON.items():
            obj = row.get(key)
            if type(obj) is dict:
                sub_known = _INPUT_OBJS[key].known
                obj = dict(obj) if obj.keys() <= sub_known else {
                    k: v for k, v in obj.items() if k in sub_known}
                for leaf, col in leaves:
                    value = obj.pop(leaf, None)
                    if value is not None:
                        row[col] = dumps(value)
                row[key] = obj
                raw_obj = inp[key]
                if not raw_obj.keys() <= sub_known:
                    extra = extra or {}
                    extra[key] = {k: v for k, v in raw_obj.items() if k not in sub_known}
        default = inp.get("default")
        t = type(default)
        if t is bool:
            row["_dbool"] = default
        elif t is int or t is float:
            row["_dnum"] = default
        elif t is str:
            row["_dstr"] = default
        row["_rid"], row["_pos"], row["_parent"] = rid, pos, parent
        if extra:
            row["_extra"] = dumps(extra)
        rows.append(row)
        where.append((prefix, pos))
        if members is not None:
            here = f"{prefix}[{pos}].{_INPUT_RECURSIVE}"
            if type(members) is not list:
                return f"{here}: expected an array, got {json_type(members)}"
            name = inp.get("name")
            why = flatten_inputs(rid, members, name if type(name) is str else None,
                                 here, rows, where, depth + 1)
            if why:
                return why
    return None


def _read_input_rows(body: bytes) -> pa.StructArray | BaseException:
    try:
        col = _read(body, INPUT_ROWS_SCHEMA).column("rows")
        return pa.concat_arrays([c.flatten() for c in col.chunks])
    except Exception as exc:  # noqa: BLE001 - the rows are then checked one by one
        return exc


def _add_inputs(out: PageOut, i: int, inputs: Any, rows: list[dict],
                where: list[tuple[str, int]]) -> str | None:
    """Flatten the inputs of the page's record ``i``; a reason when they are malformed."""
    if type(inputs) is not list:
        return f"inputs: expected an array, got {json_type(inputs)}"
    start = len(rows)
    why = flatten_inputs(out.rid0 + i, inputs, None, "inputs", rows, where)
    if why:
        del rows[start:]
        del where[start:]
        return why
    out.input_owner.extend([i] * (len(rows) - start))
    return None


def _submit_inputs(out: PageOut, rows: list[dict], where: list[tuple[str, int]],
                   submit: Callable[..., Any]) -> None:
    if rows:
        out.input_rows = rows
        out.input_where = where
        body = b'{"rows":[' + b",".join(map(to_json, rows)) + b"]}"
        out.inputs_future = submit(_read_input_rows, body)


def resolve_inputs(out: PageOut) -> None:
    """Collect the page's input rows; refuse the records whose inputs do not read.

    Sets ``out.inputs`` and ``out.late`` (global ids of records refused here, added to
    ``out.rejects``; the caller drops them from the tables), then forgets the page body.
    """
    if out.inputs_future is None:
        out.body = None
        return
    res = out.inputs_future.result()
    out.inputs_future = None
    if not isinstance(res, BaseException):
        out.inputs = res
        out.input_rows = []
        out.body = None
        return
    late: dict[int, str] = {}
    lines: list[bytes] = []
    owners: list[int] = []
    for row, i, where in zip(out.input_rows, out.input_owner, out.input_where, strict=True):
        line = to_json(row)
        why = check_line(line, INPUT_ROW_SCHEMA)
        if why and i not in late:
            late[i] = f"{where[0]}[{where[1]}]: {why}"
        lines.append(line)
        owners.append(i)
    out.inputs = read_lines([ln for ln, i in zip(lines, owners, strict=True) if i not in late],
                            INPUT_ROW_SCHEMA, INPUT_ROW_ARROW)
    records: list = []
    if late and out.body is not None and not all(i in out.input_records for i in late):
        records = loads(out.body)["models"]
    for i, why in sorted(late.items()):
        rec = out.input_records.get(i)
        if rec is None:
            rec = records[i]
        out.rejects.append((out.page, out.index_of(i), rec.get("id"), why, safe_dumps(rec)))
    out.late = {out.rid0 + i for i in late}
    out.input_rows = []
    out.body = None


def _page_level_reject(page: int | None, reason: str, raw: str) -> PageOut:
    return PageOut(rejects=[(page, None, None, reason, raw)], page=page)


# ---------------------------------------------------------------------------------------------
# Fast path: the page read by Arrow, Python only for custom models' inputs and uiConfig
# ---------------------------------------------------------------------------------------------

_TRAILING = "unexpected content after document"


def _value_at(mv: memoryview, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at byte ``start`` and the byte just past it, or None.

    orjson parses a bounded window (grown until the value fits) and reports where the
    value ended through its 'unexpected content' error; nothing after the window is read.
    """
    size = len(mv)
    window = 8192
    while True:
        stop = min(size, start + window)
        while stop < size and 0x80 <= mv[stop] < 0xC0:  # do not cut a UTF-8 sequence
            stop -= 1
        chunk = mv[start:stop]
        try:
            return orjson.loads(chunk), stop
        except orjson.JSONDecodeError as exc:
            if _TRAILING not in exc.msg:
                if stop >= size:
                    return None
                window *= 4
                continue
            chars = exc.pos
        raw = bytes(chunk)
        if raw.isascii():
            end = start + chars
        else:
            end = start + len(raw.decode("utf-8", "ignore")[:chars].encode())
        # exc.pos points past trailing whitespace; the value ends before it
        while end > start and mv[end - 1] in b" \t\r\n":
            end -= 1
        try:
            return orjson.loads(mv[start:end]), end
        except orjson.JSONDecodeError:
            return None


def fast_page(body: bytes, read: PageRead, page: int | None, rid0: int,
              submit: Callable[..., Any]) -> PageOut | None:
    """Materialize a page without decoding it into Python objects, or None (exact path).

    Unknown keys are ruled out by counting: every key ends with the two bytes '":' (a quote
    inside a string is escaped, and the reader proved the page is JSON), so the number of
    '":' in the body equals the keys Arrow read with a non-null value, plus the page
    object's own keys, plus the keys inside the values Python reads itself (``inputs``,
    ``uiConfig``).  Any difference - an unknown key, a key set to null, an escaped quote
    followed by a colon inside a string - sends the page to the exact path.  Pages with
    whitespace before a colon anywhere are sent there too, since the count would miss keys.
    """
    typed = read.typed
    if (not _FAST_OK or isinstance(typed, BaseException) or read.spaced_colon
            or read.escaped_hit):
        return None
    n = len(typed)
    if typed.null_count:
        return None
    kids = _children(typed)
    ids = kids["id"]
    if ids.null_count or (n and pc.min(pc.binary_length(ids)).as_py() == 0):
        return None
    # Values Python reads itself, in byte order; nested occurrences fall inside a span.
    key_ends = read.key_ends
    mv = memoryview(body)
    spans: dict[str, list[tuple[Any, int, int]]] = {key: [] for key in _SPAN_KEYS}
    inner_keys = 0
    last_end = -1
    for pos, key, width in read.hits:
        if pos < last_end:
            continue
        got = _value_at(mv, pos + width)
        if got is None:
            return None
        value, end = got
        spans[key].append((value, pos + width, end))
        lo, hi = np.searchsorted(key_ends, (pos + width, end))
        inner_keys += int(hi - lo)
        last_end = end
    holders: dict[str, list[int]] = {}
    for key in _SPAN_KEYS:
        idx = pc.indices_nonzero(kids[key].is_valid()).to_pylist()
        if len(idx) != len(spans[key]):
            return None  # a key written elsewhere, or set to null: let the exact path decide
        holders[key] = idx
    expected = read.envelope_keys + arrow_key_count(typed, MODEL_LEVEL, frozenset(_SPAN_KEYS))
    if len(key_ends) - inner_keys != expected:
        return None

    out = PageOut(page=page, rid0=rid0, n_records=n, models=typed,
                  rids=list(range(rid0, rid0 + n)))
    # uiConfig-like objects: json leaves and unknown keys.
    texts_by_rid: dict[int, list] = {}
    for key in _SPAN_KEYS:
        if key == _INPUT_RECURSIVE:
            continue
        level = _MODEL_OBJS[key]
        dicts, owners = [], []
        for i, (value, _s, _e) in zip(holders[key], spans[key], strict=True):
            if type(value) is not dict:
                return None
            dicts.append(value)
            owners.append((rid0 + i,))
            # every span key but the inputs holds json leaves (_SPAN_KEYS)
            rec_view = {key: value}
            texts = [_json_text(_get_path(rec_view, path)) if path[0] == key else None
                     for path, _ in MODEL_LEVEL.json]
            prev = texts_by_rid.setdefault(rid0 + i, [None] * len(texts))
            for j, t in enumerate(texts):
                if t is not None:
                    prev[j] = t
        scan_unknown(level, "models", dicts, owners, (key,), out)
    out.ui_json = [(rid, *texts) for rid, texts in sorted(texts_by_rid.items())
                   if any(t is not None for t in texts)]
    # Inputs of custom models.
    rows: list[dict] = []
    where: list[tuple[str, int]] = []
    for i, (value, _s, _e) in zip(holders[_INPUT_RECURSIVE], spans[_INPUT_RECURSIVE], strict=True):
        why = _add_inputs(out, i, value, rows, where)
        if why:
            return None  # the exact path words the reject
    if rows:
        out.body = body
    _submit_inputs(out, rows, where, submit)
    return out


# ---------------------------------------------------------------------------------------------
# Exact path: the page decoded into Python objects
# ---------------------------------------------------------------------------------------------


def process_page(body: bytes | None, records: list | None, page: int | None, rid0: int,
                 typed: pa.StructArray | BaseException | None, *, index0: int = 0,
                 indexes: list[int] | None = None,
                 submit: Callable[..., Any] = _run_now) -> PageOut:
    """Materialize one page from its decoded records (the exact path; never raises).

    ``records`` are the page's decoded models (``None``: parse ``body`` here); ``typed`` is
    the Arrow read of the same page (``None``: read it here).  Record ``i`` of the page gets
    the global record id ``rid0 + i`` and the reject index ``index0 + i`` (or
    ``indexes[i]``).  ``submit`` runs the Arrow read of the inputs.
    """
    if records is None:
        assert body is not None
        try:
            doc = loads(body)
        except orjson.JSONDecodeError as exc:
            return _page_level_reject(page, f"page is not valid JSON: {exc}",
                                      body.decode("utf-8", "replace"))
        if type(doc) is not dict or type(doc.get("models")) is not list:
            what = "no models list" if type(doc) is dict else f"{json_type(doc)}, not an object"
            return _page_level_reject(page, f"page has {what}", body.decode("utf-8", "replace"))
        records = doc["models"]
    out = PageOut(page=page, rid0=rid0, index0=index0, indexes=indexes)
    n = out.n_records = len(records)
    bad: dict[int, str] = {}
    for i, rec in enumerate(records):
        if type(rec) is not dict:
            bad[i] = f"record is {json_type(rec)}, not an object"
            continue
        mid = rec.get("id")
        if type(mid) is not str:
            bad[i] = "no id" if mid is None else f"id is {json_type(mid)}, not a string"
        elif not mid:
            bad[i] = "id is empty"

    # Typed read: the page read, or record by record when it failed.
    if typed is None and body is not None:
        typed = read_page_models(body)
    if typed is None or isinstance(typed, BaseException) or len(typed) != n:
        lines: dict[int, bytes] = {}
        for i, rec in enumerate(records):
            if i in bad:
                continue
            line = to_json(rec)
            why = check_line(line, RECORD_SCHEMA)
            if why:
                bad[i] = why
            else:
                lines[i] = line
        typed = read_lines(list(lines.values()), RECORD_SCHEMA, MODEL_ARROW)
        typed_index = list(lines)
    else:
        typed_index = list(range(n))

    # Inputs of custom models: flattened here, typed by the same strict reader.
    rows: list[dict] = []
    where: list[tuple[str, int]] = []
    for i, rec in enumerate(records):
        if i in bad or type(rec) is not dict or rec.get(_INPUT_RECURSIVE) is None:
            continue
        why = _add_inputs(out, i, rec[_INPUT_RECURSIVE], rows, where)
        if why:
            bad[i] = why
        else:
            out.input_records[i] = rec
    _submit_inputs(out, rows, where, submit)

    # Rejects, kept records.
    for i, why in sorted(bad.items()):
        rec = records[i]
        mid = rec.get("id") if type(rec) is dict else None
        out.rejects.append((page, out.index_of(i), mid if type(mid) is str else None, why,
                            safe_dumps(rec)))
    if bad:
        keep = np.fromiter((i not in bad for i in typed_index), bool, len(typed_index))
        typed = typed.filter(_bool_mask(keep))
        typed_index = [i for i in typed_index if i not in bad]
    out.models = typed
    out.rids = [rid0 + i for i in typed_index]

    good = [records[i] for i in typed_index] if len(typed_index) != n else records
    # JSON text of the free-form fields of the models table (under uiConfig).
    holders: set[int] = set()
    for root in _MODEL_JSON_ROOTS:  # records whose object holds json leaves, found by Arrow
        holders.update(pc.indices_nonzero(typed.field(root).is_valid()).to_pylist())
    for j in sorted(holders):
        rec = good[j]
        texts = [_json_text(_get_path(rec, path)) for path, _ in MODEL_LEVEL.json]
        if any(t is not None for t in texts):
            out.ui_json.append((out.rids[j], *texts))
    # Unknown keys, at every level the schema describes.
    if has_unknown(MODEL_LEVEL, good, typed):
        scan_unknown(MODEL_LEVEL, "models", good, [(r,) for r in out.rids], (), out)
    return out


# ---------------------------------------------------------------------------------------------
# Driving pages
# ---------------------------------------------------------------------------------------------


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return bytes(body)


def page_output(raw: Any, page: int | None, rid0: int, *, fast: bool = True) -> PageOut:
    """One page from start to finish in the calling thread, inputs resolved (never raises).

    The page-at-a-time twin of ``iter_page_outputs``, for callers that run pages in their
    own threads as they arrive (``frames.CatalogBuilder``): same reads, same paths, same
    rules, so a page gives the same output either way.
    """
    if not isinstance(raw, bytes | bytearray | memoryview | str):
        return _page_level_reject(page, f"page is {type(raw).__name__}, not bytes or str",
                                  safe_dumps(repr(raw)[:10_000]))
    body = _as_bytes(raw)
    read = read_page(body)
    out = fast_page(body, read, page, rid0, _run_now) if fast else None
    if out is None:
        out = process_page(body, None, page, rid0, read.typed)
    resolve_inputs(out)
    return out


def iter_page_outputs(pages: Iterable[Any], *, workers: int = 2,
                      fast: bool = True) -> Iterator[PageOut]:
    """Process pages in order.

    Worker threads run the Arrow reads (pages ahead of the one in Python, and each page's
    inputs); Arrow and numpy release the GIL, so the cores work together.  A page is yielded
    once the next one is under way and its own inputs are resolved.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="frames-read") as pool:
        it = iter(enumerate(pages))
        ahead: deque[tuple[int, Any, Future | None]] = deque()

        def fill() -> None:
            while len(ahead) < workers + 1:
                nxt = next(it, None)
                if nxt is None:
                    return
                page_no, raw = nxt
                if not isinstance(raw, bytes | bytearray | memoryview | str):
                    ahead.append((page_no, raw, None))
                    continue
                body = _as_bytes(raw)
                ahead.append((page_no, body, pool.submit(read_page, body)))

        rid0 = 0
        prev: PageOut | None = None
        fill()
        while ahead:
            page_no, body, fut = ahead.popleft()
            fill()
            if fut is None:
                out = _page_level_reject(page_no, f"page is {type(body).__name__}, not bytes or str",
                                         safe_dumps(repr(body)[:10_000]))
            else:
                read = fut.result()
                out = fast_page(body, read, page_no, rid0, pool.submit) if fast else None
                if out is None:
                    out = process_page(body, None, page_no, rid0, read.typed, submit=pool.submit)
            rid0 += out.n_records
            if prev is not None:
                resolve_inputs(prev)
                yield prev
            prev = out
        if prev is not None:
            resolve_inputs(prev)
            yield prev


def records_pages(records: Iterable[object], chunk: int = 500) -> Iterator[PageOut]:
    """Process decoded records in chunks through the exact path (no byte tricks)."""
    buf: list[object] = []
    start = 0
    for rec in records:
        buf.append(rec)
        if len(buf) >= chunk:
            yield _records_chunk(buf, start)
            start += len(buf)
            buf = []
    if buf:
        yield _records_chunk(buf, start)


def _records_chunk(buf: list[object], start: int) -> PageOut:
    try:
        body = orjson.dumps({"models": buf})
    except (TypeError, orjson.JSONEncodeError):
        body = None
    if body is not None:
        out = process_page(body, None, None, start, None, index0=start)
        resolve_inputs(out)
        return out
    # Some record is not JSON: refuse those, run the rest.
    fine: list[bytes] = []
    where: list[int] = []
    rejects = []
    for i, rec in enumerate(buf):
        try:
            fine.append(to_json(rec))
        except TypeError as exc:
            mid = rec.get("id") if isinstance(rec, dict) else None
            rejects.append((None, start + i, mid if isinstance(mid, str) else None,
                            f"record is not JSON-serializable: {exc}", safe_dumps(rec)))
        else:
            where.append(i)
    out = PageOut()
    if fine:
        body = b'{"models":[' + b",".join(fine) + b"]}"
        out = process_page(body, None, None, start, None, indexes=[start + i for i in where])
        resolve_inputs(out)
    out.rejects.extend(rejects)
    out.rejects.sort(key=lambda r: -1 if r[1] is None else r[1])
    return out
