"""Pages of ``GET /models`` into Arrow arrays and side rows: the engine behind ``tables.catalog``.

One route per record, decided per record (``decode`` shows why the choice is safe):

* **Typed read.**  Arrow's C++ JSON reader reads the page bytes against an explicit Arrow type
  derived from ``schema.MODEL`` (every known leaf but the free-form ``json`` ones; the recursive
  ``inputs`` only as a marker).  It is strict about JSON types, parses ISO dates itself and
  runs without the GIL.  Every kept record's values come from this read, on either route.
* **Fast route** (most records): ``decode``'s compiled pass walks the record's keys against
  the tree of known keys and finds no unknown key and no field Python must read; nothing
  more is done for it.
* **Exact route** (the others, one by one): the members of the record that need Python
  (``decode.Fields.need``; the whole record when its keys cannot be matched) are decoded
  by orjson (``loads_exact``: integers beyond 64 bits kept exactly, a repeated key a reject),
  their unknown keys gathered for ``extra`` at every level, their ``json`` leaves written as
  text and the ``inputs`` flattened (then read by the same strict Arrow reader).
  ``decode_page(..., fast=False)`` decodes every record whole this way: the oracle the tests
  compare the fast route against.
* **A bad record costs one record.**  A record that is not an object, has no usable id, is
  nested deeper than ``decode.MAX_DEPTH``, larger than ``decode.MAX_RECORD_BYTES``, not JSON,
  or holds a value of a type its column cannot take is a reject with the reason; when the
  page's typed read fails, its records are read again in halves until each failing one stands
  alone.  The one exception: a page the compiled pass cannot cut (an envelope key written
  with an escape, or no extension built) is read whole, and one nested about 1,000 levels or
  deeper, beyond what the parsers that read a page whole go, is one reject.

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
import gc
import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from .. import schema as S
from . import decode as D

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
                fields.append(
                    pa.field(
                        node.nested.key, pa.list_(pa.struct(_arrow_fields(node.nested.fields)))
                    )
                )
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


def _level(
    nodes: tuple[S.Node, ...], *, skip_recursive: bool = True, json_path: tuple[str, ...] = ()
) -> Level:
    objs: list[tuple[str, Level]] = []
    lists: list[tuple[str, Level, str]] = []
    json: list[tuple[tuple[str, ...], str]] = []
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
                item = dataclasses.replace(
                    item,
                    known=item.known | {node.nested.key},
                    nested=(node.nested.key, _level(node.nested.fields)),
                )
            lists.append((node.key, item, node.table))
        elif node.kind == "json":
            json.append((json_path + (node.key,), node.key))
    return Level(frozenset(n.key for n in nodes), tuple(objs), tuple(lists), None, tuple(json))


MODEL_ARROW: pa.StructType = pa.struct(_arrow_fields(S.MODEL.fields))


def _bool_mask(values: np.ndarray) -> pa.BooleanArray:
    """A boolean Arrow array from a numpy one, built from its bits: ``pa.array`` would load
    pandas through pyarrow's shim (see ``frames._list_lengths``)."""
    bits = pa.py_buffer(np.packbits(values, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])


RECORD_SCHEMA = pa.schema(list(MODEL_ARROW))
MODEL_LEVEL: Level = _level(S.MODEL.fields)

_INPUTS_NODE: S.ListOf = next(
    n for n in S.MODEL.fields if isinstance(n, S.ListOf) and n.recursive is not None
)
_INPUT_RECURSIVE = _INPUTS_NODE.recursive or "inputs"
_lvl = _level(_INPUTS_NODE.fields)
INPUT_LEVEL: Level = dataclasses.replace(_lvl, known=_lvl.known | {_INPUT_RECURSIVE})
# Private columns of a flattened input row, next to the typed fields.
INPUT_ROW_ARROW: pa.StructType = pa.struct(
    _arrow_fields(tuple(n for n in _INPUTS_NODE.fields if not isinstance(n, S.ListOf)))
    + [pa.field(f"_j{i}", _STR) for i in range(len(INPUT_LEVEL.json))]
    + [
        pa.field("_rid", pa.int64()),
        pa.field("_pos", pa.int32()),
        pa.field("_parent", _STR),
        pa.field("_extra", _STR),
        pa.field("_dnum", pa.float64()),
        pa.field("_dstr", _STR),
        pa.field("_dbool", pa.bool_()),
    ]
)
INPUT_ROWS_SCHEMA = pa.schema([pa.field("rows", pa.list_(INPUT_ROW_ARROW))])
INPUT_ROW_SCHEMA = pa.schema(list(INPUT_ROW_ARROW))
# Top-level keys whose subtree holds json leaves of the models table (uiConfig).
_MODEL_JSON_ROOTS = frozenset(path[0] for path, _ in MODEL_LEVEL.json)

