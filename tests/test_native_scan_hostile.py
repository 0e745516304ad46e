"""The compiled page pass (``tables/_scan.c``) against hostile page bytes.

The oracle: ``page_output(body, fast=True)`` must equal ``fast=False`` (every record decoded
whole by Python), and the tables of ``Catalog.from_json_pages`` must equal the exact route's.
The pass must never crash or raise on arbitrary bytes, and a page it cannot cut is a reason.

The first group are regressions of bugs this attack found, now fixed: values Arrow's reader
takes and orjson refuses that the pass did not flag ``lax`` (``-NaN``, numbers beyond the range
of a double), and the reason given to such a record when it also has no usable id.  The rest
pin down hostile shapes that agreed from the start.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from _frames_records import both_routes, clone, full_record, object_paths, python_free_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.tables import catalog as F
from scenario_frames.tables import decode as D
from scenario_frames.tables import materialize as M
from scenario_frames.tables.catalog import Catalog

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _page(*records: bytes) -> bytes:
    return b'{"models":[' + b",".join(records) + b"]}"


def _clean(i: int) -> dict:
    return python_free_record(f"model_{i}", i)


def _among_clean(odd: bytes) -> bytes:
    """``odd`` between two clean records."""
    return _page(orjson.dumps(_clean(0)), odd, orjson.dumps(_clean(1)))


_same = both_routes


def _tables_same(pages: list[bytes]) -> dict:
    """``Catalog.from_json_pages`` equals the exact route's tables, table by table."""
    exact, _ = F._assemble(M.iter_page_outputs(pages, fast=False))
    cat = Catalog.from_json_pages(pages)
    for name in S.TABLE_ORDER:
        assert_frame_equal(getattr(cat, name), exact[name])
    return exact


def _reasons(out: M.PageOut) -> list[str]:
    return [r[3] for r in out.rejects]


# ---------------------------------------------------------------------------------------------
# "-NaN": taken by Arrow, refused by orjson, so flagged lax like "-I"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        b'"trainingImagesNumber":-NaN',
        b'"concepts":[{"scale":-NaN}]',
        b'"performanceStats":{"variants":[{"arenaScore":{"rank":-NaN}}]}',
        b'"trainingImagesNumber":-NaN,"zz":1',  # also needs Python: decoded by members
    ],
)
def test_minus_nan_is_refused_on_both_routes(member: bytes) -> None:
    """Arrow reads ``-NaN`` as a float NaN; orjson refuses it.  The pass once flagged values
    starting with ``N``, ``I`` or ``-I`` as lax but not ``-N``, and the fast route kept a
    record the exact route refuses as not JSON."""
    out = _same(_among_clean(b'{"id":"odd",' + member + b"}"))
    assert [r[1] for r in out.rejects] == [1]  # the odd record alone (not JSON: no id read)
    assert "not valid JSON" in out.rejects[0][3]
    assert out.rids == [0, 2]


def test_minus_nan_makes_its_record_lax() -> None:
    """The pass itself: ``-NaN`` after ``:``, ``,`` or ``[`` must flag the record as ``-I``
    and ``NaN`` do (``_scan.c``, the check after ``: , [``)."""
    for value in (b'{"a":-NaN}', b'{"a":[1,-NaN]}', b'{"a":[-NaN]}', b'{"a":-Infinity}'):
        split = M.SCANNER.split_page(_page(value))
        assert isinstance(split, D.Split)
        assert split.lax.tolist() == [True], value


def test_minus_nan_gives_the_same_tables() -> None:
    """The same seen from the catalog: the record must not be in ``models``."""
    body = _among_clean(b'{"id":"odd","trainingImagesNumber":-NaN}')
    tables = _tables_same([body])
    assert "odd" not in tables["models"][S.KEY].to_list()


# ---------------------------------------------------------------------------------------------
# A number beyond the range of a double: Arrow reads it as infinity, orjson refuses it
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [b"2e308", b"1.8e308", b"-1.8e308", b"1" * 400, b"-" + b"9" * 320, b"1" * 400 + b".0"],
    ids=["2e308", "1.8e308", "-1.8e308", "400-digits", "-320-digits", "400-digits-fraction"],
)
def test_a_number_beyond_double_range_is_refused_on_both_routes(number: bytes) -> None:
    """Arrow converts such a literal in a Float64 field to +/-inf (``1e309`` it refuses);
    orjson refuses it ("number is infinity when parsed as double").  Nothing in the pass
    flagged it, and the fast route kept the record with an infinite value."""
    out = _same(_among_clean(b'{"id":"odd","trainingImagesNumber":' + number + b"}"))
    assert [r[1] for r in out.rejects] == [1]  # the odd record alone (not JSON: no id read)
    assert "infinity" in out.rejects[0][3]


