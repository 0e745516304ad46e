"""Pages of ``GET /models`` into Arrow arrays and side rows: the engine behind ``frames``.

Design (measured in ``bench/bench_frames.py``):

* **Fast path, per page.**  Arrow's C++ JSON reader reads the raw page bytes against an
  explicit Arrow type derived from ``schema.MODEL`` (every known leaf except the free-form
  ``json`` ones and the recursive ``inputs``).  It is strict about JSON types (a string where
  a number is declared, a number where a string is declared, a bad date... fail the page),
  parses ISO dates itself and runs without the GIL, in a worker thread, while the main thread
  parses the same bytes with ``orjson``.
* **Python step, cheap.**  The ``orjson`` objects serve what Arrow cannot: records that are
  not objects or have no id, the JSON text of free-form fields (only ``uiConfig`` and custom
  models' ``inputs``), and unknown keys.  Unknown keys are found with one set union per
  object level per page; only pages where the union holds a stranger are walked record by
  record.  Custom models' inputs (nested ``inputs_array`` members included) are flattened in
  Python and read by the same strict Arrow reader.
* **Slow path.**  When the page read fails, each record is read alone with the same reader
  and schema (so the rules are the same by construction); the failures become rejects with
  the reader's reason and the others are read together again.

Coercions: a JSON integer is accepted where a number (Float64) is declared; nothing else is
converted.  Strings are never read as numbers, numbers never as strings or booleans, floats
never as integers (``accessRestrictions``, epoch milliseconds), a lone string never as a list.
``null`` means "absent" everywhere.  Dates are ISO 8601 as Arrow reads them (date only, or
date and time to the microsecond, ``Z`` or a ``+hh:mm`` offset; no zone means UTC).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from . import schema as S

# ---------------------------------------------------------------------------------------------
# Schema-derived plan
# ---------------------------------------------------------------------------------------------

_ARROW_OF_KIND: dict[str, pa.DataType] = {
    "string": pa.string(),
    "enum": pa.string(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "int_enum": pa.int64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", "UTC"),
    "epoch_ms": pa.int64(),
    "list_string": pa.list_(pa.string()),
    "list_enum": pa.list_(pa.string()),
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
        elif node.recursive is None:  # ListOf; the recursive one (inputs) is read on its own
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


def _level(nodes: tuple[S.Node, ...], *, skip_recursive: bool = True,
           json_path: tuple[str, ...] = ()) -> Level:
    objs, lists, json = [], [], []
    for node in nodes:
        if isinstance(node, S.Obj):
            sub = _level(node.fields, json_path=json_path + (node.key,))
            objs.append((node.key, sub))
            json.extend(sub.json)
        elif isinstance(node, S.ListOf):
            if node.recursive is not None and skip_recursive:
                continue
            item = _level(node.fields)
            if node.nested is not None:
                item = Level(item.known | {node.nested.key}, item.objs, item.lists,
                             (node.nested.key, _level(node.nested.fields)), item.json)
            lists.append((node.key, item, node.table))
        elif node.kind == "json":
            json.append((json_path + (node.key,), node.key))
    return Level(frozenset(n.key for n in nodes), tuple(objs), tuple(lists), None, tuple(json))


MODEL_ARROW: pa.StructType = pa.struct(_arrow_fields(S.MODEL.fields))
RECORD_SCHEMA = pa.schema(list(MODEL_ARROW))
PAGE_SCHEMA = pa.schema([pa.field("models", pa.list_(MODEL_ARROW))])
MODEL_LEVEL: Level = _level(S.MODEL.fields)

_INPUTS_NODE: S.ListOf = next(n for n in S.MODEL.fields
                              if isinstance(n, S.ListOf) and n.recursive is not None)
_INPUT_RECURSIVE = _INPUTS_NODE.recursive or "inputs"
_lvl = _level(_INPUTS_NODE.fields)
INPUT_LEVEL: Level = Level(_lvl.known | {_INPUT_RECURSIVE}, _lvl.objs, _lvl.lists, None, _lvl.json)
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
    + [pa.field(f"_j{i}", pa.string()) for i in range(len(INPUT_LEVEL.json))]
    + [pa.field("_rid", pa.int64()), pa.field("_pos", pa.int32()),
       pa.field("_parent", pa.string()), pa.field("_extra", pa.string()),
       pa.field("_dnum", pa.float64()), pa.field("_dstr", pa.string()),
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


def dumps(value: object) -> str:
    """Compact JSON text of a decoded JSON value (key order kept)."""
    return orjson.dumps(value).decode()


def safe_dumps(value: object) -> str:
    """JSON text of anything, never raising (used for the raw text of rejects)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:  # noqa: BLE001 - not JSON at all: keep a readable form
        try:
            import json

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


