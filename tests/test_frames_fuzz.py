"""Fuzz: broken, odd and huge records never raise; bad ones are rejects, good ones models.

Each example starts from valid records (every field, or only an id) and breaks them: a
field set to a value of another JSON type, fields removed, unknown keys with odd names and
values added at any level, huge strings, deep nesting, unicode.  An oracle written from the
coercion rules says which records must be refused; the materializer must agree, through
decoded records and through page bytes (whose fast path counts bytes instead of looking).
"""

from __future__ import annotations

import json
from typing import Any

from _frames_records import clone, full_record, minimal_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.tables import catalog as F
from scenario_frames.tables import materialize as M
from scenario_frames.tables.catalog import Catalog
from scenario_frames.tables.decode import MAX_DEPTH

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID_DATES = [
    "2024-03-05T10:20:30.456Z",
    "2024-03-05T10:20:30Z",
    "2024-03-05T10:20:30+02:00",
    "2024-03-05",
]
BAD_DATES = ["yesterday", "", "2024-13-45T99:00:00Z", "05/03/2024"]


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"d": value}
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**64 + 1, -(2**63) - 1, 10**29]),  # integers orjson reads as floats
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(VALID_DATES + BAD_DATES + ['\\": "inputs": x', '"uiConfig":{', "é€😀\x00"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
huge = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["x", "é", "😀", '"', "\\"]), st.integers(20_000, 120_000)
)
deep = st.integers(5, 400).map(_deep)
any_value = st.one_of(json_values, huge, deep)
key_names = st.text(min_size=1, max_size=10).map(lambda k: "zz" + k)


# -- the oracle -------------------------------------------------------------------------------


def _leaf_ok(kind: str, v: Any) -> bool:
    if v is None or kind == "json":
        return True
    if kind in ("string", "enum"):
        return isinstance(v, str)
    if kind == "number":
        return isinstance(v, int | float) and not isinstance(v, bool)
    if kind in ("integer", "int_enum", "epoch_ms"):
        return isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "datetime":
        return v in VALID_DATES
    if kind in ("list_string", "list_enum"):
        return isinstance(v, list) and all(x is None or isinstance(x, str) for x in v)
    raise AssertionError(kind)


def _node_ok(node: S.Node, v: Any) -> bool:
    if v is None:
        return True
    if isinstance(node, S.Field):
        return _leaf_ok(node.kind, v)
    if isinstance(node, S.Obj):
        return isinstance(v, dict) and _obj_ok(node.fields, v)
    if not isinstance(v, list):
        return False
    for item in v:
        if item is None:
            continue
        if not isinstance(item, dict) or not _obj_ok(node.fields, item):
            return False
        if node.nested is not None and not _node_ok(node.nested, item.get(node.nested.key)):
            return False
        if node.recursive and not _node_ok(node, item.get(node.recursive)):
            return False
    return True


def _obj_ok(nodes: tuple, d: dict) -> bool:
    by_key = {n.key: n for n in nodes}
    return all(_node_ok(by_key[k], v) for k, v in d.items() if k in by_key)


