"""Batches, de-duplication and route grouping, by properties over generated pages.

Pages are built from ten kinds of records (documented fields, minimal, drift, unknown keys at
several depths, explicit nulls, Python-free, refused early, refused late by their inputs, not
an object or without an id, empty lists and null items), written in four styles (compact,
text, indented, and with an escaped envelope key, which takes the whole-page route), with ids
repeating across and inside pages.  The oracle: the copy of each id that wins is the last one
not refused on its own, and the tables of all the pages, whatever ``BATCH_RECORDS`` is, equal
those of one page holding only the winners in the order of their last copies; records sent =
models + rejects + duplicates.  The builder, fed the same pages under keys (added, replaced,
discarded, broken), equals ``from_json_pages`` of its pages in key order.
"""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
import polars as pl
from _frames_records import clone, full_record, minimal_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_frames_fuzz import broken_record

from scenario_frames import schema as S
from scenario_frames.demo.generator import make_records
from scenario_frames.tables import catalog as F
from scenario_frames.tables.builder import CatalogBuilder
from scenario_frames.tables.catalog import Catalog

SETTINGS = settings(
    max_examples=int(os.environ.get("BATCHING_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IDS = ["a", "b", "c", "d", "e"]
DRIFT = make_records(30, seed=7, drift=True)


def _variant(kind: int, mid: str, n: int) -> Any:
    """Record number ``n`` (copy-distinguishing) of kind ``kind`` with id ``mid``."""
    if kind == 0:
        rec = full_record(mid, n)
    elif kind == 1:
        rec = minimal_record(mid)
    elif kind == 2:
        rec = clone(DRIFT[n % len(DRIFT)])
        rec["id"] = mid
    elif kind == 3:  # unknown keys at several depths
        rec = full_record(mid, n)
        rec[f"zz{n}"] = {"x": [n, None]}
        rec["performanceStats"]["variants"][0]["zzv"] = n
        rec["epochs"][0]["zze"] = n
        rec["epochs"][1]["assets"][0]["zza"] = n
        rec["trainingImages"][0]["zzt"] = [n]
        rec["inputs"][1]["inputs"][0]["zzi"] = n
    elif kind == 4:  # explicit nulls
        rec = full_record(mid, n)
        for k in ("tags", "performanceStats", "epochs", "inputs", "trainingImages", "uiConfig"):
            rec[k] = None
        rec["capabilities"] = []
    elif kind == 5:  # no inputs, no uiConfig: may take the fast route
        rec = full_record(mid, n)
        rec.pop("inputs")
        rec.pop("uiConfig", None)
    elif kind == 6:  # refused: bad type
        rec = full_record(mid, n)
        rec["createdAt"] = "yesterday"
    elif kind == 7:  # refused late: inputs that do not read
        rec = full_record(mid, n)
        rec["inputs"][0]["max"] = "ten"
    elif kind == 8:  # refused: not an object / no id
        return [17, {"name": "no id"}, {"id": ""}, {"id": 5}][n % 4]
    else:  # empty lists and nulls in lists
        rec = full_record(mid, n)
        rec["tags"] = []
        rec["epochs"] = [{"epoch": "e", "assets": []}, {"epoch": None, "assets": None}]
        rec["inputs"] = [None, {"name": "x", "type": "string"}]
    if isinstance(rec, dict) and kind not in (1,):
        rec["name"] = f"copy {n}"
        if rec.get("tags") is not None and kind != 9:
            rec["tags"] = [f"t{n}"] * (1 + n % 3)
    return rec


def _body(recs: list[Any], style: int) -> bytes | str:
    raw = orjson.dumps({"models": recs})
    if style == 1:  # envelope key escaped: whole-page route
        return raw.replace(b'{"models"', b'{"\\u006dodels"', 1)
    if style == 2:
        return raw.decode()
    if style == 3:  # pretty, with newlines in the body
        return orjson.dumps({"models": recs}, option=orjson.OPT_INDENT_2)
    return raw


record_spec = st.tuples(st.integers(0, 9), st.sampled_from(IDS))
pages_spec = st.lists(
    st.tuples(st.lists(record_spec, min_size=0, max_size=5), st.integers(0, 3)),
    min_size=1,
    max_size=6,
)


def _build(spec):
    pages = []
    recs_flat = []
    n = 0
    for recs, style in spec:
        recs_p = []
        for kind, mid in recs:
            recs_p.append(_variant(kind, mid, n))
            n += 1
        recs_flat.extend(recs_p)
        pages.append(_body(recs_p, style))
    return pages, recs_flat


def _with_batch(batch: int, fn):
    saved = F.BATCH_RECORDS
    F.BATCH_RECORDS = batch
    try:
        return fn()
    finally:
        F.BATCH_RECORDS = saved


_refused_cache: dict[str, bool] = {}


def _refused(rec: Any) -> bool:
    """Whether the record is refused on a page of its own (memoised)."""
    key = json.dumps(rec)
    if key not in _refused_cache:
        alone = Catalog.from_json_pages([_dumps({"models": [rec]})])
        _refused_cache[key] = alone.rejects.height == 1
    return _refused_cache[key]


def _dumps(doc: Any, style: int = 0) -> bytes:
    """A page written by the stdlib (which writes what orjson cannot: wide integers, NaN) in
    one of four styles."""
    if style == 3:
        return json.dumps(doc, indent=1, ensure_ascii=False).encode()
    raw = json.dumps(doc, ensure_ascii=style == 2).encode()
    if style == 1:  # envelope key escaped: the whole-page route
        return raw.replace(b'{"models"', b'{"\\u006dodels"', 1)
    return raw


def _assert_last_copies_win(pages: list[Any], recs: list[Any], batch: int) -> None:
    """The oracle: same tables at any batch size, and those of the winners alone (the last
    copy of each id not refused on its own, in the order of those copies)."""
    whole = Catalog.from_json_pages(pages)
    split = _with_batch(batch, lambda: Catalog.from_json_pages(pages))
    for name in S.TABLE_ORDER:
        assert_frame_equal(whole.tables[name], split.tables[name], check_row_order=True)
    assert whole.meta.duplicates == split.meta.duplicates
    winners: dict[str, Any] = {}
    order: dict[str, int] = {}
    refused = 0
    for k, rec in enumerate(recs):
        if _refused(rec):
            refused += 1
            continue
        winners[rec["id"]] = rec
        order[rec["id"]] = k
    kept = sorted(winners, key=order.__getitem__)
    assert split.rejects.height == refused
    assert split.models.height + split.rejects.height + split.meta.duplicates == len(recs)
    ref = Catalog.from_json_pages([_dumps({"models": [winners[m] for m in kept]})])
    for name in S.TABLE_ORDER[:-1]:
        assert_frame_equal(
            _sorted(ref.tables[name]), _sorted(split.tables[name]), check_row_order=True
        )
    assert split.models["model_id"].to_list() == kept


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


@SETTINGS
@given(pages_spec, st.sampled_from([1, 2, 3, 5]))
def test_batch_size_invariance_and_last_copy_wins(spec, batch):
    """Any pages, any batch size: the same tables, and those of the winners alone."""
    pages, recs = _build(spec)
    _assert_last_copies_win(pages, recs, batch)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.lists(st.integers(0, 9), min_size=0, max_size=4), st.integers(0, 3)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([1, 2, 4, 10_000]),
)
def test_routes_together_equal_each_alone(spec, batch):
    """Unique ids: the pages together give the vertical concatenation of each page alone."""
    pages = []
    n = 0
    for kinds, style in spec:
        recs = []
        for kind in kinds:
            recs.append(_variant(kind, f"m{n}", n))
            n += 1
        pages.append(_body(recs, style))
    together = _with_batch(batch, lambda: Catalog.from_json_pages(pages))
    alone = [Catalog.from_json_pages([p]) for p in pages]
    for name in S.TABLE_ORDER:
        want = pl.concat([c.tables[name] for c in alone], how="vertical")
        got = together.tables[name]
        if name == "rejects":
            want, got = want.drop("page"), got.drop("page")
        assert_frame_equal(want, got, check_row_order=True)
    assert together.meta.duplicates == 0
    assert together.meta.records_fast == sum(c.meta.records_fast for c in alone)
    assert together.meta.records_exact == sum(c.meta.records_exact for c in alone)


@st.composite
def dup_pages(draw):
    n = draw(st.integers(1, 10))
    recs = [draw(broken_record(draw(st.sampled_from(["a", "b", "c"])))) for _ in range(n)]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    bounds = [0, *cuts, n]
    # every style, the whole-page route included: a record nested too deep costs only itself
    # there too (the fuzzer nests at most 400 levels)
    pages = [
        _dumps({"models": recs[lo:hi]}, draw(st.sampled_from([0, 1, 2, 3])))
        for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]
    return pages, recs


@SETTINGS
@given(dup_pages(), st.sampled_from([1, 2, 3]))
def test_fuzzed_records_with_repeated_ids_any_batch_size(pr, batch):
    """Broken, unknown-keyed, huge and deep records (the fuzzer of test_frames_fuzz) with ids
    from three, on pages of every style: same oracle as above."""
    pages, recs = pr
    _assert_last_copies_win(pages, recs, batch)


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.integers(0, 5),  # key
            st.lists(st.tuples(st.integers(0, 9), st.sampled_from(IDS)), max_size=4),
            st.integers(0, 3),
        ),
        st.tuples(st.just("discard"), st.integers(0, 5)),
        st.tuples(st.just("garbage"), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=10,
)


@SETTINGS
@given(ops, st.sampled_from([1, 2, 3, 10_000]), st.sampled_from([1, 3]))
def test_builder_equals_from_json_pages(ops_, batch, threads):
    """Pages added under keys (replaced, discarded, broken), with 1 or 3 threads and any batch
    size: the builder's catalog equals ``from_json_pages`` of the final pages in key order."""
    final: dict[int, bytes | str] = {}
    n = 0
    steps = []
    for op in ops_:
        if op[0] == "add":
            _, key, recs, style = op
            body_recs = []
            for kind, mid in recs:
                body_recs.append(_variant(kind, mid, n))
                n += 1
            body = _body(body_recs, style)
            final[key] = body
            steps.append(("add", key, body))
        elif op[0] == "garbage":
            final[op[1]] = b'{"models": ['
            steps.append(("add", op[1], b'{"models": ['))
        else:
            final.pop(op[1], None)
            steps.append(("discard", op[1], None))

    def run():
        with CatalogBuilder(threads=threads) as b:
            for what, key, body in steps:
                if what == "add":
                    b.add_page(body, key)
                else:
                    b.discard(key)
            assert b.keys() == sorted(final)
            got = b.finish()
        want = Catalog.from_json_pages([final[k] for k in sorted(final)])
        return got, want

    got, want = _with_batch(batch, run)
    for name in S.TABLE_ORDER:
        assert_frame_equal(got.tables[name], want.tables[name], check_row_order=True)
    assert got.meta.duplicates == want.meta.duplicates
    assert got.meta.pages == want.meta.pages
    assert got.meta.records_fast == want.meta.records_fast
    assert got.meta.records_exact == want.meta.records_exact