def _read(body: bytes, schema: pa.Schema) -> pa.Table:
    opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 16, len(body) + 16))
    parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                            newlines_in_values=b"\n" in body)
    return pj.read_json(pa.BufferReader(body), read_options=opts, parse_options=parse)


def read_page_models(body: bytes) -> pa.StructArray | BaseException:
    """Typed models of one page body, or the reader's error (never raises)."""
    try:
        col = _read(body, PAGE_SCHEMA).column("models")
        if col.null_count or len(col) != 1:
            return ValueError("page has no models list")
        return col.chunk(0).flatten() if col.num_chunks == 1 else pa.concat_arrays(
            [c.flatten() for c in col.chunks])
    except Exception as exc:  # noqa: BLE001 - reported, then the slow path decides
        return exc


def _table_struct(table: pa.Table, typ: pa.StructType) -> pa.StructArray:
    arr = table.to_struct_array()
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return pa.array([], type=typ)
    return arr


def read_lines(lines: list[bytes], schema: pa.Schema, typ: pa.StructType) -> pa.StructArray:
    """Read newline-delimited JSON objects known to be valid."""
    if not lines:
        return pa.array([], type=typ)
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


@dataclass
class PageOut:
    """What one page contributes: typed models, their record ids, and the side rows."""

    models: pa.StructArray | None = None  # kept records only
    rids: list[int] = field(default_factory=list)  # global record id of each kept record
    rejects: list[tuple[int | None, int | None, str | None, str, str]] = field(default_factory=list)
    inputs: pa.StructArray | None = None
    ui_json: list[tuple[Any, ...]] = field(default_factory=list)  # (rid, *json texts)
    extras: dict[str, dict[tuple, dict]] = field(default_factory=dict)  # table -> owner -> extra
    epoch_assets: dict[tuple[int, int], int] = field(default_factory=dict)  # (rid,pos) -> n
    n_records: int = 0


def _put_extra(out: dict[str, dict[tuple, dict]], table: str, owner: tuple,
               path: tuple[str, ...], unknown: dict) -> None:
    node = out.setdefault(table, {}).setdefault(owner, {})
    for key in path:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node.update(unknown)


def scan_unknown(level: Level, table: str, dicts: list[dict], owners: list[tuple],
                 path: tuple[str, ...], out: PageOut) -> None:
    """Record every key unknown to ``level`` under its owner row; descend into known objects.

    One set union per level tells whether any object holds a stranger, so the common case
    costs a few C-level operations per page rather than a loop per record.
    """
    if not dicts:
        return
    known = level.known
    if not set().union(*dicts) <= known:
        for d, owner in zip(dicts, owners, strict=True):
            if not d.keys() <= known:
                _put_extra(out.extras, table, owner, path,
                           {k: v for k, v in d.items() if k not in known})
    for key, sub in level.objs:
        pairs = [(d[key], o) for d, o in zip(dicts, owners, strict=True) if key in d]
        pairs = [p for p in pairs if type(p[0]) is dict]
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
                if type(it) is dict:
                    sd.append(it)
                    so.append((rid, pos))
                    if item.nested is not None:
                        sub_items = it.get(item.nested[0])
                        n = len(sub_items) if type(sub_items) is list else 0
                        out.epoch_assets[(rid, pos)] = n
                        if n:
                            for apos, a in enumerate(sub_items):
                                if type(a) is dict:
                                    nested_d.append(a)
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