def test_a_nested_number_beyond_double_range_is_refused_on_both_routes() -> None:
    """The same, inside a list item's object (performanceStats.variants[].arenaScore)."""
    member = b'"performanceStats":{"variants":[{"arenaScore":{"rank":2e308}}]}'
    out = _same(_among_clean(b'{"id":"odd",' + member + b"}"))
    assert [r[1] for r in out.rejects] == [1]
    assert "infinity" in out.rejects[0][3]


# ---------------------------------------------------------------------------------------------
# A record that is not JSON but that Arrow reads, without a usable id: orjson's reason first
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        b'{"trainingImagesNumber":NaN}',
        b'{"id":"","trainingImagesNumber":Infinity}',
        b'{"id":null,"trainingImagesNumber":-Infinity}',
        b'{"name":"\xff"}',  # not UTF-8: flagged lax by decode.Scanner.split_page
    ],
    ids=["nan-no-id", "inf-empty-id", "minus-inf-null-id", "not-utf8-no-id"],
)
def test_a_lax_record_without_an_id_has_the_exact_routes_reason(record: bytes) -> None:
    """The fast route checked ids from Arrow's read before anything else and refused these as
    "no id" / "id is empty", where the exact route decodes them whole first and refuses them as
    "record is not valid JSON: ...".  The rejects tables must not differ."""
    out = _same(_among_clean(record))
    assert [r[3].startswith("record is not valid JSON") for r in out.rejects] == [True]


# ---------------------------------------------------------------------------------------------
# Keys written with escapes, repeated, unknown, at every depth
# ---------------------------------------------------------------------------------------------


def _escape_first(key: str) -> str:
    return f"\\u{ord(key[0]):04x}" + key[1:]


_object_paths = object_paths


def _at(rec: Any, path: tuple) -> Any:
    for k in path:
        rec = rec[k]
    return rec


_RECORD = full_record("odd", 3)
_PATHS = _object_paths(_RECORD)


def _write(rec: dict, replace: list[tuple[bytes, bytes]]) -> bytes:
    """``rec`` written compactly, then raw byte replacements (first occurrence each)."""
    raw = orjson.dumps(rec)
    for old, new in replace:
        assert old in raw, old
        raw = raw.replace(old, new, 1)
    return raw


@SETTINGS
@given(st.sampled_from(_PATHS), st.data())
def test_a_known_key_written_with_an_escape_anywhere_agrees(
    path: tuple, data: st.DataObject
) -> None:
    rec = clone(_RECORD)
    target = _at(rec, path)
    key = data.draw(st.sampled_from(sorted(target)))
    marker = f"__{len(path)}_{key}__"
    target[marker] = target.pop(key)
    raw = _write(rec, [(json.dumps(marker).encode(), json.dumps(_escape_first(key)).encode())])
    raw = raw.replace(b"\\\\u", b"\\u")  # the escape written as an escape, not as text
    out = _same(_among_clean(raw))
    split = M.SCANNER.split_page(_among_clean(raw))
    assert isinstance(split, D.Split) and split.need[1]
    assert split.whole.tolist() == [False, not path, False]
    assert out.rejects == []


@SETTINGS
@given(st.sampled_from(_PATHS), st.data())
def test_a_key_repeated_anywhere_is_a_reject_on_both_routes(
    path: tuple, data: st.DataObject
) -> None:
    """Known (Arrow refuses it), unknown (counted by Python), or once written escaped."""
    rec = clone(_RECORD)
    target = _at(rec, path)
    key = data.draw(st.sampled_from([*sorted(target), "zz"]))
    value = data.draw(st.sampled_from([None, 1, "s", {}, [], {"zz": 1}]))
    escaped = data.draw(st.booleans())
    target.setdefault(key, value)
    target["__dup__"] = value
    twin = _escape_first(key) if escaped else key
    raw = _write(rec, [(b'"__dup__"', json.dumps(twin).encode().replace(b"\\\\u", b"\\u"))])
    out = _same(_among_clean(raw))
    assert [r[2] for r in out.rejects] == ["odd"]


_WRONG = [None, 0, -1.5, True, "s", "", {}, [], {"zz": None}, [None], [{}], [[]], [{"zz": 1}]]


@SETTINGS
@given(st.sampled_from(_PATHS), st.data())
def test_any_value_of_any_type_at_any_known_key_agrees(path: tuple, data: st.DataObject) -> None:
    rec = clone(_RECORD)
    target = _at(rec, path)
    key = data.draw(st.sampled_from(sorted(target)))
    if path == () and key == "id":
        return
    target[key] = data.draw(st.sampled_from(_WRONG))
    extra = data.draw(st.sampled_from([None, ("zz", 1), ("zz", {"a": [1]})]))
    if extra:
        target[extra[0]] = extra[1]
    _same(_among_clean(orjson.dumps(rec)))