_JSON_TYPE = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


# A run of 19 digits may be an integer orjson reads as a float (beyond -2**63 .. 2**64-1).
# Found by mapping every digit to "0" (bytes.translate, C speed) and searching for 19 of them.
_DIGITS_TO_ZERO = bytes(48 if 48 <= b <= 57 else 120 for b in range(256))
_LONG_RUN = b"0" * 19


def has_long_digits(raw: bytes) -> bool:
    """Whether ``raw`` holds a run of 19 or more digits (a possible integer beyond 64 bits)."""
    return raw.translate(_DIGITS_TO_ZERO).find(_LONG_RUN) >= 0


def loads_checked(raw: bytes) -> tuple[Any, str | None]:
    """``raw`` (valid JSON) decoded by the stdlib (integers exact), and the first key some
    object of it repeats (None when none does)."""
    found: list[str] = []

    def pairs(kv: list[tuple[str, Any]]) -> dict:
        d = dict(kv)
        if len(d) != len(kv) and not found:
            seen: set[str] = set()
            found.append(next(k for k, _v in kv if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
        return d

    doc = json.loads(raw, object_pairs_hook=pairs)
    return doc, found[0] if found else None


def loads_exact(raw: bytes) -> Any:
    """Decode one record's bytes as orjson does (its errors, its strictness), but exactly:
    integers beyond 64 bits stay integers (the stdlib reads the record again when its bytes
    hold such digits; ``-0`` is read as ``0`` either way).  Repeated keys are found by
    ``repeated_keys``, for a page's decoded records at once."""
    rec = orjson.loads(raw)
    if has_long_digits(raw):
        rec = json.loads(raw)
    return rec


def twice_reason(raw: bytes) -> str:
    """The reject reason of a record whose bytes repeat a key (named as the stdlib finds it)."""
    return f"key {json.dumps(loads_checked(raw)[1], ensure_ascii=False)} appears twice"


def repeated_keys(recs: list[Any], colons: list[int]) -> list[int]:
    """Which decoded values lost a repeated key (positions in ``recs``).

    ``colons`` are the keys written in each value's bytes (``decode.Split.colons`` for a
    record, ``decode.Fields.colons`` for a member's value).  orjson keeps only the last value
    of a repeated key, so a value that repeated one decodes to fewer keys than were written
    (``decode.count_keys``: every dict's keys, through dicts and lists).
    """
    count = D.count_keys
    return [k for k, rec in enumerate(recs) if count(rec) != colons[k]]


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for reasons."""
    return _JSON_TYPE.get(type(value), type(value).__name__)


def to_json(value: object) -> bytes:
    """Compact JSON of a JSON-like value (key order kept); TypeError when it is not JSON
    (values nested deeper than orjson writes, about 250 levels, included)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        if "64-bit" not in str(exc):
            raise TypeError(str(exc)) from None
    try:  # an integer wider than 64 bits (kept exactly by ``loads_exact``): the stdlib writes it
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(str(exc)) from None


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
            return repr(value)[:10_000]


# ---------------------------------------------------------------------------------------------
# Reading with Arrow
# ---------------------------------------------------------------------------------------------

_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)")
_CONVERT = re.compile(
    r"Failed to convert JSON to ([^,]+(?:, tz=\w+\])?), couldn't parse:(.*)", re.S
)


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
# and for the one copy that joins a batch's page chunks (``tables.catalog._column``), so the
# rest of the process keeps its own pool (measured: peak memory for 100,000 models down by
# about 5%, time unchanged; see bench/results/frames.md).
ARROW_POOL = pa.system_memory_pool()


def _read(body: bytes, schema: pa.Schema) -> pa.Table:
    opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 16, len(body) + 16))
    parse = pj.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=b"\n" in body
    )
    return pj.read_json(
        pa.BufferReader(body), read_options=opts, parse_options=parse, memory_pool=ARROW_POOL
    )


PAGE_SCHEMA = pa.schema([pa.field("models", pa.list_(MODEL_ARROW))])


def read_lines(lines: list[bytes], schema: pa.Schema, typ: pa.StructType) -> pa.StructArray:
    """Read newline-delimited JSON objects (raises what the reader raises)."""
    if not lines:
        return pa.nulls(0, typ)
    arr = _read(b"\n".join(lines), schema).to_struct_array()
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr if len(arr) else pa.nulls(0, typ)  # not pa.array: that loads pandas


def check_line(line: bytes, schema: pa.Schema) -> str | None:
    """None when one JSON object reads under ``schema``, else the reason."""
    try:
        _read(line, schema)
    except Exception as exc:  # noqa: BLE001
        return arrow_reason(exc)
    return None


