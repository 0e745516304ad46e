"""The per-record decode: which route each record takes, identity, and bad records alone.

* The fast route is taken on clean and on drift pages (a library upgrade that silently
  disables it fails here), and the counts reach ``CatalogMeta``, the manifest and the log.
* Both routes agree on demo pages (clean, drift, adversarial) and on fuzzed drift pages.
* Identity is exact: every record sent ends in ``models`` (once per id), ``rejects`` or the
  duplicate count, never nowhere and never twice.
* One bad record costs one record: deep, huge, not JSON, wrong types, numeric ids.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import polars as pl
import pytest
from _frames_records import clone, full_record, page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.demo.generator import make_records
from scenario_frames.fetch_stats import FetchStats
from scenario_frames.store import read_snapshot, write_snapshot
from scenario_frames.tables import catalog as F
from scenario_frames.tables import decode as D
from scenario_frames.tables import materialize as M
from scenario_frames.tables.builder import CatalogBuilder
from scenario_frames.tables.catalog import Catalog

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _pages(records: list[Any], per_page: int = 100) -> list[bytes]:
    return [page(records[i : i + per_page], token=str(i)) for i in range(0, len(records), per_page)]


def _routes(pages: list[bytes]) -> tuple[dict[str, pl.DataFrame], FetchStats]:
    """Tables by the fast route and by the exact route only; they must agree exactly."""
    fast, stats = F._assemble(M.iter_page_outputs(pages))
    exact, exact_stats = F._assemble(M.iter_page_outputs(pages, fast=False))
    for name in S.TABLE_ORDER:
        assert_frame_equal(fast[name], exact[name])
    assert exact_stats.records_fast == 0
    assert stats.records_fast + stats.records_exact == exact_stats.records_exact
    return fast, stats


def _adversarial(records: list[dict]) -> list[dict]:
    for i, rec in enumerate(records):
        rec.setdefault("thumbnail", {"assetId": f"a{i}", "url": "u"})["focus"] = {"x": i}
    return records


# ---------------------------------------------------------------------------------------------
# Which route
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drift", [False, True], ids=["clean", "drift"])
def test_fast_route_taken_on_clean_and_drift_pages(drift: bool) -> None:
    records = make_records(1000, seed=5, drift=drift)
    tables, stats = _routes(_pages(records, 500))
    assert stats.records_fast + stats.records_exact == 1000
    custom = sum(r["type"] == "custom" for r in records)  # inputs and uiConfig need Python
    assert stats.records_exact >= custom
    # most records skip Python: clean pages all but the custom models, drift pages most
    assert stats.records_fast >= (1000 - custom if not drift else 700), stats
    if drift:  # and every page holds both kinds: one stranger no longer costs the page
        for first in (0, 500):
            out = M.page_output(page(records[first : first + 500]), 0, 0)
            assert out.fast_records > 300 and out.exact_records > 50
    assert tables["models"].height == 1000


def test_adversarial_pages_take_the_exact_route_and_agree() -> None:
    records = _adversarial(make_records(300, seed=6))
    tables, stats = _routes(_pages(records))
    assert stats.records_fast == 0 and stats.records_exact == 300
    assert all(json.loads(x)["thumbnail"]["focus"] for x in tables["models"]["extra"])


def test_counts_reach_meta_manifest_and_debug_log(tmp_path, caplog) -> None:
    records = make_records(600, seed=7, drift=True)
    with caplog.at_level(logging.DEBUG, logger="scenario_frames.tables.catalog"):
        cat = Catalog.from_json_pages(_pages(records, 200))
    assert cat.meta.records_fast > 0 and cat.meta.records_exact > 0
    assert cat.meta.records_fast + cat.meta.records_exact == 600
    line = next(r.getMessage() for r in caplog.records if "fast route" in r.getMessage())
    assert f"{cat.meta.records_fast} record(s) on the fast route" in line
    folder = write_snapshot(cat, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["records_fast"], manifest["records_exact"]) == (
        cat.meta.records_fast,
        cat.meta.records_exact,
    )
    back = read_snapshot(folder).meta
    assert (back.records_fast, back.records_exact) == (
        cat.meta.records_fast,
        cat.meta.records_exact,
    )


def test_an_unknown_key_sends_only_its_record_to_python_and_a_null_none() -> None:
    records = [full_record(f"model_{i}", i) for i in range(6)]
    for r in records:
        del r["inputs"], r["uiConfig"]  # fields Python reads: not what this test is about
    records[1]["shortDescription"] = None  # a known key's null: Arrow reads it, nothing to add
    records[2]["thumbnail"]["url"] = None
    records[3]["thumbnail"]["blurhash"] = "x"
    records[4]["name"] = 'a "quoted": {key} [in] a string \\ with: colons'
    out = M.page_output(page(records), 0, 0)
    assert (out.fast_records, out.exact_records) == (5, 1)
    tables, _ = _routes([page(records)])
    extras = tables["models"]["extra"].to_list()
    assert json.loads(extras[3]) == {"thumbnail": {"blurhash": "x"}}
    assert extras[:3] + extras[4:] == [None] * 5


# ---------------------------------------------------------------------------------------------
# Both routes agree: fuzzed drift pages
# ---------------------------------------------------------------------------------------------

_DRIFT = make_records(40, seed=8, drift=True) + _adversarial(make_records(10, seed=9))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**64 + 1, -(2**63) - 1, 10**29, 2**64 - 1]),  # beyond orjson's ints
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(['\\": x', '"a":{', "é😀", "\\\\"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _objects(d: Any, out: list) -> list:
    if isinstance(d, dict):
        out.append(d)
        for v in d.values():
            _objects(v, out)
    elif isinstance(d, list):
        for v in d:
            _objects(v, out)
    return out


@st.composite
def drift_pages(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = [
        clone(r) for r in draw(st.lists(st.sampled_from(_DRIFT), min_size=1, max_size=8))
    ]
    for rec in records:
        for _ in range(draw(st.integers(0, 3))):
            where = draw(st.sampled_from(_objects(rec, [])))
            action = draw(st.sampled_from(["unknown", "null", "set", "drop"]))
            keys = [k for k in where if k != "id"]
            if action == "unknown":
                where["zz" + draw(st.text(max_size=6))] = draw(values)
            elif keys and action == "null":
                where[draw(st.sampled_from(keys))] = None
            elif keys and action == "set":
                where[draw(st.sampled_from(keys))] = draw(values)
            elif keys:
                del where[draw(st.sampled_from(keys))]
        change = draw(st.sampled_from(["keep"] * 6 + ["drop", "number", "empty", "twin"]))
        if change == "drop":
            rec.pop("id", None)
        elif change == "number":
            rec["id"] = 12345
        elif change == "empty":
            rec["id"] = ""
        elif change == "twin":
            records.append(clone(rec))
    return records


@SETTINGS
@given(drift_pages(), st.integers(1, 4), st.booleans())
def test_fuzzed_drift_pages_routes_agree_and_every_record_is_counted(records, per_page, pretty):
    dump = (lambda d: json.dumps(d, indent=1, ensure_ascii=False).encode()) if pretty else M.to_json
    pages = [dump({"models": records[i : i + per_page]}) for i in range(0, len(records), per_page)]
    tables, stats = _routes(pages)
    for text in tables["models"]["extra"].drop_nulls().to_list():  # extra is lossless
        assert json.loads(text) == _unknown(records, json.loads(text))
    assert len(records) == tables["models"].height + tables["rejects"].height + stats.duplicates
    assert tables["models"]["model_id"].is_unique().all()
    cat = Catalog.from_records(records)
    for name in S.TABLE_ORDER[:-1]:
        assert_frame_equal(cat.tables[name], tables[name])


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------


def test_numeric_missing_and_empty_ids_are_rejects_never_lost_or_merged() -> None:
    recs = [
        {"id": 12345, "name": "number"},
        {"id": "12345", "name": "string"},
        {"name": "no id 1"},
        {"name": "no id 2"},
        {"id": None},
        {"id": ""},
        {"id": ["x"]},
        {"id": True},
    ]
    for as_pages in (True, False):
        cat = Catalog.from_json_pages([page(recs)]) if as_pages else Catalog.from_records(recs)
        assert cat.models["model_id"].to_list() == ["12345"]
        assert cat.models["name"].to_list() == ["string"]
        rej = cat.rejects
        assert rej["index"].to_list() == [0, 2, 3, 4, 5, 6, 7]
        assert rej["reason"].to_list() == [
            "id is a number, not a string",
            "no id",
            "no id",
            "no id",
            "id is empty",
            "id is an array, not a string",
            "id is a boolean, not a string",
        ]
        assert cat.meta.duplicates == 0


def test_duplicates_last_copy_wins_counted_once_by_the_builder() -> None:
    a1, b, a2 = full_record("model_a", 1), full_record("model_b", 2), full_record("model_a", 3)
    a3 = clone(a2)
    a3["name"] = "newest"
    pages = [page([a1, b]), page([a2]), page([b, a3])]
    with CatalogBuilder() as builder:
        for i, body in enumerate(pages):
            builder.add_page(body, i)
        cat = builder.finish(F.CatalogMeta(duplicates=99))  # a stale count is replaced
    assert cat.meta.duplicates == 3
    assert sorted(cat.models["model_id"].to_list()) == ["model_a", "model_b"]
    assert cat.models.filter(pl.col("model_id") == "model_a")["name"][0] == "newest"
    assert cat.variants.filter(pl.col("model_id") == "model_a").height == len(
        a3["performanceStats"]["variants"]
    )
    assert len([a1, b, a2, b, a3]) == cat.models.height + cat.rejects.height + cat.meta.duplicates


# ---------------------------------------------------------------------------------------------
# One bad record costs one record
# ---------------------------------------------------------------------------------------------


def _neighbours(n: int) -> list[bytes]:
    return [orjson.dumps(r) for r in make_records(n, seed=10)]


def _page_with(bad: bytes, at: int = 30, n: int = 59) -> bytes:
    parts = _neighbours(n)
    parts.insert(at, bad)
    return b'{"models":[' + b",".join(parts) + b'],"nextPaginationToken":"x"}'


@pytest.mark.parametrize("what", ["deep-unknown", "deep-known", "huge", "not-json", "bad-type"])
def test_one_bad_record_costs_one_record(what: str) -> None:
    depth = 100_000
    bad = {
        "deep-unknown": b'{"id":"model_deep","zz":' + b"[" * depth + b"]" * depth + b"}",
        "deep-known": b'{"id":"model_deep","name":' + b"[" * depth + b"]" * depth + b"}",
        "huge": b'{"id":"model_big","zz":"' + b"x" * (D.MAX_RECORD_BYTES + 1) + b'"}',
        "not-json": b'{"id":"model_nan","x":NaN}',
        "bad-type": b'{"id":"model_bad","trainingImagesNumber":"many"}',
    }[what]
    cat = Catalog.from_json_pages([_page_with(bad)])
    assert cat.models.height == 59
    assert cat.rejects.height == 1
    row = cat.rejects.row(0, named=True)
    assert row["index"] == 30 and row["page"] == 0
    assert row["raw"].encode() == bad
    expected = {
        "deep-unknown": D.TOO_DEEP,
        "deep-known": D.TOO_DEEP,
        "huge": "bytes; the limit",
        "not-json": "not valid JSON",
        "bad-type": "trainingImagesNumber",
    }[what]
    assert expected in row["reason"], row["reason"]


def test_records_that_are_not_objects_are_rejects_beside_kept_neighbours() -> None:
    body = _page_with(b'"just text"', at=0)
    body = body.replace(b'"models":[', b'"models":[null, 7, [1, 2], ', 1)
    cat = Catalog.from_json_pages([body])
    assert cat.models.height == 59
    assert cat.rejects["reason"].to_list() == [
        "record is null, not an object",
        "record is a number, not an object",
        "record is an array, not an object",
        "record is a string, not an object",
    ]


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b'"\xff\xfe"', b'"\xc3"'])
def test_bytes_arrow_takes_and_orjson_refuses_are_read_exactly(value: bytes) -> None:
    """Arrow's reader takes NaN, Infinity and bytes that are not UTF-8; the fast route must not
    let them through where the exact route refuses them."""
    field = b'"name"' if value.startswith(b'"') else b'"trainingImagesNumber"'
    bad = b'{"id":"model_odd",' + field + b":" + value + b"}"
    body = _page_with(bad, at=3, n=10)
    fast = M.page_output(body, 0, 0)
    exact = M.page_output(body, 0, 0, fast=False)
    for out in (fast, exact):
        assert len(out.models) == 10
        assert [r[1] for r in out.rejects] == [3]
        assert "not valid JSON" in out.rejects[0][3]
    assert fast.exact_records == 1 + sum(r["type"] == "custom" for r in make_records(10, seed=10))


# ---------------------------------------------------------------------------------------------
# Nothing silently lost: repeated keys, integers beyond 64 bits
# ---------------------------------------------------------------------------------------------


def _unknown(records: list[Any], extra: dict) -> dict:
    """``extra`` rebuilt from the records sent: the values at its paths, in the record whose
    extra matches (a helper for the lossless check)."""

    def pick(src: Any, shape: Any) -> Any:
        if not isinstance(shape, dict) or not isinstance(src, dict):
            return src
        return {k: pick(src.get(k), v) for k, v in shape.items()}

    for rec in records:
        if isinstance(rec, dict) and pick(rec, extra) == extra:
            return extra
    return {"not found in any record": extra}


def _two(extra: bytes) -> tuple[bytes, str, str]:
    a, b = make_records(2, seed=2)
    a.pop("thumbnail", None)  # a test may write its own
    return json.dumps(a).encode()[:-1] + extra + b"}", a["id"], b["id"]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "exact"])
@pytest.mark.parametrize(
    "extra, want",
    [
        (
            b',"zz":{"a":[18446744073709551617,{"b":-0}]}',
            '{"zz":{"a":[18446744073709551617,{"b":0}]}}',
        ),
        (b',"zz":123456789012345678901234567890', '{"zz":123456789012345678901234567890}'),
        (b',"zz":-9223372036854775809', '{"zz":-9223372036854775809}'),
        (
            b',"zz":[18446744073709551615,"12345678901234567890"]',
            '{"zz":[18446744073709551615,"12345678901234567890"]}',
        ),
    ],
)
def test_integers_beyond_64_bits_are_kept_exactly_in_extra(
    fast: bool, extra: bytes, want: str
) -> None:
    """orjson reads integers outside -2**63 .. 2**64-1 as floats; extra must keep them exactly
    (``-0`` is read as ``0``, documented)."""
    rec, a, _b = _two(extra)
    body = b'{"models":[' + rec + b"," + json.dumps(make_records(2, seed=2)[1]).encode() + b"]}"
    out = M.page_output(body, 0, 0, fast=fast)
    cat = Catalog.from_json_pages([body]) if fast else None
    assert not out.rejects
    assert out.extras["models"][(0,)] and M.dumps(out.extras["models"][(0,)]) == want
    if cat is not None:
        assert cat.models.filter(pl.col("model_id") == a)["extra"].to_list() == [want]
        # the whole-page route (an escaped envelope key) and Python records keep them too
        whole = Catalog.from_json_pages([body.replace(b'"models"', b'"\\u006dodels"', 1)])
        assert whole.models.filter(pl.col("model_id") == a)["extra"].to_list() == [want]
        assert Catalog.from_records([json.loads(rec)]).models["extra"].to_list() == [want]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "exact"])
@pytest.mark.parametrize(
    "extra, key",
    [
        (b',"zz":1,"zz":2', "zz"),
        (b',"zz":{"q":1,"r":[{"s":1,"s":1}]}', "s"),
        (b',"thumbnail":{"assetId":"x","url":"u","focus":{"x":1,"x":2}}', "x"),
        # Backslashes in the record: its keys are counted by the splitter, not by '":' pairs.
        (b',"note":"say \\"hi\\":","zz":1,"zz":2', "zz"),
        (b',"k\\\\":1,"k\\\\":2', "k\\\\"),
    ],
)
def test_a_repeated_key_makes_its_record_a_reject(fast: bool, extra: bytes, key: str) -> None:
    """orjson keeps only the last copy of a repeated key; the record must not pass as if it
    held one (a repeated known key already fails the typed read)."""
    rec, a, _b = _two(extra)
    body = b'{"models":[' + rec + b"," + json.dumps(make_records(2, seed=2)[1]).encode() + b"]}"
    out = M.page_output(body, 0, 0, fast=fast)
    assert [(r[1], r[2], r[3]) for r in out.rejects] == [(0, a, f'key "{key}" appears twice')]
    assert out.rejects[0][4] == rec.decode()
    assert len(out.models) == 1 and out.rids == [1]


def test_a_page_with_models_twice_is_a_page_level_reject_with_its_text() -> None:
    """orjson keeps only the last ``models`` array; no record may vanish without a trace."""
    a, b = make_records(2, seed=2)
    A, B = json.dumps(a).encode(), json.dumps(b).encode()
    for body in (
        b'{"models":[' + A + b'],"models":[' + B + b"]}",
        b'{"models":[' + A + b'],"\\u006dodels":[' + B + b"]}",
        b'{"\\u006dodels":[' + A + b"," + A[:-1] + b',"zz":1,"zz":2}]}',
    ):
        cat = Catalog.from_json_pages([body])
        assert cat.models.height == 0 and cat.meta.duplicates == 0, body
        assert cat.rejects["raw"].to_list() == [body.decode()]
        assert "appears twice" in cat.rejects["reason"][0]
    # a page the splitter cannot cut but that repeats nothing is still read
    cat = Catalog.from_json_pages([b'{"\\u006dodels":[' + A + b"," + B + b"]}"])
    assert sorted(cat.models["model_id"].to_list()) == sorted([a["id"], b["id"]])


def _nested_list(n: int) -> str:
    return "[" * n + "1" + "]" * n


@pytest.mark.parametrize("depth", [199, 254, 300, 900])
def test_a_too_deep_record_costs_only_itself_on_the_whole_page_route(depth: int) -> None:
    """A page the compiled pass cannot cut (here an escaped envelope key) is read whole and
    written again; a record nested deeper than orjson writes (about 250 levels) is refused
    alone, as on the usual route, and its neighbour is kept (found by an attack on the
    batching: the whole page used to become one reject)."""
    plain = ('{"models":[{"id":"ok"},{"id":"deep","zz":' + _nested_list(depth) + "}]}").encode()
    escaped = plain.replace(b'{"models"', b'{"\\u006dodels"', 1)
    usual, whole = Catalog.from_json_pages([plain]), Catalog.from_json_pages([escaped])
    assert usual.meta.records_fast + usual.meta.records_exact == 2
    assert whole.meta.records_exact == 2 and whole.meta.records_fast == 0  # read whole
    too_deep = depth + 1 > D.MAX_DEPTH  # the record's own object is a level too
    for cat in (usual, whole):
        assert cat.models["model_id"].to_list() == ["ok"] + ([] if too_deep else ["deep"])
        assert cat.models.height + cat.rejects.height == 2
    if too_deep:
        assert whole.rejects["model_id"].to_list() == ["deep"]
        assert whole.rejects["reason"].to_list() == usual.rejects["reason"].to_list()
        assert whole.rejects["reason"].to_list() == [D.TOO_DEEP]
        assert json.loads(whole.rejects["raw"].item())["zz"] == json.loads(_nested_list(depth))


def test_a_page_read_whole_deeper_than_its_parsers_says_so() -> None:
    """Beyond about 1,000 levels no parser that reads a page whole goes: such a page (one the
    compiled pass could not cut) is one reject whose reason says why, not 'not valid JSON'."""
    for depth in (1000, 1100):
        body = '{"\\u006dodels":[{"id":"ok"},{"id":"deep","zz":' + _nested_list(depth) + "}]}"
        cat = Catalog.from_json_pages([body.encode()])
        assert cat.models.height == 0 and cat.rejects.height == 1
        assert "nested too deep to be read whole" in cat.rejects["reason"].item(), depth


def test_a_record_too_deep_for_any_writer_makes_the_whole_page_reason_not_a_crash() -> None:
    """``_record_texts`` turns the stdlib's RecursionError into the TypeError the whole-page
    route reports as a page-level reject (``page_output`` never raises)."""
    value: Any = 1
    for _ in range(5000):
        value = [value]
    with pytest.raises(TypeError, match="nested too deep"):
        M._record_texts([{"id": "deep", "zz": value}])
