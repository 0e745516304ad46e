"""The per-member route against page bytes the project's own writer would not produce.

Each case writes one odd record between clean neighbours and checks that the fast route
(per-member decoding) and the exact route (every record decoded whole, the oracle) give the
same rejects, extras, json texts and typed rows, and what those are.  The first two groups
are regressions of bugs this attack found; the rest pin down hostile shapes that already
agree.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_decode_members import _body, _chosen, _clean, _record, _same

from scenario_frames.tables import materialize as M

# Longer than every known top-level key (23 bytes): such a key is never known, so only its
# first 23 bytes were looked at for escapes.
_LONG = "k" * 30


def _page(*records: bytes) -> bytes:
    return b'{"models":[' + b",".join(records) + b"]}"


# ---------------------------------------------------------------------------------------------
# Bug: an escape past the 23rd byte of a long key was not seen
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "key"),
    [
        (b"\\u0041", _LONG + "A"),
        (b"\\/", _LONG + "/"),
        (b'\\"', _LONG + '"'),
        (b"\\\\", _LONG + "\\"),
        (b"\\ud83d\\ude00", _LONG + "\U0001f600"),
    ],
    ids=["unicode", "solidus", "quote", "backslash", "surrogate-pair"],
)
def test_an_escape_late_in_a_long_key_sends_the_record_whole(written: bytes, key: str) -> None:
    """The member was decoded with its key's raw bytes (``kkk...\\u0041``) as the key."""
    body = _body(_record(b'"' + _LONG.encode() + written + b'":1'))
    assert _chosen(body)[1] is True
    out = _same(body)
    assert out.extras["models"] == {(2,): {key: 1}}


def test_a_long_key_repeated_once_escaped_is_a_repeated_key() -> None:
    """``kkk...A`` and ``kkk...\\u0041`` are one key: the record is refused on both routes
    (the fast route kept both, under two different names)."""
    body = _body(_record(f'"{_LONG}A":1,"{_LONG}\\u0041":2'.encode()))
    out = _same(body)
    assert [(r[2], r[3]) for r in out.rejects] == [("odd", f'key "{_LONG}A" appears twice')]
    assert len(out.rids) == 6


# ---------------------------------------------------------------------------------------------
# Bug: a string starting with ':' was counted as a key (record refused, "key null appears twice")
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        b'{"id":"a","zz":[":x"]}',  # inside a decoded member
        b'{"id":"a","zz":{"k":":"}}',
        b'{"id":"a","zz":{":":1}}',  # a key that is ':'
        b'{"id":"a",":":1}',  # the whole record, on the exact route
        b'{"id":"a","name":":x","zz":1}',
        b'{"id":"a", "name":":x"}',  # lax (a blank after a comma): read whole on both routes
        b'{"id":"a","zz":{"k,":1,"k{":2,"k[":3,"k:":4}}',  # keys ending like an opening quote
    ],
)
def test_a_string_starting_with_a_colon_is_not_a_key(record: bytes) -> None:
    out = _same(_page(record, b'{"id":"b"}'))
    assert out.rejects == []
    assert out.rids == [0, 1]


def test_repeated_keys_counts_keys_not_colon_quote_pairs() -> None:
    values = [{"a": ":x"}, [":", {":": ":"}], {"a": 1, "b": [":y"]}]
    assert M.repeated_keys(values, [1, 1, 2]) == []
    assert M.repeated_keys(values, [1, 2, 2]) == [1]  # one key fewer than written: repeated


# ---------------------------------------------------------------------------------------------
# Hostile shapes that agree (regressions)
# ---------------------------------------------------------------------------------------------


def test_blanks_before_colons_and_commas_keep_the_member_route() -> None:
    """Blanks after ``{``, before ``:``, ``,`` and ``}`` do not make a record lax (no value
    starts after a blank), so it is still read per member, and the value bytes of each member
    carry their blanks to orjson."""
    rec = orjson.dumps(_clean(99)).replace(b'"id":"model_99"', b'"id":"odd"')
    rec = rec[:-1] + b',"zz":{"a" :[1 ,{"b" :2 } ] } ,"yy" :null \t}'
    rec = b"{ \r\n" + rec[1:].replace(b'":', b'" :', 5)
    body = _body(rec)
    assert _chosen(body) == (["zz", "yy"], False)
    out = _same(body)
    assert out.extras["models"] == {(2,): {"zz": {"a": [1, {"b": 2}]}, "yy": None}}