def read_page_typed(body: bytes, n: int) -> pa.StructArray | None:
    """The typed models of a whole page in one read, or None when that read fails."""
    try:
        col = _read(body, PAGE_SCHEMA).column("models")
        arrs = [c.flatten() for c in col.chunks]
        typed = arrs[0] if len(arrs) == 1 else pa.concat_arrays(arrs)
    except Exception:  # noqa: BLE001 - the records are then read in halves
        return None
    return typed if len(typed) == n and not typed.null_count else None


def read_spans(
    body: bytes, spans: list[tuple[int, int]]
) -> tuple[list[pa.StructArray], list[int], dict[int, str]]:
    """Read records (byte spans of ``body``) as one NDJSON text; when that fails, in halves.

    Returns the typed arrays in order, the indexes (into ``spans``) they hold, and the reason
    of each span that fails alone.  A bad record costs about two reads per halving (log2 of
    the page size), never its neighbours.
    """
    parts: list[pa.StructArray] = []
    held: list[int] = []
    failed: dict[int, str] = {}

    def go(lo: int, hi: int) -> None:
        try:
            arr = read_lines([body[s:e] for s, e in spans[lo:hi]], RECORD_SCHEMA, MODEL_ARROW)
            if len(arr) != hi - lo:
                raise ValueError(f"read {len(arr)} records instead of {hi - lo}")
        except Exception as exc:  # noqa: BLE001
            if hi - lo == 1:
                failed[lo] = arrow_reason(exc)
                return
            mid = (lo + hi) // 2
            go(lo, mid)
            go(mid, hi)
            return
        parts.append(arr)
        held.extend(range(lo, hi))

    if spans:
        go(0, len(spans))
    return parts, held, failed


# ---------------------------------------------------------------------------------------------
# Per-page result
# ---------------------------------------------------------------------------------------------


class _GCPause:
    """Python's cyclic collector paused while records are decoded and walked.

    The exact route creates many short-lived dicts and lists; each allocation burst makes the
    collector traverse the page's live objects again, which measured a quarter of that route's
    time.  Those objects hold no reference cycles (JSON values), so reference counting frees
    them; the collector is paused only while a page is decoded, counted across threads (the
    builder decodes several pages at once) and resumed when the last one ends, unless someone
    else had disabled it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


GC_PAUSE = _GCPause()


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
    fast_records: int = 0  # records the fast route settled (no Python objects)
    exact_records: int = 0  # records decoded and walked in Python
    inputs: pa.StructArray | None = None  # the flattened input rows of the kept records
    page: int | None = None
    rid0: int = 0
    index0: int = 0
    indexes: list[int] | None = None  # reject index of each record, when not index0 + i

    def index_of(self, i: int) -> int:
        """The reject index of the page's record ``i``."""
        return self.indexes[i] if self.indexes is not None else self.index0 + i


def _put_extra(
    out: dict[str, dict[tuple, dict]],
    table: str,
    owner: tuple,
    path: tuple[str, ...],
    unknown: dict,
) -> None:
    node = out.setdefault(table, {}).setdefault(owner, {})
    for key in path:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node.update(unknown)


def scan_unknown(
    level: Level,
    table: str,
    dicts: list[dict],
    owners: list[tuple],
    path: tuple[str, ...],
    out: PageOut,
) -> None:
    """Record every key unknown to ``level`` under its owner row, descending into known
    objects and lists (run only where a stranger was seen)."""
    if not dicts:
        return
    known = level.known
    if not set().union(*dicts) <= known:
        for d, owner in zip(dicts, owners, strict=True):
            if not d.keys() <= known:
                _put_extra(
                    out.extras, table, owner, path, {k: v for k, v in d.items() if k not in known}
                )
    for key, sub in level.objs:
        pairs = [
            (d[key], o) for d, o in zip(dicts, owners, strict=True) if type(d.get(key)) is dict
        ]
        if pairs:
            scan_unknown(
                sub, table, [p[0] for p in pairs], [p[1] for p in pairs], path + (key,), out
            )
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
                    if type(sub_items) is not list:
                        sub_items = []
                    n = len(sub_items)
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


# ---------------------------------------------------------------------------------------------
# Inputs of custom models
# ---------------------------------------------------------------------------------------------

