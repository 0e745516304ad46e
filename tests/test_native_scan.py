"""The compiled loops (``tables/_scan.c``) against their numpy and Python references.

``decode.structure`` and ``decode.count_keys`` run in C when the extension is built (setup.py),
else in numpy and Python; both versions must give the same answers on any bytes and any
decoded value, and the tables built on either must be equal.  The extension must be built
here: CI has a C compiler, so a build that silently fell back would only show as slowness.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from _frames_records import page
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


def _same_structure(body: bytes) -> None:
    want = D._structure_numpy(body)
    got = D.structure(body)
    for w, g, name in zip(want, got, ("events", "chars", "quotes"), strict=True):
        assert g.dtype == w.dtype, name
        assert np.array_equal(g, w), (name, body[:200])


# Bytes where every structural rule matters: quotes, runs of backslashes, brackets, blanks,
# a NUL and a byte that is not UTF-8.
_ALPHABET = st.sampled_from(
    [b'"', b"\\", b":", b",", b"{", b"}", b"[", b"]", b"a", b" ", b"\x00", b"\xff"]
)


@SETTINGS
@given(st.lists(_ALPHABET, max_size=60).map(b"".join))
def test_structure_matches_numpy_on_any_bytes(body: bytes) -> None:
    _same_structure(body)


_KEYS = st.text(alphabet='ab":\\{},[] \n\u00e9', max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='x":\\{}[],', max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_KEYS, kids, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(st.lists(_JSON, max_size=5), st.booleans())
def test_structure_and_count_keys_on_json_values(values: list[Any], pretty: bool) -> None:
    body = json.dumps({"models": values}, indent=2 if pretty else None).encode()
    _same_structure(body)
    for value in values:
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


def test_structure_handles_escapes_at_every_place() -> None:
    body = b'{"a\\"":"x\\\\","b":"\\\\\\"}{","c\\\\":[1,{"d":"\\u0022"}]}'
    events, chars, quotes = D.structure(body)
    assert bytes(chars) == b"{:,:,:[,{:}]}"
    assert json.loads(body) == {'a"': "x\\", "b": '\\"}{', "c\\": [1, {"d": '"'}]}
    _same_structure(body)


def test_tables_are_the_same_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    records = make_records(300, seed=21, drift=True)
    records[5]["name"] = 'a "quoted", {braced} name \\ with: escapes'
    records[9]["newKey"] = {"x": [{"y": 1}], "y": ':"'}
    pages = [page(records[i : i + 100], token=str(i)) for i in range(0, 300, 100)]
    native, native_stats = F._assemble(M.iter_page_outputs(pages))
    monkeypatch.setattr(D, "_scan", None)
    pure, pure_stats = F._assemble(M.iter_page_outputs(pages))
    for name in S.TABLE_ORDER:
        assert_frame_equal(native[name], pure[name])
    assert native_stats == pure_stats
    assert pure_stats.records_fast > 0
