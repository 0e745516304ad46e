"""Fault matrix: faulted fetches build exactly the catalog of a fault-free fetch, every table.

100 seeded runs with 20% of requests faulted (every fault kind) alternate listings (public
and private, createdAt windows and an updatedAt listing), worker counts (sequential and
partitioned) and page sizes, and compare every table of the resulting Catalog with a
fault-free fetch of the same query.  During the updatedAt listings the catalog churns: models
already listed are updated, move to the end of the listing and come again, so the server
really sends duplicates; the catalog must hold each model once and count every extra copy
(records sent = models + rejects + duplicates).  A second, smaller matrix announces real,
non-zero Retry-After values (the demo sends whole seconds) so the shared back-off gate is
exercised by waits that actually happen; one run in ten also goes through a snapshot on disk
and back.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from scenario_frames import store as snap
from scenario_frames.demo import ALL_FAULTS, Faults, serve_demo
from scenario_frames.fetch import fetch_catalog, fetch_catalog_pages
from scenario_frames.transport.client import ScenarioClient

RUNS = 100
SLOW_RUNS = 10
QUERIES = [
    {"privacy": "public"},
    {"privacy": "private"},
    {"privacy": "private", "status": "trained"},
    {"privacy": "public", "sort_by": "createdAt", "sort_direction": "asc"},
    {"privacy": "public", "sort_by": "updatedAt", "sort_direction": "asc"},
]


class Churn:
    """Wraps the demo's listing: before each next page of an updatedAt listing, the first
    two models the server already sent are updated, so they come again later (duplicates)."""

    def __init__(self, server) -> None:
        self.server = server
        self.inner = server.list_models
        self.listed: list[str] = []
        self.updated = 0

    def __call__(self, params: dict[str, str], auth: str) -> bytes:
        churning = params.get("sortBy") == "updatedAt"
        if churning and params.get("paginationToken") and self.listed:
            self.server.catalog.update(self.listed[:2])
            self.updated += len(self.listed[:2])
            del self.listed[:2]
        body = self.inner(params, auth)
        if churning:
            self.listed += [m["id"] for m in orjson.loads(body)["models"]]
        return body


def canonical(cat) -> dict[str, pl.DataFrame]:
    """Every table in a stable row order (by model, keeping each model's own row order).

    ``updated_at`` is left out of ``models``: a churned model's copies differ only there,
    and which copy wins is the table builder's documented policy, tested with it.
    """
    out = {}
    for name, df in cat.tables.items():
        if name == "models":
            df = df.drop("updated_at")
        out[name] = (
            df.sort("model_id", maintain_order=True, nulls_last=True)
            if "model_id" in df.columns
            else df
        )
    return out


def assert_same_catalog(got, want, where: str) -> None:
    a, b = canonical(got), canonical(want)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].equals(b[name]), f"{where}: table {name} differs from the fault-free fetch"


def records_in(pages: list[bytes]) -> int:
    return sum(len(orjson.loads(p)["models"]) for p in pages)


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=240, seed=11) as srv:
        srv.churn = Churn(srv)
        srv.list_models = srv.churn  # the handler calls demo.list_models: churn sits in front
        yield srv


def faulted_run(
    server,
    seed: int,
    faults: Faults,
    client_kw: dict,
    tmp: Path | None = None,
    workers: int | None = None,
) -> tuple[int, int]:
    """One faulted fetch compared with a fault-free one; returns (duplicates, retries)."""
    q = QUERIES[seed % len(QUERIES)]
    server.faults = faults
    server.reset_stats()
    server.churn.listed = []
    client = ScenarioClient(server.base_url, "demo", "demo", **client_kw)
    cat, res = fetch_catalog_pages(
        client=client,
        workers=workers or 1 + seed % 6,
        progress=False,
        page_size=(7, 20, 50)[seed % 3],
        **q,
    )
    assert res.stats.requests == server.stats.requests
    faults_seen = dict(server.stats.faults)
    server.faults = Faults()
    clean = ScenarioClient(server.base_url, "demo", "demo")
    want = fetch_catalog(client=clean, workers=1, progress=False, page_size=500, **q)
    where = f"run {seed} ({q}, {faults_seen})"
    assert_same_catalog(cat, want, where)
    assert cat.rejects.height == 0
    assert records_in(res.pages) == cat.models.height + cat.rejects.height + cat.meta.duplicates, (
        where
    )
    if tmp is not None:  # the whole snapshot, through the disk and back
        back = snap.read_snapshot(snap.write_snapshot(cat, tmp))
        assert_same_catalog(back, want, where + " after a snapshot")
        assert back.meta.duplicates == cat.meta.duplicates
    return cat.meta.duplicates, res.stats.retries


def test_hundred_faulted_runs_build_the_fault_free_catalog(server, tmp_path: Path) -> None:
    injected: dict[str, int] = {}
    retries = duplicates = 0
    for seed in range(RUNS):
        faults = Faults(rate=0.2, kinds=ALL_FAULTS, seed=seed, retry_after=0.0, slow_body_s=0.01)
        d, r = faulted_run(
            server,
            seed,
            faults,
            dict(max_attempts=15, backoff=0.002, backoff_max=0.01, timeout=(2.0, 5.0)),
            tmp_path / f"out{seed}" if seed % 10 == 0 else None,
        )
        for kind, n in server.stats.faults.items():
            injected[kind] = injected.get(kind, 0) + n
        duplicates += d
        retries += r
    assert set(injected) == set(ALL_FAULTS), (
        f"fault kinds never drawn: {set(ALL_FAULTS) - set(injected)}"
    )
    total = sum(injected.values())
    assert total >= 200 and retries >= total - injected["slow-body"]
    assert duplicates > 0 and server.churn.updated > 0, "the matrix never produced a duplicate"


def test_faulted_runs_with_real_retry_after_waits(server) -> None:
    """Every 429 announces a wait of a whole second (seconds or an HTTP date), which the gate
    honours for every worker; four faults per run keep the matrix short."""
    waited = 0
    for seed in range(SLOW_RUNS):
        faults = Faults(
            rate=0.3,
            kinds=("429-seconds", "429-date", "503", "reset"),
            seed=100 + seed,
            retry_after=0.8,
            max_faults=4,
        )
        workers = 1 if seed % 2 == 0 else 2 + seed % 5
        faulted_run(
            server,
            seed,
            faults,
            dict(max_attempts=10, backoff=0.002, backoff_max=0.01),
            workers=workers,
        )
        if (
            workers > 1
        ):  # requests already in flight may land after a 429: order is checked sequentially
            continue
        log = sorted(server.stats.log, key=lambda r: r.t)
        for rec, after in zip(log, log[1:], strict=False):
            if rec.status == 429 and rec.fault == "429-seconds":
                waited += 1
                assert after.t >= rec.t + 1.0, (
                    f"run {seed}: the next request came before Retry-After: 1"
                )
    assert waited > 0, "no 429 with a non-zero Retry-After was drawn in a sequential run"