def flatten_inputs(rid: int, inputs: list, parent: str | None, prefix: str,
                   rows: list[dict], where: list[str], depth: int = 0) -> str | None:
    """Flatten one list of inputs (and nested inputs_array members) into private rows.

    Returns a reason when the structure itself is wrong (an item that is not an object,
    members that are not a list); typed leaves are checked later by the Arrow reader.
    """
    if depth > 32:
        return f"{prefix}: inputs nested deeper than 32 levels"
    for pos, inp in enumerate(inputs):
        here = f"{prefix}[{pos}]"
        if inp is None:
            rows.append({"_rid": rid, "_pos": pos, "_parent": parent})
            where.append(here)
            continue
        if type(inp) is not dict:
            return f"{here}: expected an object, got {json_type(inp)}"
        row = {k: v for k, v in inp.items() if k in _INPUT_TYPED_KEYS}
        extra = {k: v for k, v in inp.items() if k not in INPUT_LEVEL.known}
        for key, typed in _INPUT_OBJ_TYPED.items():
            obj = inp.get(key)
            if type(obj) is dict:
                row[key] = {k: v for k, v in obj.items() if k in typed}
                unknown = {k: v for k, v in obj.items() if k not in _INPUT_OBJS[key].known}
                if unknown:
                    extra[key] = unknown
        for i, (path, _col) in enumerate(INPUT_LEVEL.json):
            row[f"_j{i}"] = _json_text(_get_path(inp, path))
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
        where.append(here)
        members = inp.get(_INPUT_RECURSIVE)
        if members is not None:
            if type(members) is not list:
                return f"{here}.{_INPUT_RECURSIVE}: expected an array, got {json_type(members)}"
            name = inp.get("name")
            why = flatten_inputs(rid, members, name if type(name) is str else None,
                                 f"{here}.{_INPUT_RECURSIVE}", rows, where, depth + 1)
            if why:
                return why
    return None


def _page_level_reject(page: int | None, reason: str, raw: str) -> PageOut:
    return PageOut(rejects=[(page, None, None, reason, raw)])


def process_page(body: bytes | None, records: list | None, page: int | None, rid0: int,
                 typed: pa.StructArray | BaseException | None,
                 index0: int = 0) -> PageOut:
    """Materialize one page.

    ``records`` are the page's decoded models (``None`` when the body must be parsed here);
    ``typed`` is the Arrow read of the same page (``None``: read it here).  Record ``i`` of the
    page gets the global record id ``rid0 + i`` and the reject index ``index0 + i``.
    """
    if records is None:
        assert body is not None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _page_level_reject(page, f"page is not valid JSON: {exc}",
                                      body.decode("utf-8", "replace"))
        if type(doc) is not dict or type(doc.get("models")) is not list:
            what = "no models list" if type(doc) is dict else f"{json_type(doc)}, not an object"
            return _page_level_reject(page, f"page has {what}", body.decode("utf-8", "replace"))
        records = doc["models"]
    out = PageOut()
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

    # Typed read: the fast path's page read, or record by record when it failed.
    if typed is None and body is not None:
        typed = read_page_models(body)
    if typed is None or isinstance(typed, BaseException) or len(typed) != n:
        lines: dict[int, bytes] = {}
        for i, rec in enumerate(records):
            if i in bad:
                continue
            line = orjson.dumps(rec)
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
    input_rows: list[dict] = []
    input_where: list[str] = []
    row_owner: list[int] = []
    for i, rec in enumerate(records):
        if i in bad or "inputs" not in rec:
            continue
        inputs = rec["inputs"]
        if inputs is None:
            continue
        if type(inputs) is not list:
            bad[i] = f"inputs: expected an array, got {json_type(inputs)}"
            continue
        start = len(input_rows)
        why = flatten_inputs(rid0 + i, inputs, None, "inputs", input_rows, input_where)
        if why:
            del input_rows[start:]
            del input_where[start:]
            bad[i] = why
        else:
            row_owner.extend([i] * (len(input_rows) - start))
    if input_rows:
        body_rows = orjson.dumps({"rows": input_rows})
        try:
            col = _read(body_rows, INPUT_ROWS_SCHEMA).column("rows")
            out.inputs = pa.concat_arrays([c.flatten() for c in col.chunks])
        except Exception:  # noqa: BLE001 - find the offending rows one by one
            good_rows: list[bytes] = []
            lines_owner: list[int] = []
            for row, owner, where in zip(input_rows, row_owner, input_where, strict=True):
                line = orjson.dumps(row)
                why = check_line(line, INPUT_ROW_SCHEMA)
                if why and owner not in bad:
                    bad[owner] = f"{where}: {why}"
                good_rows.append(line)
                lines_owner.append(owner)
            keep_lines = [ln for ln, o in zip(good_rows, lines_owner, strict=True) if o not in bad]
            out.inputs = read_lines(keep_lines, INPUT_ROW_SCHEMA, INPUT_ROW_ARROW)
        if out.inputs is not None and bad and len(out.inputs):
            bad_rids = pa.array([rid0 + i for i in bad], pa.int64())
            keep = pc.invert(pc.is_in(out.inputs.field("_rid"), value_set=bad_rids))
            out.inputs = out.inputs.filter(keep)

    # Rejects, kept records.
    for i, why in sorted(bad.items()):
        rec = records[i]
        mid = rec.get("id") if type(rec) is dict else None
        out.rejects.append((page, index0 + i, mid if type(mid) is str else None, why,
                            safe_dumps(rec)))
    if bad:
        mask = pa.array([i not in bad for i in typed_index], pa.bool_())
        typed = typed.filter(mask)
        typed_index = [i for i in typed_index if i not in bad]
    out.models = typed
    out.rids = [rid0 + i for i in typed_index]

    good = [records[i] for i in typed_index]
    good_rids = out.rids
    # JSON text of the free-form fields under uiConfig.
    if _MODEL_JSON_ROOTS:
        for rec, rid in zip(good, good_rids, strict=True):
            if not _MODEL_JSON_ROOTS.isdisjoint(rec.keys()):
                texts = [_json_text(_get_path(rec, path)) for path, _ in MODEL_LEVEL.json]
                if any(t is not None for t in texts):
                    out.ui_json.append((rid, *texts))
    # Unknown keys, at every level the schema describes.
    scan_unknown(MODEL_LEVEL, "models", good, [(r,) for r in good_rids], (), out)
    return out


