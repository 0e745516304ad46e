"""The compiled page pass (``tables/_scan.c``): where records and members lie, which need Python.

* Spans, key counts and depths are checked against what ``json`` finds in the same bytes, on
  any JSON values (escapes, structure inside strings, pretty-printing), and the pass never
  fails on arbitrary bytes.
* Each shape the pass refuses has its reason.
* A member needs Python exactly when an unknown key, a Python field or a misplaced object or
  list is inside it; a known key's ``null`` and known keys anywhere need nothing.
* ``count_keys`` in C equals its Python version; without the extension every page takes the
  exact route and the tables are the same.
The extension must be built here: CI has a C compiler, so a build that silently fell back
would otherwise only show as slowness.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from _frames_records import clone, full_record, object_paths, page, python_free_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.demo.generator import make_records
from scenario_frames.tables import catalog as F
from scenario_frames.tables import decode as D
from scenario_frames.tables import materialize as M

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_the_extension_is_built() -> None:
    if os.environ.get("SCENARIO_FRAMES_ALLOW_NO_C") == "1":
        pytest.skip("this machine builds without a C compiler (SCENARIO_FRAMES_ALLOW_NO_C=1)")
    assert D._scan is not None, "scenario_frames.tables._scan is not built: pip install -e ."


def _split(body: bytes) -> D.Split:
    got = M.SCANNER.split_page(body)
    assert isinstance(got, D.Split), got
    return got


# ---------------------------------------------------------------------------------------------
# Where things are
# ---------------------------------------------------------------------------------------------


def test_spans_counts_and_depths_ignore_structure_inside_strings() -> None:
    rec = {"id": "m", "a": 'x": {"y": 1}, \\"', "b": {"c": [1, {"d": None}]}, "e": "\\\\"}
    body = json.dumps({"models": [rec, 5, {"id": "n"}], "nextPaginationToken": "t"}, indent=2)
    split = _split(body.encode())
    assert split.colons.tolist() == [6, 0, 1]
    assert split.is_object.tolist() == [True, False, True]
    assert split.depth.tolist() == [4, 0, 1]
    assert json.loads(body.encode()[split.starts[0] : split.ends[0]]) == rec
    assert split.lax.tolist() == [True, True, True]  # pretty-printed: a blank after ':' or ','


_KEYS = st.text(alphabet='ab":\\{},[] \n\u00e9\x01', max_size=6)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet='x":\\{}[], \n\u00e9', max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_KEYS, kids, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(st.lists(_JSON, max_size=5), st.sampled_from([None, 1]), st.booleans())
def test_spans_and_members_match_what_json_reads(
    values: list[Any], indent: int | None, ascii_only: bool
) -> None:
    body = json.dumps(
        {"n": {"models": 1}, "models": values, "t": [1]}, indent=indent, ensure_ascii=ascii_only
    ).encode()
    split = _split(body)
    assert len(split) == len(values)
    f = split.fields
    for i, value in enumerate(values):
        text = body[split.starts[i] : split.ends[i]]
        assert json.loads(text) == value
        assert split.colons[i] == D._count_keys_python(value)
        assert split.is_object[i] == (type(value) is dict)
        members = range(f.first[i], f.first[i + 1])
        if type(value) is dict:
            keys = [json.loads(b'"' + body[f.key_lo[m] : f.key_hi[m]] + b'"') for m in members]
            assert keys == list(value)
            for m, key in zip(members, keys, strict=True):
                assert json.loads(body[f.val_lo[m] : f.val_hi[m]]) == value[key]
                assert f.colons[m] == D._count_keys_python(value[key])
        else:
            assert not len(members)


@SETTINGS
@given(
    st.binary(max_size=80)
    | st.lists(st.sampled_from(list(b'"\\:,{}[] am')), max_size=60).map(bytes)
)
def test_any_bytes_give_a_reason_or_spans_inside_the_body(body: bytes) -> None:
    for candidate in (body, b'{"models":[' + body + b"]}"):
        got = M.SCANNER.split_page(candidate)
        if isinstance(got, str):
            continue
        assert (got.starts < got.ends).all() and (got.ends <= len(candidate)).all()
        assert (got.starts[1:] > got.ends[:-1]).all()
        assert got.models_open < got.models_close


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"models": ["a]}', "a string is not closed"),
        (b'{"models": [{"id": "a"}', "brackets do not balance"),
        (b'{"models": []}}{', "brackets do not balance"),
        (b"", "brackets do not balance"),
        (b'[{"models": []}]', "the page is not one JSON object"),
        (b'x{"models": []}', "the page is not one JSON object"),
        (b'{"models": []} x', "the page is not one JSON object"),
        (b'{3: 1, "models": []}', "a key is not a string"),
        (b'{"mod\\u0065ls": []}', "a key of the page is escaped"),
        (b'{"model": []}', "no single models key"),
        (b'{"models": [], "models": []}', "no single models key"),
        (b'{"models": 3}', "models is not an array"),
        (b'{"models": "[]"}', "models is not an array"),
        (b'{"models": [1}]', "models is not closed"),
        (b'{"models": [1,,2]}', "an element of models is empty"),
        (b'{"models": [1, ]}', "an element of models is empty"),
    ],
)
def test_each_refused_shape_has_its_reason(body: bytes, reason: str) -> None:
    assert M.SCANNER.split_page(body) == reason


def test_an_empty_models_array_has_no_elements() -> None:
    for body in (b'{"models":[]}', b'{"models": [ \n ], "nextPaginationToken": null}'):
        split = _split(body)
        assert len(split) == 0 and len(split.fields.row) == 0


# ---------------------------------------------------------------------------------------------
# Which members need Python
# ---------------------------------------------------------------------------------------------


def _needs(rec: dict) -> list[str]:
    split = _split(page([rec]))
    f = split.fields
    return [page([rec])[f.key_lo[m] : f.key_hi[m]].decode() for m in range(len(f.row)) if f.need[m]]


def _plain() -> dict:
    return python_free_record("model_a", 1)


def test_known_keys_everywhere_need_nothing() -> None:
    assert _needs(_plain()) == []
    rec = _plain()
    rec["thumbnail"] = None
    rec["trainingImages"][0]["name"] = None
    rec["inputs"] = None  # a Python field that holds nothing
    assert _needs(rec) == []


_object_paths = object_paths


@SETTINGS
@given(st.data())
def test_an_unknown_key_anywhere_marks_exactly_its_member(data: st.DataObject) -> None:
    rec = _plain()
    path = data.draw(st.sampled_from(_object_paths(rec)))
    target = rec
    for k in path:
        target = target[k]
    name = data.draw(st.sampled_from(["zz", "Name", "name\u00e9", "i", "id2", "na\\u006de"]))
    if name in target:
        return
    target[name] = data.draw(_JSON)
    body = json.dumps({"models": [rec]}, separators=(",", ":"), ensure_ascii=False).encode()
    if "\\u" in name:  # an escape in a key: written raw, cannot be matched
        body = body.replace(json.dumps(name).encode(), b'"' + name.encode() + b'"')
    split = _split(body)
    want = [path[0]] if path else [name.replace("\\u006d", "m")]
    f = split.fields
    got = [
        json.loads(b'"' + body[f.key_lo[m] : f.key_hi[m]] + b'"')
        for m in range(len(f.row))
        if f.need[m]
    ]
    assert got == want
    assert split.need.tolist() == [True]
    assert split.whole.tolist() == [bool(not path and "\\u" in name)]


def test_a_misplaced_object_or_list_needs_python() -> None:
    for key, value in (("name", {"a": 1}), ("thumbnail", [1]), ("capabilities", [{"a": 1}])):
        rec = _plain()
        rec[key] = value
        assert _needs(rec) == [key], key


def test_python_fields_and_lax_values_need_python() -> None:
    rec = full_record("model_a", 1)
    assert set(_needs(rec)) == {"inputs", "uiConfig"} & set(rec)
    body = page([_plain()]).replace(b'"custom":false', b'"custom":NaN')
    assert b"NaN" in body
    split = _split(body)
    assert split.lax.tolist() == [True] and split.need.tolist() == [True]


# ---------------------------------------------------------------------------------------------
# count_keys, and the route without the extension
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(_JSON)
def test_count_keys_matches_python(value: Any) -> None:
    assert D.count_keys(value) == D._count_keys_python(value)


def test_count_keys_counts_every_dict_through_lists() -> None:
    value = {"a": [{"b": 1, "c": {"d": []}}, [{}], {"e": None}], "f": {}}
    assert D.count_keys(value) == 2 + 2 + 1 + 0 + 1 + 0
    assert D.count_keys([1, "x", None]) == 0
    assert D.count_keys(({"a": 1},)) == 0  # a tuple is no JSON array: not walked, as in Python


def test_count_keys_refuses_absurd_nesting_instead_of_crashing() -> None:
    deep: Any = 1
    for _ in range(20_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        D.count_keys(deep)
    shallow: Any = {"k": 1}
    for _ in range(5_000):
        shallow = [shallow]
    assert D.count_keys(shallow) == 1


def test_without_the_extension_every_page_takes_the_exact_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = make_records(300, seed=21, drift=True)
    records[5]["name"] = 'a "quoted", {braced} name \\ with: escapes'
    records[9]["newKey"] = {"x": [{"y": 1}], "y": ':"'}
    records[12] = clone(records[3])
    pages = [page(records[i : i + 100], token=str(i)) for i in range(0, 300, 100)]
    native, native_stats = F._assemble(M.iter_page_outputs(pages))
    assert native_stats.records_fast > 0
    monkeypatch.setattr(D, "_scan", None)
    monkeypatch.setattr(M, "SCANNER", D.Scanner(M.MODEL_ARROW, frozenset(M.PY_ROOTS)))
    assert M.SCANNER.split_page(pages[0]) == D.NOT_BUILT
    pure, pure_stats = F._assemble(M.iter_page_outputs(pages))
    for name in S.TABLE_ORDER:
        assert_frame_equal(native[name], pure[name])
    assert pure_stats.records_fast == 0
    assert pure_stats.duplicates == native_stats.duplicates == 1
