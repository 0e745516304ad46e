"""What a fetch cost, in one type from the listing to the manifest (``fetch_stats.FetchStats``).

The listing measures its own figures; ``fetch_catalog_pages`` hands every one of them to
``CatalogMeta`` unchanged and the table builder adds only its own counts (``DECODED``); the
snapshot writes them all.  A figure lost on the way, or filled by the wrong party, fails here.
Against the embedded demo over loopback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson

from scenario_frames import store as snap
from scenario_frames.demo import DemoServer, serve_demo
from scenario_frames.fetch import fetch_catalog_pages, fetch_pages
from scenario_frames.fetch_stats import DECODED, FetchStats
from scenario_frames.transport.client import ScenarioClient


def _records(pages: list[bytes]) -> int:
    return sum(len(orjson.loads(body)["models"]) for body in pages)


def test_listing_figures_reach_the_meta_and_the_manifest_unchanged(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    before = demo_server.stats.requests
    catalog, listing = fetch_catalog_pages(
        base_url=demo_server.base_url, privacy="public", progress=False, workers=4, page_size=20
    )
    stats = listing.stats
    # the listing measured itself: every request the server saw, every page and record kept
    assert type(stats) is FetchStats
    assert stats.requests == demo_server.stats.requests - before > stats.pages > 1
    assert stats.pages == len(listing.pages) == len(listing.keys)
    assert stats.body_bytes == sum(len(body) for body in listing.pages)
    assert stats.models == _records(listing.pages)
    assert stats.partitioned and stats.workers == 4 and stats.partitions >= 2
    assert stats.mode_reason == "partitioned" and not stats.resumed and stats.retries == 0
    assert stats.duration_s > 0
    assert all(getattr(stats, name) == 0 for name in DECODED)  # no table built yet

    # the meta carries each of the listing's figures as it is, and the builder's own counts
    meta = catalog.meta
    assert meta.fetch_stats().with_decoded(FetchStats()) == stats
    assert meta.records_fast + meta.records_exact == stats.models  # each record decoded once
    assert meta.duplicates == stats.models - catalog.counts["models"] - catalog.counts["rejects"]

    # and the snapshot keeps them all
    folder = snap.write_snapshot(catalog, tmp_path)
    back = snap.read_snapshot(folder).meta
    assert back == dataclasses.replace(meta, duration_s=round(meta.duration_s, 6))


def test_a_sequential_listing_says_why_and_counts_one_worker() -> None:
    with serve_demo(models=60, seed=2) as server, ScenarioClient(server.base_url) as client:
        listing = fetch_pages({"privacy": "public"}, client=client, workers=1, progress=False)
    stats = listing.stats
    assert not stats.partitioned and stats.workers == 1 and stats.partitions == 1
    assert stats.mode_reason == "one worker"
    assert stats.requests == stats.pages and stats.models == _records(listing.pages)


def test_a_listing_replayed_from_a_checkpoint_is_marked_resumed(tmp_path: Path) -> None:
    with serve_demo(models=60, seed=3) as server, ScenarioClient(server.base_url) as client:
        kwargs = {"client": client, "checkpoint": tmp_path, "progress": False, "page_size": 20}
        first = fetch_pages({"privacy": "public"}, **kwargs)
        again = fetch_pages({"privacy": "public"}, **kwargs)
    assert not first.stats.resumed and first.stats.requests > 0
    assert again.stats.resumed and again.stats.requests == 0
    assert again.pages == first.pages and again.stats.models == first.stats.models
    assert again.stats.body_bytes == first.stats.body_bytes
    assert again.started_at == first.started_at is not None