def _depth(v: Any) -> int:
    """Nesting levels of a JSON value: a scalar 0, a flat object or array 1."""
    if isinstance(v, dict):
        return 1 + max(map(_depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(_depth, v), default=0)
    return 0


def record_ok(rec: Any) -> bool:
    if not isinstance(rec, dict) or _depth(rec) > MAX_DEPTH:
        return False
    mid = rec.get("id")
    return isinstance(mid, str) and mid != "" and _obj_ok(S.MODEL.fields, rec)


# -- mutations --------------------------------------------------------------------------------


def _places(d: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every object (dict) in a record, through list items."""
    out = [path] if isinstance(d, dict) else []
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        if isinstance(v, dict | list):
            out.extend(_places(v, path + (k,)))
    return out


def _get(d: Any, path: tuple) -> Any:
    for k in path:
        d = d[k]
    return d


@st.composite
def broken_record(draw: st.DrawFn, mid: str) -> Any:
    base = draw(st.sampled_from(["full", "full", "minimal", "scalar"]))
    if base == "scalar":
        return draw(st.one_of(scalars, st.lists(scalars, max_size=3)))
    rec = (
        clone(full_record(mid, draw(st.integers(0, 5)))) if base == "full" else minimal_record(mid)
    )
    for _ in range(draw(st.integers(0, 3))):
        places = _places(rec)
        where = _get(rec, draw(st.sampled_from(places)))
        action = draw(st.sampled_from(["set", "set", "drop", "unknown", "huge"]))
        keys = [k for k in where if k != "id"]
        if action in ("set", "huge") and keys:
            where[draw(st.sampled_from(keys))] = draw(any_value if action == "set" else huge)
        elif action == "drop" and keys:
            del where[draw(st.sampled_from(keys))]
        elif action == "unknown":
            where[draw(key_names)] = draw(any_value)
    id_change = draw(st.sampled_from(["keep"] * 8 + ["drop", "number", "empty"]))
    if id_change == "drop":
        rec.pop("id", None)
    elif id_change == "number":
        rec["id"] = 5
    elif id_change == "empty":
        rec["id"] = ""
    return rec


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    n = draw(st.integers(1, 6))
    return [draw(broken_record(f"model_{i}_{draw(st.text(max_size=3))}")) for i in range(n)]


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check(cat: Catalog, records: list[Any]) -> None:
    expected_good = [r["id"] for r in records if record_ok(r)]
    bad_index = [i for i, r in enumerate(records) if not record_ok(r)]
    assert cat.models["model_id"].to_list() == expected_good
    assert sorted(cat.rejects["index"].to_list()) == bad_index
    assert all(r for r in cat.rejects["reason"])
    for raw, i in zip(cat.rejects["raw"], cat.rejects["index"], strict=True):
        assert json.loads(raw) == _norm(records[i])
    # unknown top-level keys of good records are in extra
    extras = dict(zip(cat.models["model_id"], cat.models["extra"], strict=True))
    known = {n.key for n in S.MODEL.fields}
    for r in records:
        if record_ok(r):
            unknown = {k: v for k, v in r.items() if k not in known}
            got = json.loads(extras[r["id"]]) if extras[r["id"]] else {}
            for k, v in unknown.items():
                assert got[k] == _norm(v), k
    for name, df in cat.tables.items():
        assert df.schema == S.TABLES[name].schema, name


@SETTINGS
@given(batches())
def test_fuzzed_records_never_raise_and_split_correctly(records):
    _check(Catalog.from_records(records), records)


@SETTINGS
@given(batches(), st.integers(1, 4), st.booleans())
def test_fuzzed_pages_agree_with_records(records, per_page, ascii_only):
    # the standard library writes '": ' and can escape all non-ASCII text: other bytes
    pages = [
        json.dumps({"models": records[i : i + per_page]}, ensure_ascii=ascii_only).encode()
        for i in range(0, len(records), per_page)
    ]
    by_pages = Catalog.from_json_pages(pages)
    by_records = Catalog.from_records(records)
    exact, stats = F._assemble(M.iter_page_outputs(pages, fast=False))  # the oracle route
    assert stats.records_fast == 0
    for name in S.TABLE_ORDER[:-1]:
        assert_frame_equal(by_pages.tables[name], by_records.tables[name])
        assert_frame_equal(by_pages.tables[name], exact[name])
    assert_frame_equal(by_pages.rejects, exact["rejects"])
    assert (
        len(records) == by_pages.models.height + by_pages.rejects.height + by_pages.meta.duplicates
    )
    assert by_pages.rejects["reason"].to_list() == by_records.rejects["reason"].to_list()
    assert by_pages.rejects.height == sum(not record_ok(r) for r in records)