# json leaves of an input, by path from the input: ("default",), ("required", "conditional", "values")...
_IN_JSON = tuple((path, f"_j{i}") for i, (path, _k) in enumerate(INPUT_LEVEL.json))
_IN_TOP_JSON = frozenset(path[0] for path, _c in _IN_JSON if len(path) == 1)
_IN_KNOWN = INPUT_LEVEL.known
# Keys copied into a row as they are (the typed ones); the others are json leaves, members or
# unknown keys.  Json leaves at the top of an input, by key, and those below ("required").
_IN_TYPED = _IN_KNOWN - _IN_TOP_JSON - {_INPUT_RECURSIVE}
_IN_TOP_COL = {path[0]: col for path, col in _IN_JSON if len(path) == 1}
_IN_DEEP = tuple((path, col) for path, col in _IN_JSON if len(path) > 1)
_IN_DEEP_ROOTS = frozenset(path[0] for path, _col in _IN_DEEP)


def unknown_keys(level: Level, d: dict) -> dict | None:
    """The keys of ``d`` unknown to ``level``, and those of its known objects, shaped like ``d``
    (None when there are none)."""
    out = {} if d.keys() <= level.known else {k: v for k, v in d.items() if k not in level.known}
    for key, sub in level.objs:
        value = d.get(key)
        if type(value) is dict:
            below = unknown_keys(sub, value)
            if below:
                out[key] = below
    return out or None


def flatten_inputs(
    rid: int,
    inputs: list,
    parent: str | None,
    prefix: str,
    rows: list[dict],
    where: list[tuple[str, int]],
    depth: int = 0,
) -> str | None:
    """Flatten one list of inputs (and nested inputs_array members) into private rows.

    A row holds the input's known keys (Arrow reads the typed ones and ignores the rest), its
    ``json`` leaves as text, its typed default and its unknown keys as JSON text.  Returns a
    reason when the structure itself is wrong (an item that is not an object, members that are
    not a list); typed leaves are checked by the Arrow reader.
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
        row = dict(inp)
        keys = inp.keys()
        for k in keys - _IN_TYPED:
            value = row.pop(k)
            col = _IN_TOP_COL.get(k)
            if col is not None and value is not None:
                row[col] = dumps(value)
        if not _IN_DEEP_ROOTS.isdisjoint(keys):
            for path, col in _IN_DEEP:
                value = _get_path(inp, path)
                if value is not None:
                    row[col] = dumps(value)
        default = inp.get("default")
        t = type(default)
        if t is bool:
            row["_dbool"] = default
        elif t is int or t is float:
            row["_dnum"] = default
        elif t is str:
            row["_dstr"] = default
        row["_rid"], row["_pos"], row["_parent"] = rid, pos, parent
        extra = unknown_keys(INPUT_LEVEL, inp)
        if extra:
            row["_extra"] = dumps(extra)
        rows.append(row)
        where.append((prefix, pos))
        members = inp.get(_INPUT_RECURSIVE)
        if members is not None:
            here = f"{prefix}[{pos}].{_INPUT_RECURSIVE}"
            if type(members) is not list:
                return f"{here}: expected an array, got {json_type(members)}"
            name = inp.get("name")
            why = flatten_inputs(
                rid, members, name if type(name) is str else None, here, rows, where, depth + 1
            )
            if why:
                return why
    return None


def _add_inputs(
    rid: int, inputs: Any, rows: list[dict], where: list[tuple[str, int]]
) -> str | None:
    """Flatten one record's inputs onto ``rows``; a reason (and nothing added) when malformed."""
    if type(inputs) is not list:
        return f"inputs: expected an array, got {json_type(inputs)}"
    start = len(rows)
    why = flatten_inputs(rid, inputs, None, "inputs", rows, where)
    if why:
        del rows[start:]
        del where[start:]
    return why


def read_inputs(
    rows: list[dict], owner: list[int], where: list[tuple[str, int]]
) -> tuple[pa.StructArray | None, dict[int, str]]:
    """The typed input rows of a page, and the records refused because theirs do not read.

    ``owner`` gives the record of each row, ``where`` its place (for the reason).  All rows
    are read at once by the strict Arrow reader; when that fails, each row is checked alone,
    the records holding a bad one are refused (by record, with the first reason) and the rows
    of the others are read.
    """
    if not rows:
        return None, {}
    lines: list[bytes] | None = None
    try:  # all rows written in one call; an integer too wide for orjson: row by row
        body = orjson.dumps({"rows": rows})
    except (TypeError, orjson.JSONEncodeError):
        lines = [to_json(row) for row in rows]
        body = b'{"rows":[' + b",".join(lines) + b"]}"
    try:
        col = _read(body, INPUT_ROWS_SCHEMA).column("rows")
        return pa.concat_arrays([c.flatten() for c in col.chunks]), {}
    except Exception:  # noqa: BLE001 - the rows are then checked one by one
        pass
    if lines is None:
        lines = [to_json(row) for row in rows]
    refused: dict[int, str] = {}
    for line, i, (prefix, pos) in zip(lines, owner, where, strict=True):
        why = None if i in refused else check_line(line, INPUT_ROW_SCHEMA)
        if why:
            refused[i] = f"{prefix}[{pos}]: {why}"
    kept = [ln for ln, i in zip(lines, owner, strict=True) if i not in refused]
    return read_lines(kept, INPUT_ROW_SCHEMA, INPUT_ROW_ARROW), refused