def test_a_pretty_printed_page_agrees() -> None:
    """Indented with tabs and CRLF line ends: every record is lax and read whole."""
    recs = [_clean(i) for i in range(3)]
    recs[1]["id"] = "odd"
    recs[1]["trainingImages"][0]["zz"] = {"\u00e9\u20ac": [None, "},{", 'a"b\\']}
    text = orjson.dumps({"models": recs}, option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n\t")
    out = _same(text)
    assert out.rejects == []
    assert out.extras["training_images"] == {
        (1, 0): {"zz": {"\u00e9\u20ac": [None, "},{", 'a"b\\']}}
    }


@pytest.mark.parametrize(
    "member",
    [
        "nam\u00e9",  # a known key with a multi-byte letter after it
        "\u00e9name",
        "name\u0301",  # a combining mark
        "\U0001f600",
        "n" * 23,  # as long as the longest known key
    ],
)
def test_multibyte_and_near_keys_are_unknown(member: str) -> None:
    body = _body(_record(orjson.dumps({member: 1})[1:-1]))
    assert _chosen(body) == ([member], False)
    assert _same(body).extras["models"] == {(2,): {member: 1}}


def test_structural_bytes_in_strings_do_not_move_member_bounds() -> None:
    """Values holding ``":``, ``},{``, brackets and strings ending in backslashes: the members'
    spans are cut outside strings only."""
    members = (
        b'"zz":"\\":,\\"yy\\":1},{","yy":["a\\\\","]","\\\\\\"",{"k\\\\":"}"}],"xx":{"":{"":[]}}'
    )
    body = _body(_record(members))
    assert _chosen(body) == (["zz", "yy", "xx"], False)
    out = _same(body)
    assert out.extras["models"] == {
        (2,): {"zz": '":,"yy":1},{', "yy": ["a\\", "]", '\\"', {"k\\": "}"}], "xx": {"": {"": []}}}
    }


def test_nulls_and_strangers_in_list_items_reach_their_tables() -> None:
    rec = _clean(99)
    rec["id"] = "odd"
    rec["epochs"][0]["zz"] = 1
    rec["epochs"][1]["assets"][0]["yy"] = None
    rec["epochs"][1]["assets"].append(None)
    rec["trainingImages"][1]["name"] = None  # a known key's null: nothing for Python
    rec["performanceStats"]["variants"][0]["arenaScore"]["xx"] = [{}]
    body = _body(orjson.dumps(rec))
    assert _chosen(body) == (["epochs", "performanceStats"], False)
    out = _same(body)
    assert out.extras["epochs"] == {(2, 0): {"zz": 1}, (2, 1, 0): {"assets": {"yy": None}}}
    assert out.extras["variants"] == {(2, 0): {"arenaScore": {"xx": [{}]}}}
    assert "training_images" not in out.extras


def test_wide_integers_and_nan_inside_unknown_members() -> None:
    big = b"123456789012345678901234567890"
    out = _same(_body(_record(b'"zz":{"a":[' + big + b",-" + big + b"]}")))
    assert out.extras["models"] == {(2,): {"zz": {"a": [int(big), -int(big)]}}}
    out = _same(_body(_record(b'"zz":{"a":[1,NaN]}')))
    assert [r[3][:26] for r in out.rejects] == ["record is not valid JSON: "]


def test_records_that_are_not_objects_between_member_route_records() -> None:
    odd = _record(b'"zz":1')
    body = _page(odd, b"[]", b'"x"', b"null", b"{}", odd.replace(b'"odd"', b'"odd2"'))
    out = _same(body)
    assert out.rids == [0, 5]
    assert out.extras["models"] == {(0,): {"zz": 1}, (5,): {"zz": 1}}
    assert [r[1] for r in out.rejects] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("inputs", "ui", "reason"),
    [
        (b"{}", b"null", "inputs: expected array, got object"),
        (b"[1]", b"{}", "inputs[]: expected object, got number"),
        (b'[{"name":"a","inputs":{}}]', b"[]", "uiConfig: expected object, got array"),
        (
            b'[{"name":"a","inputs":{}}]',
            b"{}",
            "inputs[0].inputs: expected an array, got an object",
        ),
    ],
)
def test_custom_inputs_and_ui_config_in_odd_shapes(inputs: bytes, ui: bytes, reason: str) -> None:
    out = _same(_body(_record(b'"inputs":' + inputs + b',"uiConfig":' + ui)))
    assert [(r[2], r[3]) for r in out.rejects] == [("odd", reason)]
    assert len(out.rids) == 6


def test_custom_inputs_and_ui_config_with_strangers_and_nulls() -> None:
    members = b'"inputs":[null,{"name":"a","zz":[":"]}],"uiConfig":{"zz":1,"selects":{":":null}}'
    body = _body(_record(members))
    assert _chosen(body) == (["inputs", "uiConfig"], False)
    fast = _same(body)
    exact = M.page_output(body, 0, 0, fast=False)
    assert fast.ui_json == [(2, None, None, None, None, '{":":null}')]
    assert fast.extras["models"] == {(2,): {"uiConfig": {"zz": 1}}}
    assert fast.inputs is not None and exact.inputs is not None
    assert fast.inputs.equals(exact.inputs) and len(fast.inputs) == 2


# ---------------------------------------------------------------------------------------------
# Fuzz: odd keys and strings, some keys' tails written with escapes
# ---------------------------------------------------------------------------------------------

_CHARS = st.sampled_from(list('ab:",{}[]\\/ \u00e9\U0001f600\u2028\x00\t'))
_TEXT = st.text(_CHARS, max_size=6)
_KEY = st.one_of(
    _TEXT,
    st.sampled_from(["name", "status", "zz", _LONG]),
    st.builds(str.__add__, st.just(_LONG), _TEXT),
)
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_TEXT, kids, max_size=3),
    max_leaves=6,
)


def _escaped_key(key: str, tail: int) -> bytes:
    """``key`` as a JSON string whose last ``tail`` characters are written as ``\\uXXXX``."""
    head = orjson.dumps(key[: len(key) - tail])[:-1]
    return (
        head
        + "".join(
            f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in key[len(key) - tail :]
        ).encode()
        + b'"'
    )


@settings(
    max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(members=st.lists(st.tuples(_KEY, _VALUE, st.integers(0, 3)), max_size=4))
def test_fuzzed_odd_members_agree_with_the_exact_route(members: list) -> None:
    written = b",".join(
        _escaped_key(k, min(t, len(k))) + b":" + M.to_json(v) for k, v, t in members
    )
    _same(_body(_record(written) if written else _record(b'"zz":1')))