def test_unknown_keys_deep_in_lists_are_extras_on_both_routes() -> None:
    rec = _clean(5)
    rec["id"] = "odd"
    rec["epochs"][1]["assets"][0]["zz"] = {"a": 1}
    rec["performanceStats"]["variants"][0]["arenaScore"]["zz"] = [1, {"b": None}]
    rec["concepts"][0]["zz"] = None
    out = _same(_among_clean(orjson.dumps(rec)))
    assert out.rejects == []
    assert out.extras["epochs"] == {(1, 1, 0): {"assets": {"zz": {"a": 1}}}}
    assert out.extras["variants"] == {(1, 0): {"arenaScore": {"zz": [1, {"b": None}]}}}
    assert out.extras["concepts"] == {(1, 0): {"zz": None}}


def test_explicit_nulls_everywhere_need_nothing_and_agree() -> None:
    rec = _clean(5)
    rec["id"] = "odd"
    for path in sorted(_object_paths(rec), key=len, reverse=True):  # deepest first
        target = _at(rec, path)
        for key in target:
            if (path, key) != ((), "id"):
                target[key] = None
    rec["inputs"] = rec["uiConfig"] = None
    body = _among_clean(orjson.dumps(rec))
    split = M.SCANNER.split_page(body)
    assert isinstance(split, D.Split) and split.need.tolist() == [False, False, False]
    out = _same(body)
    assert out.rejects == [] and out.rids == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# Strings, backslashes, blanks, lax values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["\\", "\\\\", '\\"', 'a"}],{"zz":1', "\\\\\\", '":', "},{", "\u2028\u00e9\U0001f600", ""],
)
def test_structure_and_backslash_runs_inside_strings_and_keys(value: str) -> None:
    rec = _clean(7)
    rec["id"] = "odd"
    rec["name"] = value
    rec["thumbnail"]["url"] = value + "\\"
    rec["zz" + value] = {value: value}
    out = _same(_among_clean(orjson.dumps(rec)))
    assert out.rejects == []
    assert out.extras["models"] == {(1,): {"zz" + value: {value: value}}}


@pytest.mark.parametrize(
    "member",
    [
        b'"custom":NaN',
        b'"trainingImagesNumber":Infinity',
        b'"trainingImagesNumber":-Infinity',
        b'"trainingImagesNumber":Inf',
        b'"tags":[NaN]',
        b'"tags":["a",Infinity]',
        b'"name":"x\ty"',
        b'"name":"\x01"',
        b'"name":"\\ud800"',
        b'"name":"\\udc00"',
        b'"trainingImagesNumber":1e400',
        b'"trainingImagesNumber":01',
        b'"trainingImagesNumber":.5',
        b'"name":"x",',
    ],
)
def test_values_orjson_refuses_are_refused_on_both_routes(member: bytes) -> None:
    out = _same(_among_clean(b'{"id":"odd",' + member + b"}"))
    assert len(out.rejects) == 1 and out.rids == [0, 2]


@pytest.mark.parametrize("indent", [b"\n", b"\r\n\t", b" ", b"\r"])
def test_pretty_printed_pages_agree(indent: bytes) -> None:
    recs = [_clean(i) for i in range(3)]
    recs[1]["zz"] = {"a": [1, {"b": "},{"}]}
    text = orjson.dumps({"models": recs}, option=orjson.OPT_INDENT_2).replace(b"\n", indent)
    out = _same(text)
    assert out.rejects == [] and out.extras["models"] == {(1,): {"zz": {"a": [1, {"b": "},{"}]}}}


# ---------------------------------------------------------------------------------------------
# The page: nesting, non-objects, a second models key, empty and truncated pages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n", [198, 199, 200, 201, 254, 255, 510, 511, 512, 513, 514, 1000, 100_000]
)
def test_deep_nesting_inside_and_outside_records(n: int) -> None:
    lists = b"[" * n + b"1" + b"]" * n
    objs = b'{"zz":' * n + b"1" + b"}" * n
    for body in (
        _page(b'{"id":"b"}', b'{"id":"a","zz":' + lists + b"}"),
        _page(b'{"id":"b"}', b'{"id":"a","zz":' + objs + b"}"),
        _page(b'{"id":"b"}', b'{"id":"a","tags":' + lists.replace(b"1", b'"x"') + b"}"),
        b'{"x":' + lists + b',"models":[{"id":"b"}]}',
        _page(b'{"id":"b"}', lists),
        _page(b'{"id":"b"}', b"[" * n),
    ):
        out = _same(body)
        deep = n + 1 > D.MAX_DEPTH
        if body.startswith(b'{"models":[{"id":"b"},{"id":"a"'):
            assert out.rids == ([0] if deep or b"tags" in body else [0, 1])
            if deep:
                assert _reasons(out) == [D.TOO_DEEP]