def _page_level_reject(page: int | None, reason: str, raw: str) -> PageOut:
    return PageOut(rejects=[(page, None, None, reason, raw)], page=page)


# ---------------------------------------------------------------------------------------------
# One page: the typed read, then one route per record
# ---------------------------------------------------------------------------------------------

# Top-level fields Python reads itself: the recursive inputs and the objects holding json leaves.
PY_ROOTS: tuple[str, ...] = tuple(sorted({_INPUT_RECURSIVE} | set(_MODEL_JSON_ROOTS)))
_PY_ROOT_SET = frozenset(PY_ROOTS)


def _span_text(body: bytes, span: tuple[int, int]) -> str:
    return body[span[0] : span[1]].decode("utf-8", "replace")


def id_problem(mid: object) -> str | None:
    """Why a record's id cannot identify it, or None: ids are exact, non-empty strings."""
    if mid is None:
        return "no id"
    if type(mid) is not str:
        return f"id is {json_type(mid)}, not a string"
    return None if mid else "id is empty"


@dataclass
class Prepared:
    """What a worker learns from a page's bytes alone (the compiled pass and Arrow, no Python
    objects)."""

    split: D.Split | None = None  # None: the page takes the whole-page route (``why``)
    why: str = ""
    bad: dict[int, str] = field(default_factory=dict)  # element -> reason, found before Python
    typed: pa.StructArray | None = None  # typed rows of the elements in ``held``
    held: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    need: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per held row: Python
    member_need: np.ndarray | None = None  # per top-level member: Python reads its value
    whole: np.ndarray | None = None  # per held row: its members cannot be matched by bytes


# The tree of known keys the compiled pass walks records by (``decode.Scanner``).
SCANNER = D.Scanner(MODEL_ARROW, _PY_ROOT_SET)


def prepare(body: bytes) -> Prepared:
    """Split a page into records, read them typed and say which need Python (never raises)."""
    split = SCANNER.split_page(body)
    if isinstance(split, str):
        return Prepared(why=split)
    envelope = D.envelope_error(body, split)
    if envelope:
        return Prepared(why=envelope)
    return _prepare_split(body, split)


