"""Partitioned listing: the same models as a sequential listing, each exactly once.

Two servers: the demo API (real rules, filters, tie groups of four models sharing a
millisecond) and a tiny tie-heavy server where hundreds of models share a handful of
consecutive milliseconds, so every window cut lands exactly on models' creation times.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from _scripted_server import scripted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_frames.demo import serve_demo
from scenario_frames.demo.generator import created_ms, iso_ms
from scenario_frames.fetch import fetch_pages
from scenario_frames.listing.partition import ms_of
from scenario_frames.transport.client import ScenarioClient

T0 = 1_700_000_000_000


def ids_of(pages: list[bytes]) -> list[str]:
    return [m["id"] for p in pages for m in orjson.loads(p)["models"]]


# ---------------------------------------------------------------------------------------------
# A tie-heavy listing server (createdAt windows, keyset tokens bound to the query)
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tie_server(records: list[dict]) -> Iterator[tuple[str, list[dict]]]:
    """A keyset-paged server over the given records, createdAt order (ties by id)."""
    keys = [(ms_of(r["createdAt"]), r["id"]) for r in records]
    by_id = {r["id"]: r for r in records}

    def answer(n: int, handler) -> tuple[int, dict[str, str], bytes]:
        p = dict(parse_qsl(urlsplit(handler.path).query))
        desc = p.get("sortDirection", "desc") == "desc"
        fp = hashlib.sha256(
            json.dumps(
                sorted((k, v) for k, v in p.items() if k not in ("pageSize", "paginationToken"))
            ).encode()
        ).hexdigest()
        lo = ms_of(p["createdAfter"]) if "createdAfter" in p else None
        hi = ms_of(p["createdBefore"]) if "createdBefore" in p else None
        rows = sorted(keys, reverse=desc)
        rows = [k for k in rows if (lo is None or k[0] > lo) and (hi is None or k[0] < hi)]
        if "paginationToken" in p:
            tok = json.loads(base64.b64decode(p["paginationToken"]))
            assert tok["fp"] == fp, "token used with another query"
            after = tuple(tok["after"])
            rows = [k for k in rows if (k < after if desc else k > after)]
        size = int(p.get("pageSize", "100"))
        page, more = rows[:size], len(rows) > size
        out: dict = {"models": [by_id[i] for _, i in page]}
        if more:
            out["nextPaginationToken"] = base64.b64encode(
                json.dumps({"fp": fp, "after": page[-1]}).encode()
            ).decode()
        return 200, {}, json.dumps(out).encode()

    with scripted(answer) as (base, log):
        yield base, log


def _iso(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 250),
    distinct=st.integers(1, 8),
    spread=st.sampled_from([1, 2, 5, 1000]),
    page_size=st.integers(2, 40),
    workers=st.integers(2, 8),
    direction=st.sampled_from([None, "asc", "desc"]),
    seed=st.integers(0, 10_000),
)
def test_ties_on_every_cut(n, distinct, spread, page_size, workers, direction, seed) -> None:
    import random

    rnd = random.Random(seed)
    records = [
        {"id": f"model_{i:05d}", "createdAt": _iso(T0 + spread * rnd.randrange(distinct))}
        for i in range(n)
    ]
    query = {"sort_by": "createdAt", "sort_direction": direction} if direction else {}
    with tie_server(records) as (base, _log):
        client = ScenarioClient(base, "k", "s")
        seq = fetch_pages(query, client=client, workers=1, page_size=page_size, progress=False)
        par = fetch_pages(
            query, client=client, workers=workers, page_size=page_size, progress=False
        )
    got, want = ids_of(par.pages), ids_of(seq.pages)
    assert len(got) == len(set(got)) == n
    assert sorted(got) == sorted(want) == sorted(r["id"] for r in records)
    if direction:  # an explicit createdAt order is kept, ties included
        assert got == want
    assert (
        par.stats.partitioned and par.stats.models == n
    )  # pages are not de-duplicated: no window overlaps


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(0, 300),
    seed=st.integers(0, 50),
    page_size=st.integers(3, 60),
    workers=st.integers(2, 8),
    privacy=st.sampled_from(["public", "private"]),
    filt=st.sampled_from(["none", "filter", "window"]),
    direction=st.sampled_from([None, "asc", "desc"]),
    data=st.data(),
)
def test_partitioned_equals_sequential_on_demo(
    size, seed, page_size, workers, privacy, filt, direction, data
) -> None:
    query: dict = {"privacy": privacy}
    if direction:
        query |= {"sort_by": "createdAt", "sort_direction": direction}
    if filt == "filter":
        query |= (
            {"types": ["flux.1-lora", "sd-xl-lora", "custom"]}
            if privacy == "public"
            else {"status": "trained"}
        )
    if filt == "window" and size > 2:
        # The user's own createdAfter/createdBefore, placed exactly on models' (tied) timestamps.
        a, b = sorted(data.draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2)))
        query |= {
            "sort_by": "createdAt",
            "created_after": iso_ms(created_ms(a)),
            "created_before": iso_ms(created_ms(b)),
        }
    with serve_demo(models=size, seed=seed) as srv:
        client = ScenarioClient(srv.base_url, "demo", "demo")
        seq = fetch_pages(query, client=client, workers=1, page_size=page_size, progress=False)
        par = fetch_pages(
            query, client=client, workers=workers, page_size=page_size, progress=False
        )
    got, want = ids_of(par.pages), ids_of(seq.pages)
    assert len(got) == len(set(got)), "a model came twice"
    assert sorted(got) == sorted(want)
    if "sort_by" in query or privacy == "private":  # createdAt order: kept, ties included
        assert got == want
    assert par.stats.partitioned and par.stats.models == len(want)  # windows never overlap


def test_adaptive_splitting_keeps_workers_busy() -> None:
    """Most models sit in a burst in the middle of the time range, which the density seen at
    both ends cannot predict: the first windows are very uneven, so idle workers must split
    the busy one, and the listing still comes back whole and without duplicates."""
    quiet = [T0 + 1_000 * i for i in range(150)] + [T0 + 9_000_000 + 1_000 * i for i in range(150)]
    burst = [T0 + 4_500_000 + (i % 1_500) for i in range(2_400)]  # ties too, in a tight burst
    records = [
        {"id": f"model_{i:05d}", "createdAt": _iso(ms)} for i, ms in enumerate(quiet + burst)
    ]
    with tie_server(records) as (base, _log):
        client = ScenarioClient(base, "k", "s")
        res = fetch_pages({}, client=client, workers=4, page_size=100, progress=False)
    got = ids_of(res.pages)
    assert len(got) == len(set(got)) == len(records)
    assert res.stats.partitions > 4, "no window was split"
    # Each window costs at most one partial page; plus the far-end probe.
    assert res.stats.requests <= res.stats.models // 100 + res.stats.partitions + 2


@pytest.mark.parametrize(
    ("query", "workers", "why"),
    [
        ({"privacy": "public", "sort_by": "score"}, 6, "sortBy=score"),
        (
            {"privacy": "public", "sort_by": "updatedAt", "updated_after": "2020-01-01"},
            6,
            "sortBy=updatedAt",
        ),
        ({"privacy": "public"}, 1, "one worker"),
    ],
)
def test_unpartitionable_queries_fall_back_and_say_why(query, workers, why, caplog) -> None:
    with serve_demo(models=200, seed=2) as srv:
        client = ScenarioClient(srv.base_url, "demo", "demo")
        with caplog.at_level(logging.INFO, logger="scenario_frames.listing.partition"):
            res = fetch_pages(query, client=client, workers=workers, page_size=20, progress=False)
        sent = [r.params for r in srv.stats.log]
    assert not res.stats.partitioned and why in res.stats.mode_reason
    assert any("sequentially" in r.getMessage() and why in r.getMessage() for r in caplog.records)
    assert all("createdBefore" not in p for p in sent)
    assert len(ids_of(res.pages)) == len(set(ids_of(res.pages))) == res.stats.models