def test_non_objects_between_records_are_rejects_alone() -> None:
    body = _page(
        b'{"id":"a"}', b"1", b'"x"', b"null", b"[]", b'[{"id":"q"}]', b"true", b'{"id":"b"}'
    )
    out = _same(body)
    assert out.rids == [0, 7]
    assert _reasons(out) == [
        "record is a number, not an object",
        "record is a string, not an object",
        "record is null, not an object",
        "record is an array, not an object",
        "record is an array, not an object",
        "record is a boolean, not an object",
    ]


@pytest.mark.parametrize(
    "body",
    [
        b'{"x":{"models":[{"zz":1}]},"models":[{"id":"a"}]}',
        b'{"models":[{"id":"a","models":[{"id":"b"}]}],"y":[{"models":2}]}',
        b'{"x":"\\"models\\":[","models":[{"id":"a"}]}',
        b'{"models" \t:\n[{"id":"a"}] }',
    ],
)
def test_a_second_models_key_elsewhere_is_not_the_models_array(body: bytes) -> None:
    out = _same(body)
    assert out.rids == [0] and out.rejects == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" ",
        b"{}",
        b"[]",
        b"null",
        b'{"models":null}',
        b'{"models":{}}',
        b'{"models":[]',
        b'{"models":[{"id":"a"}]}{"x":1}',
        b'{"x":1}{"models":[{"id":"a"}]}',
        b'{"models":[{"id":"a"}],"t":NaN}',
        b'{"models":[{"id":"a"}],"t":1,"t":2,"models":[]}',
        b'{"mod\\u0065ls":[{"id":"a"}]}',
        b'{"models":[{"id":"a"}]}\x00',
        b'\xef\xbb\xbf{"models":[]}',
        b'{"models":[{"id":"a"}\\"x"]}',
        b'{\\"models":[{"id":"a"}]}',
    ],
)
def test_odd_pages_give_reasons_not_exceptions(body: bytes) -> None:
    out = _same(body)
    assert out.rids == [] or out.rids == [0]


def test_every_truncation_of_a_page_agrees() -> None:
    recs = [full_record("a", 0), {"id": "b", "zz": {"y": [1, {"q": 'x\\"y'}]}, "name": 'n:"{[,'}]
    body = orjson.dumps({"models": recs, "nextPaginationToken": "t"})
    for k in range(0, len(body), 7):
        _same(body[:k])
        _same(body[:k] + body[k + 1 :])


def test_huge_keys_and_many_members() -> None:
    long = "k" * 100_000
    rec: dict[str, Any] = {"id": "odd", long: {long + "x": 1}}
    rec.update({f"zz{i}": i for i in range(5000)})
    rec["thumbnail"] = {"url": "u", long: None}
    out = _same(_among_clean(orjson.dumps(rec)))
    assert out.rejects == []
    assert len(out.extras["models"][(1,)]) == 5002


# ---------------------------------------------------------------------------------------------
# Arbitrary bytes: never a crash, never an exception, always the oracle's answer
# ---------------------------------------------------------------------------------------------

_TOKENS = [
    *(bytes([c]) for c in b'"\\:,{}[] \n\t'),
    b"null",
    b"NaN",
    b"-NaN",
    b"-Infinity",
    b"1e999",
    b"2e308",
    b"1",
    b'"id"',
    b'"a"',
    b'"zz"',
    b'"name"',
    b'"tags"',
    b'"inputs"',
    b'"uiConfig"',
    b'"models"',
    b'"thumbnail"',
    b"\\u0061",
    b"\x00",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xc3\xa9",
]
_BYTES = st.binary(max_size=60) | st.lists(st.sampled_from(_TOKENS), max_size=40).map(b"".join)


@SETTINGS
@given(_BYTES, st.booleans())
def test_any_bytes_never_raise_and_agree(raw: bytes, wrap: bool) -> None:
    body = _page(b'{"id":"a"}', raw) if wrap else raw
    got = M.SCANNER.split_page(body)
    if isinstance(got, D.Split):
        assert (got.starts < got.ends).all() and (got.ends <= len(body)).all()
        f = got.fields
        assert (f.key_lo <= f.key_hi).all() and (f.val_hi <= len(body)).all()
    out = _same(body)
    assert all(type(r[3]) is str and r[3] for r in out.rejects)