def _prepare_split(body: bytes, split: D.Split) -> Prepared:
    n = len(split)
    starts, ends = split.starts, split.ends
    bad: dict[int, str] = {}
    sizes = ends - starts
    for i in np.flatnonzero(
        ~split.is_object | (split.depth > D.MAX_DEPTH) | (sizes > D.MAX_RECORD_BYTES)
    ).tolist():
        if sizes[i] > D.MAX_RECORD_BYTES:
            bad[i] = f"record is {int(sizes[i]):,} bytes; the limit is {D.MAX_RECORD_BYTES:,}"
        elif split.depth[i] > D.MAX_DEPTH:
            bad[i] = D.TOO_DEEP
        else:
            try:
                what = json_type(orjson.loads(body[starts[i] : ends[i]]))
            except orjson.JSONDecodeError as exc:
                what = f"not valid JSON ({exc})"
            bad[i] = f"record is {what}, not an object"
    typed = read_page_typed(body, n) if not bad else None
    if typed is not None:
        held = np.arange(n)
    else:
        ok = [i for i in range(n) if i not in bad]
        parts, got, failed = read_spans(body, [(int(starts[i]), int(ends[i])) for i in ok])
        bad.update({ok[j]: why for j, why in failed.items()})
        held = np.array([ok[j] for j in got], dtype=np.int64)
        typed = (
            (parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
            if parts
            else pa.nulls(0, MODEL_ARROW)
        )
    if not len(typed):
        return Prepared(split, "", bad, typed, held)
    return Prepared(
        split, "", bad, typed, held, split.need[held], split.fields.need, split.whole[held]
    )


def decode_page(
    body: bytes,
    prep: Prepared,
    page: int | None,
    rid0: int,
    *,
    fast: bool = True,
    index0: int = 0,
    indexes: list[int] | None = None,
) -> PageOut:
    """Materialize one prepared page (never raises).

    Record ``i`` of the page gets the global record id ``rid0 + i`` and the reject index
    ``index0 + i`` (or ``indexes[i]``).  With ``fast`` false every record takes the exact route
    (the oracle).
    """
    with GC_PAUSE:
        return _decode_page(body, prep, page, rid0, fast=fast, index0=index0, indexes=indexes)


def _decode_page(
    body: bytes,
    prep: Prepared,
    page: int | None,
    rid0: int,
    *,
    fast: bool,
    index0: int,
    indexes: list[int] | None,
) -> PageOut:
    if prep.split is None:
        return _whole_page(body, prep.why, page, rid0, fast=fast, index0=index0, indexes=indexes)
    split, typed, held = prep.split, prep.typed, prep.held
    assert typed is not None
    n = len(split)
    starts, ends = split.starts, split.ends
    out = PageOut(page=page, rid0=rid0, index0=index0, indexes=indexes, n_records=n)
    bad = dict(prep.bad)
    for i in list(bad):  # refused before Python; the identity rule speaks first when it applies
        if (
            split.is_object[i]
            and split.depth[i] <= D.MAX_DEPTH
            and ends[i] - starts[i] <= D.MAX_RECORD_BYTES
        ):
            try:
                rec = orjson.loads(body[starts[i] : ends[i]])
            except orjson.JSONDecodeError as exc:
                bad[i] = f"record is not valid JSON: {exc}"
                continue
            why = id_problem(rec.get("id")) if type(rec) is dict else None
            if why:
                bad[i] = why

    need = prep.need if fast else np.ones(len(held), bool)
    fast_rows = np.flatnonzero(~need)
    if fast and len(held):  # ids from Arrow (absent, null or a string), as the record has them
        ids = typed.field("id")
        missing = np.flatnonzero((D.valid(ids) == 0) | (D.str_lengths(ids) == 0))
        for j in missing.tolist():
            i = int(held[j])
            if not split.lax[i]:  # a lax record is decoded whole: orjson speaks first
                bad[i] = id_problem(typed.field("id")[j].as_py())  # type: ignore[assignment]
    decoded = _decode_rows(body, prep, np.flatnonzero(need).tolist(), fast, bad)
    out.fast_records = len(fast_rows)
    out.exact_records = n - out.fast_records

    # Inputs of custom models: flattened here, typed by the same strict reader; a record whose
    # inputs do not read is refused like any other.
    rows: list[dict] = []
    owner: list[int] = []
    where: list[tuple[str, int]] = []
    for j, rec in decoded.items():
        inputs = rec.get(_INPUT_RECURSIVE)
        if inputs is None:
            continue
        i = int(held[j])
        why = _add_inputs(rid0 + i, inputs, rows, where)
        if why:
            bad[i] = why
        else:
            owner.extend([i] * (len(rows) - len(owner)))
    out.inputs, refused = read_inputs(rows, owner, where)
    bad.update(refused)

    # Rejects, kept records.
    for i, why in sorted(bad.items()):
        span = (int(starts[i]), int(ends[i]))
        out.rejects.append(
            (page, out.index_of(i), _reject_id(body, span), why, _span_text(body, span))
        )
    keep = np.fromiter((int(i) not in bad for i in held), bool, len(held)) if bad else None
    if keep is not None and not keep.all():
        typed = typed.filter(_bool_mask(keep))
        rows_kept = np.flatnonzero(keep)
    else:
        rows_kept = np.arange(len(held))
    out.models = typed
    out.rids = (rid0 + held[rows_kept]).tolist()

    # The records walked in Python: json leaves as text, unknown keys at every level.
    kept = [(j, rec) for j, rec in decoded.items() if int(held[j]) not in bad]
    dicts, owners = [], []
    for j, rec in kept:
        rid = rid0 + int(held[j])
        if any(rec.get(root) is not None for root in _MODEL_JSON_ROOTS):
            texts = [_json_text(_get_path(rec, path)) for path, _ in MODEL_LEVEL.json]
            if any(t is not None for t in texts):
                out.ui_json.append((rid, *texts))
        dicts.append(rec)
        owners.append((rid,))
    scan_unknown(MODEL_LEVEL, "models", dicts, owners, (), out)
    return out


def _decode_rows(
    body: bytes, prep: Prepared, rows: list[int], fast: bool, bad: dict[int, str]
) -> dict[int, dict]:
    """Decode the typed rows ``rows`` that need Python; reasons of the refused ones go to ``bad``.

    A row is decoded whole (``loads_exact`` of the record) on the oracle route (``fast``
    false), when it is ``lax`` or when its members cannot be matched by their bytes.  Any
    other row is decoded *partly*: only the top-level members ``decode.Fields.need`` names
    (unknown keys, Python's own fields, fields holding an unknown key) are decoded, into a
    dict in the record's order (``_Chosen``).  Every other member holds known keys only, all
    non-null, that Arrow read: the exact route would find nothing in it, so leaving it out
    changes nothing.  A repeated key is found by counting the keys of each decoded dict
    against those written, for partial and whole records alike (``repeated_keys``).
    """
    split = prep.split
    assert split is not None
    starts, ends, held = split.starts, split.ends, prep.held
    decoded: dict[int, dict] = {}
    values: list[Any] = []  # every decoded value, with its written keys and its row
    written: list[int] = []
    owner: list[int] = []
    chosen = (
        _Chosen(split.fields, prep.member_need)
        if fast and split.fields is not None and prep.member_need is not None
        else None
    )
    for j in rows:
        i = int(held[j])
        if i in bad:
            continue
        rec: dict | None = None
        if chosen is not None and prep.whole is not None and not prep.whole[j] and not split.lax[i]:
            try:
                rec, keys = chosen.decode(body, i)
            except orjson.JSONDecodeError:
                rec = None  # read whole below: the whole record says why, as the oracle does
            else:
                values.append(rec)
                written.append(keys)
                owner.append(j)
        if rec is None:
            try:
                rec = loads_exact(body[starts[i] : ends[i]])
            except orjson.JSONDecodeError as exc:
                bad[i] = f"record is not valid JSON: {exc}"
                continue
            why = id_problem(rec.get("id"))
            if why:
                bad[i] = why
                continue
            values.append(rec)
            written.append(int(split.colons[i]))
            owner.append(j)
        decoded[j] = rec
    # A repeated key makes its record a reject (orjson kept only its last value).
    for k in repeated_keys(values, written):
        j = owner[k]
        if j in decoded:
            i = int(held[j])
            bad[i] = twice_reason(body[starts[i] : ends[i]])
            del decoded[j]
    return decoded


class _Chosen:
    """The members the compiled pass chose on a page (``decode.Fields.need``), grouped by record: where their
    bytes lie (from the key's opening quote to the value's end) and the keys written in them
    (their own included), as Python lists read once per page."""

    def __init__(self, fields: D.Fields, need: np.ndarray) -> None:
        chosen = np.flatnonzero(need)
        self.at: list[int] = np.searchsorted(chosen, fields.first).tolist()
        self.lo: list[int] = (fields.key_lo[chosen] - 1).tolist()
        self.hi: list[int] = fields.val_hi[chosen].tolist()
        self.keys: list[int] = (fields.colons[chosen] + 1).tolist()

    def decode(self, body: bytes, i: int) -> tuple[dict, int]:
        """Element ``i``'s chosen members as one dict in the record's order (their bytes are
        joined into one JSON object and decoded at once), and the keys written in them; a
        repeated key shows as fewer keys decoded.  Raises orjson's error when not JSON."""
        a, b = self.at[i], self.at[i + 1]
        if a == b:
            return {}, 0
        lo, hi = self.lo, self.hi
        text = b"{" + b",".join([body[lo[k] : hi[k]] for k in range(a, b)]) + b"}"
        rec = loads_exact(text) if has_long_digits(text) else orjson.loads(text)
        return rec, sum(self.keys[a:b])


def _reject_id(body: bytes, span: tuple[int, int]) -> str | None:
    """The id of a refused record when it is a string (for the rejects table)."""
    if span[1] - span[0] > D.MAX_RECORD_BYTES:
        return None
    try:
        rec = orjson.loads(body[span[0] : span[1]])
    except orjson.JSONDecodeError:
        return None
    mid = rec.get("id") if type(rec) is dict else None
    return mid if type(mid) is str else None


# What a page read whole says when it nests deeper than the parsers that read it whole go:
# orjson reads 1,024 levels, the stdlib (which finds repeated keys) about 1,000.  Only a page
# the compiled pass could not cut comes here; on the usual route such a record is refused
# alone (``decode.MAX_DEPTH``).
_TOO_DEEP_WHOLE = "nested too deep to be read whole (about 1,000 levels or more)"


def _record_texts(records: list[Any]) -> list[bytes]:
    """Each record of a page read whole, written again as compact JSON.

    orjson writes at most about 250 levels; a record nested deeper is refused as too deep
    (``decode.MAX_DEPTH``) by the usual checks once the page is cut, and the stdlib writes the
    text its reject keeps, so that record costs only itself, as on the usual route.
    """
    texts = []
    for rec in records:
        try:
            texts.append(to_json(rec))
        except TypeError:
            if D.record_depth(rec) <= D.MAX_DEPTH:
                raise
            try:
                texts.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode())
            except RecursionError as exc:  # deeper than the stdlib writes: the page says so
                raise TypeError(_TOO_DEEP_WHOLE) from exc
    return texts


