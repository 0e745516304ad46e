"""Pagination generator: page size, tokens, loop, no-progress and cap protection, resume, progress bar."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from _scripted_server import scripted
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_frames import PaginationError
from scenario_frames.demo import serve_demo
from scenario_frames.listing.paginate import Page, iter_pages
from scenario_frames.listing.partition import ms_of
from scenario_frames.listing.query import ModelQuery
from scenario_frames.transport.client import ScenarioClient


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=700, seed=41) as srv:
        yield srv


def test_default_page_size_is_500_and_every_model_comes_once(server) -> None:
    client = ScenarioClient(server.base_url)
    server.reset_stats()
    pages = list(iter_pages(client, ModelQuery.build(privacy="public")))
    assert {r.params["pageSize"] for r in server.stats.log} == {"500"}
    assert [p.index for p in pages] == list(range(len(pages)))
    assert pages[-1].next_token is None and all(p.next_token for p in pages[:-1])
    ids = [m["id"] for p in pages for m in orjson.loads(p.body)["models"]]
    assert len(ids) == len(set(ids)) == sum(p.models for p in pages)
    public = [r["id"] for r in server.catalog.records() if r["privacy"] == "public"]
    assert sorted(ids) == sorted(public)


def test_user_page_size_wins(server) -> None:
    client = ScenarioClient(server.base_url)
    server.reset_stats()
    pages = list(
        iter_pages(client, ModelQuery.build(privacy="public", page_size=120), page_size=500)
    )
    assert {r.params["pageSize"] for r in server.stats.log} == {"120"}
    assert all(p.models == 120 for p in pages[:-1])


def test_resume_from_a_token(server) -> None:
    client = ScenarioClient(server.base_url)
    q = ModelQuery.build(privacy="public")
    full = list(iter_pages(client, q, page_size=50))
    rest = list(iter_pages(client, q, page_size=50, start_token=full[2].next_token, first_index=3))
    assert [p.body for p in rest] == [p.body for p in full[3:]]
    assert [p.index for p in rest] == [p.index for p in full[3:]]


def test_page_cap_stops_with_a_clear_error(server) -> None:
    client = ScenarioClient(server.base_url)
    got: list[Page] = []
    with pytest.raises(PaginationError, match="page cap") as err:
        got.extend(iter_pages(client, ModelQuery.build(privacy="public"), page_size=10, page_cap=3))
    assert len(got) == 3 and err.value.reason == "page-cap"


@contextlib.contextmanager
def looping_server() -> Iterator[str]:
    """Answers page after page whose token cycles through three values: a broken server."""

    def answer(n: int, handler) -> tuple[int, dict[str, str], bytes]:
        p = dict(parse_qsl(urlsplit(handler.path).query))
        k = int(p.get("paginationToken", "t0")[1:]) + 1
        body = json.dumps(
            {"models": [{"id": f"m{k}"}], "nextPaginationToken": f"t{k % 3}"}
        ).encode()
        return 200, {}, body

    with scripted(answer) as (base, _log):
        yield base


def test_repeated_token_is_a_loop() -> None:
    with looping_server() as base:
        client = ScenarioClient(base)
        with pytest.raises(PaginationError, match="loops") as err:
            list(iter_pages(client, ModelQuery.build(privacy="public")))
    assert err.value.reason == "token-loop"
    assert client.stats()["requests"] == 4  # t1, t2, t0, then t1 again


def test_progress_can_be_turned_on_and_off(server, capsys, caplog) -> None:
    """Off a terminal (pytest captures stderr) progress is plain log lines, never bar frames."""
    client = ScenarioClient(server.base_url)
    with caplog.at_level("INFO", logger="scenario_frames.progress"):
        list(iter_pages(client, ModelQuery.build(privacy="public"), page_size=100, progress=False))
        assert not [r for r in caplog.records if r.name == "scenario_frames.progress"]
        pages = list(
            iter_pages(client, ModelQuery.build(privacy="public"), page_size=100, progress=True)
        )
    assert "\r" not in capsys.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "scenario_frames.progress"]
    models = sum(p.models for p in pages)
    assert lines[-1].endswith("(done)") and f"{models:,} models, {len(pages)} pages" in lines[-1]


def test_ms_of_reads_iso_timestamps() -> None:
    assert ms_of("1970-01-01T00:00:01.234Z") == 1234
    assert ms_of("1970-01-01T00:00:01.234999+00:00") == 1234
    assert ms_of("1970-01-01T01:00:00+01:00") == 0


def test_parallel_listing_shares_one_progress_display(server, caplog) -> None:
    from scenario_frames.fetch import fetch_pages

    with caplog.at_level("INFO", logger="scenario_frames.progress"):
        res = fetch_pages(
            {"privacy": "public"},
            client=ScenarioClient(server.base_url),
            workers=4,
            page_size=50,
            progress=True,
        )
    done = [
        r.getMessage()
        for r in caplog.records
        if r.name == "scenario_frames.progress" and "(done" in r.getMessage()
    ]
    assert res.stats.partitioned and len(done) == 1
    assert f"{res.stats.models:,} models, {res.stats.pages} pages" in done[0]


@pytest.mark.parametrize(
    "body",
    [
        b'{"models": [{"id": "a", "createdAt": "2024-01-02T03:04:05.678Z"}, {"id": "b"}], '
        b'"nextPaginationToken": "t1"}',
        '{"models": [{"id": "\u00e9\u00e8", "name": "Infinity and NaN, in text", "createdAt": '
        '"2024-01-02T03:04:05+02:00"}], "nextPaginationToken": ""}'.encode(),
        b'{"models": [{"id": "a", "createdAt": 5}], "nextPaginationToken": 7}',
        b'{"models": [null, 3, {"name": "no id"}, {"id": 12}]}',
        b'{"models": [{"id": "a"}], "models": [{"id": "b"}]}',
        b'{"nextPaginationToken": "t", "models": [\n{"id": "a",\n "createdAt": null}\n]}',
        b'{"models": []}',
    ],
)
def test_listing_reader_agrees_with_a_plain_decode(body: bytes) -> None:
    """Whether Arrow or orjson reads a page, pagination sees the same ids, dates and token."""
    from scenario_frames.listing.paginate import read_models_body

    summary, problem = read_models_body(body)
    assert problem is None and summary is not None
    data = orjson.loads(body)
    records = data["models"]
    assert summary.ids == [str(r.get("id")) if isinstance(r, dict) else repr(r) for r in records]
    assert summary.created == [r.get("createdAt") if isinstance(r, dict) else None for r in records]
    token = data.get("nextPaginationToken") or None
    assert summary.next_token == (None if token is None else str(token))


@pytest.mark.parametrize(
    "bad", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"], ids=["ff", "surrogate", "overlong"]
)
def test_a_page_that_is_not_utf8_is_judged_by_orjson(bad: bytes) -> None:
    """Arrow's reader takes bytes that are not UTF-8; orjson refuses them, and its verdict is
    the one that counts: the listing reader raises instead of paging on (the client retries)."""
    from scenario_frames.listing.paginate import read_models_body

    body = b'{"models": [{"id": "a' + bad + b'", "createdAt": "2024-01-02T03:04:05Z"}]}'
    with pytest.raises(orjson.JSONDecodeError):
        read_models_body(body)


def test_a_record_without_a_usable_created_at_has_no_window_key() -> None:
    """Windows are cut on createdAt; a record missing it (or holding a non-date) must not abort
    the listing: it gets no key, and the frames layer later rejects the record itself."""
    from scenario_frames.listing.partition import _Axis, ms_of

    for descending in (False, True):
        axis = _Axis(descending=descending)
        assert axis.key_of(None) is None
        assert axis.key_of(1_700_000_000_000) is None
        assert axis.key_of("not a date") is None
        ms = ms_of("2025-01-02T03:04:05.678Z")
        assert axis.key_of("2025-01-02T03:04:05.678Z") == (-ms if descending else ms)


# ---------------------------------------------------------------------------------------------
# No progress: pages that bring no model not already listed
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    listing=st.lists(
        st.lists(st.sampled_from([f"m{i}" for i in range(12)]), max_size=4), min_size=1, max_size=12
    ),
    limit=st.integers(1, 4),
)
def test_no_progress_stops_exactly_after_that_many_pages_without_a_new_model(
    listing, limit
) -> None:
    """A page counts as progress when it brings an id not seen before in the listing; ``limit``
    pages in a row without progress (not counting the last page) end the listing."""
    bodies = [
        orjson.dumps(
            {
                "models": [{"id": i} for i in ids],
                **({"nextPaginationToken": f"t{n + 1}"} if n + 1 < len(listing) else {}),
            }
        )
        for n, ids in enumerate(listing)
    ]

    def answer(n: int, handler) -> tuple:
        token = dict(parse_qsl(urlsplit(handler.path).query)).get("paginationToken", "t0")
        return 200, {}, bodies[int(token[1:])]

    # The rule, stated independently: where the listing must stop, if anywhere.
    seen: set[str] = set()
    stale, stop_at = 0, None
    for n, ids in enumerate(listing[:-1]):
        new = set(ids) - seen
        seen |= set(ids)
        stale = 0 if new else stale + 1
        if stale >= limit:
            stop_at = n
            break
    with scripted(answer) as (base, log):
        pages = iter_pages(
            ScenarioClient(base), ModelQuery.build(privacy="public"), no_progress=limit
        )
        if stop_at is None:
            assert [p.index for p in pages] == list(range(len(listing)))
        else:
            with pytest.raises(PaginationError) as err:
                list(pages)
            assert err.value.reason == "no-progress" and len(log) == stop_at + 1
