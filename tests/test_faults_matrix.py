"""Fault matrix: with 20% of requests faulted (every fault kind), 100 seeded fetches each
return exactly the model set of a fault-free fetch, every model once.

Runs alternate listings (public and private), worker counts (sequential and partitioned)
and page sizes; 429s announce a zero delay and the client's back-off is tiny, so the whole
matrix stays fast while every fault path is exercised.
"""

from __future__ import annotations

import orjson
import pytest

from scenario_frames.client import ScenarioClient
from scenario_frames.demo import ALL_FAULTS, Faults, serve_demo
from scenario_frames.fetch import fetch_pages

RUNS = 100
QUERIES = [{"privacy": "public"}, {"privacy": "private"}, {"privacy": "private", "status": "trained"},
           {"privacy": "public", "sort_by": "createdAt", "sort_direction": "asc"}]  # fmt: skip


def ids_of(pages: list[bytes]) -> list[str]:
    return [m["id"] for p in pages for m in orjson.loads(p)["models"]]


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=240, seed=11) as srv:
        yield srv


def test_hundred_faulted_runs_match_the_fault_free_run(server) -> None:
    clean = ScenarioClient(server.base_url, "demo", "demo")
    expected = {i: sorted(ids_of(fetch_pages(q, client=clean, workers=1, progress=False).pages))
                for i, q in enumerate(QUERIES)}  # fmt: skip
    assert all(expected.values())
    injected: dict[str, int] = {}
    retries = 0
    for seed in range(RUNS):
        q_index = seed % len(QUERIES)
        server.faults = Faults(rate=0.2, kinds=ALL_FAULTS, seed=seed, retry_after=0.0, slow_body_s=0.01)
        server.reset_stats()
        client = ScenarioClient(server.base_url, "demo", "demo", max_attempts=15, backoff=0.002,
                                backoff_max=0.01, timeout=(2.0, 5.0))  # fmt: skip
        workers = 1 + seed % 6
        res = fetch_pages(QUERIES[q_index], client=client, workers=workers,
                          page_size=(7, 20, 50)[seed % 3], progress=False)  # fmt: skip
        got = ids_of(res.pages)
        assert len(got) == len(set(got)), f"run {seed}: a model came twice"
        assert sorted(got) == expected[q_index], f"run {seed}: model set differs from the fault-free run"
        assert res.stats.requests == server.stats.requests
        for kind, n in server.stats.faults.items():
            injected[kind] = injected.get(kind, 0) + n
        retries += res.stats.retries
    assert set(injected) == set(ALL_FAULTS), f"fault kinds never drawn: {set(ALL_FAULTS) - set(injected)}"
    total = sum(injected.values())
    assert total >= 200 and retries >= total - injected["slow-body"]