def _whole_page(body: bytes, why: str, page: int | None, rid0: int, **kw: Any) -> PageOut:
    """A page the scanner could not cut (or no scanner is built): decoded whole (checked by
    orjson, read exactly by the stdlib), written again compactly (cut by construction,
    ``decode.split_written``) and every record decoded whole by Python, or one page-level
    reject.  A page where any object repeats a key (``models`` twice, or a
    key inside a record) is a page-level reject: orjson would keep only the last copy."""
    try:
        orjson.loads(body)
        doc, twice = loads_checked(body)
    except orjson.JSONDecodeError as exc:
        reason = _TOO_DEEP_WHOLE if "depth limit" in str(exc) else f"not valid JSON: {exc}"
        return _page_level_reject(page, f"page is {reason}", body.decode("utf-8", "replace"))
    except RecursionError:
        return _page_level_reject(
            page, f"page cannot be read ({why}): {_TOO_DEEP_WHOLE}", body.decode("utf-8", "replace")
        )
    except ValueError as exc:
        return _page_level_reject(
            page, f"page cannot be read ({why}): {exc}", body.decode("utf-8", "replace")
        )
    if twice is not None:
        return _page_level_reject(
            page,
            f"page cannot be read ({why}): key {json.dumps(twice, ensure_ascii=False)} appears twice",
            body.decode("utf-8", "replace"),
        )
    if type(doc) is not dict or type(doc.get("models")) is not list:
        what = "no models list" if type(doc) is dict else f"{json_type(doc)}, not an object"
        return _page_level_reject(page, f"page has {what}", body.decode("utf-8", "replace"))
    try:
        again, split = D.split_written(doc["models"], _record_texts(doc["models"]))
    except TypeError as exc:
        return _page_level_reject(
            page, f"page cannot be read ({why}): {exc}", body.decode("utf-8", "replace")
        )
    out = decode_page(again, _prepare_split(again, split), page, rid0, **kw)
    out.fast_records, out.exact_records = 0, out.n_records
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
    own threads as they arrive (``tables.builder.CatalogBuilder``): same reads, same paths, same
    rules, so a page gives the same output either way.
    """
    if not isinstance(raw, bytes | bytearray | memoryview | str):
        return _page_level_reject(
            page, f"page is {type(raw).__name__}, not bytes or str", safe_dumps(repr(raw)[:10_000])
        )
    body = _as_bytes(raw)
    return decode_page(body, prepare(body), page, rid0, fast=fast)


# Record ids of page ``n`` start at ``n << RID_SHIFT``: unique without knowing how many
# records earlier pages hold (ids only need to be unique and in page order, not dense).
RID_SHIFT = 32


def iter_page_outputs(
    pages: Iterable[Any], *, workers: int = 2, fast: bool = True
) -> Iterator[PageOut]:
    """Process pages in order, each whole on a worker thread (``page_output``).

    Arrow, numpy and polars release the GIL, so the workers' reads overlap with each other's
    Python and with the caller's (the table step of the pages already yielded).  Up to
    ``2 * workers + 2`` pages are in flight: the workers keep reading while the caller builds
    a batch of tables, and memory stays bounded.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="frames-read") as pool:
        ahead: deque[Future[PageOut]] = deque()
        for page_no, raw in enumerate(pages):
            ahead.append(pool.submit(page_output, raw, page_no, page_no << RID_SHIFT, fast=fast))
            if len(ahead) > 2 * workers + 1:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def records_pages(records: Iterable[object], chunk: int = 500) -> Iterator[PageOut]:
    """Process decoded records in chunks of ``chunk``, written as JSON pages first."""
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
        return decode_page(body, prepare(body), None, start, index0=start)
    # Some record is not JSON: refuse those, run the rest.
    fine: list[bytes] = []
    where: list[int] = []
    rejects = []
    for i, rec in enumerate(buf):
        try:
            fine.append(to_json(rec))
        except TypeError as exc:
            mid = rec.get("id") if isinstance(rec, dict) else None
            why = (
                D.TOO_DEEP if "ecursion" in str(exc) else f"record is not JSON-serializable: {exc}"
            )
            rejects.append(
                (None, start + i, mid if isinstance(mid, str) else None, why, safe_dumps(rec))
            )
        else:
            where.append(i)
    out = PageOut()
    if fine:
        body = b'{"models":[' + b",".join(fine) + b"]}"
        out = decode_page(body, prepare(body), None, start, indexes=[start + i for i in where])
    out.rejects.extend(rejects)
    out.exact_records += len(rejects)
    out.rejects.sort(key=lambda r: -1 if r[1] is None else r[1])
    return out