# ---------------------------------------------------------------------------------------------
# Driving pages
# ---------------------------------------------------------------------------------------------


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return bytes(body)


def iter_page_outputs(pages: Iterable[bytes | bytearray | memoryview | str]) -> Iterator[PageOut]:
    """Process pages in order; the Arrow read of page k+1 runs while page k is in Python."""
    rid0 = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames-read") as pool:
        it = iter(enumerate(pages))
        pending: tuple[int, bytes, Future] | None = None

        def submit() -> tuple[int, bytes, Future] | None:
            for page_no, raw in it:
                if not isinstance(raw, bytes | bytearray | memoryview | str):
                    return page_no, raw, None  # type: ignore[return-value]
                body = _as_bytes(raw)
                return page_no, body, pool.submit(read_page_models, body)
            return None

        pending = submit()
        while pending is not None:
            page_no, body, fut = pending
            pending = submit()
            if fut is None:
                yield _page_level_reject(page_no, f"page is {type(body).__name__}, not bytes or str",
                                         safe_dumps(repr(body)))
                continue
            out = process_page(body, None, page_no, rid0, fut.result())
            rid0 += out.n_records
            yield out


def records_pages(records: Iterable[object], chunk: int = 500) -> Iterator[PageOut]:
    """Process Python records (already decoded) in chunks, through the same path as pages."""
    buf: list[object] = []
    start = 0
    rid0 = 0
    for rec in records:
        buf.append(rec)
        if len(buf) >= chunk:
            yield _records_chunk(buf, start, rid0)
            start += len(buf)
            rid0 += len(buf)
            buf = []
    if buf:
        yield _records_chunk(buf, start, rid0)


def _records_chunk(buf: list[object], start: int, rid0: int) -> PageOut:
    try:
        body = orjson.dumps({"models": buf})
        return process_page(body, None, None, rid0, None, index0=start)
    except (TypeError, orjson.JSONEncodeError):
        pass
    # Some record is not JSON: refuse those, run the rest.
    fine: list[object] = []
    where: list[int] = []
    rejects = []
    for i, rec in enumerate(buf):
        try:
            orjson.dumps(rec)
        except (TypeError, orjson.JSONEncodeError) as exc:
            mid = rec.get("id") if isinstance(rec, dict) else None
            rejects.append((None, start + i, mid if isinstance(mid, str) else None,
                            f"record is not JSON-serializable: {exc}", safe_dumps(rec)))
        else:
            fine.append(rec)
            where.append(i)
    out = PageOut()
    if fine:
        # Round-trip through JSON so that the records hold JSON types only.
        decoded = orjson.loads(orjson.dumps(fine))
        body = orjson.dumps({"models": decoded})
        out = process_page(body, decoded, None, rid0, None, index0=0)
        # Map positions in `fine` back to positions in the chunk.
        out.rejects = [(p, None if ix is None else start + where[ix], m, r, raw)
                       for p, ix, m, r, raw in out.rejects]
    out.rejects.extend(rejects)
    return out
