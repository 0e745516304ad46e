"""CatalogBuilder: pages added one by one, in any order, give from_json_pages' catalog.

The fetcher feeds a builder from its workers as pages land (out of listing order), so the
builder's promise is exact equality with ``Catalog.from_json_pages`` of the same bodies in
key order: every table, the rejects with their page numbers, and the duplicate count.
"""

from __future__ import annotations

import random

import orjson
import pytest
from _frames_records import clone, full_record, minimal_record, page
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.demo import serve_demo
from scenario_frames.demo.generator import make_records
from scenario_frames.fetch import fetch_catalog, fetch_pages
from scenario_frames.tables.builder import CatalogBuilder
from scenario_frames.tables.catalog import Catalog, CatalogMeta
from scenario_frames.transport.client import ScenarioClient


def assert_same(a: Catalog, b: Catalog) -> None:
    for name in S.TABLE_ORDER:
        assert_frame_equal(a.tables[name], b.tables[name])
    assert a.meta.duplicates == b.meta.duplicates
    assert a.meta.pages == b.meta.pages


def tricky_pages() -> list[bytes | str]:
    """Drifted demo records, hand-made bad records, duplicates across pages, a broken page,
    a str page and a late refusal (inputs that only fail when read)."""
    drifted = make_records(60, seed=3, drift=True)
    bad_type = full_record("model_bad", 4)
    bad_type["createdAt"] = "yesterday"
    late = full_record("model_late", 5)
    late["inputs"][0]["max"] = "ten"
    again = clone(drifted[3])
    again["name"] = "second copy"
    return [
        orjson.dumps({"models": drifted[:25], "nextPaginationToken": "t1"}),
        page([bad_type, full_record("model_ok", 6), 17, {"name": "no id"}, late]),
        b'{"models": [',
        orjson.dumps({"models": drifted[25:]}).decode(),
        page([again, minimal_record()]),
        b'{"models": []}',
    ]


@pytest.mark.parametrize("threads", [1, 3])
def test_out_of_order_pages_give_the_catalog_of_the_ordered_pages(threads: int) -> None:
    pages = tricky_pages()
    expected = Catalog.from_json_pages(pages)
    assert expected.meta.duplicates == 1 and expected.rejects.height >= 4
    order = list(range(len(pages)))
    random.Random(threads).shuffle(order)
    with CatalogBuilder(threads=threads) as builder:
        for i in order:
            builder.add_page(pages[i], (i // 2, i % 2))  # any comparable keys
        got = builder.finish()
    assert_same(got, expected)
    assert got.rejects["page"].to_list() == expected.rejects["page"].to_list()


def test_default_keys_follow_the_order_of_adding() -> None:
    pages = tricky_pages()
    builder = CatalogBuilder()
    for body in pages:
        builder.add_page(body)
    assert builder.keys() == list(range(len(pages)))
    assert_same(builder.finish(), Catalog.from_json_pages(pages))


def test_replacing_and_discarding_pages() -> None:
    pages = tricky_pages()
    builder = CatalogBuilder(threads=2)
    builder.add_page(page([full_record("stale", 1)]), "a")  # replaced below
    builder.add_page(pages[0], "a")
    builder.add_page(page([full_record("gone", 2)]), "b")
    builder.add_page(pages[1], "c")
    builder.discard("b")
    builder.discard("never added")
    got = builder.finish(CatalogMeta(pages=2, requests=9))
    assert_same(got, Catalog.from_json_pages([pages[0], pages[1]]))
    assert got.meta.requests == 9
    assert not {"stale", "gone"} & set(got.models["model_id"])


def test_empty_builder_and_a_finished_builder() -> None:
    builder = CatalogBuilder()
    got = builder.finish()
    assert_same(got, Catalog.from_json_pages([]))
    with pytest.raises(RuntimeError):
        builder.add_page(b'{"models": []}')
    with pytest.raises(ValueError):
        CatalogBuilder(threads=0)


def test_non_page_values_become_page_level_rejects_like_from_json_pages() -> None:
    pages = [page([minimal_record("a")]), {"models": []}, page([minimal_record("b")])]
    builder = CatalogBuilder()
    for i, body in enumerate(pages):
        builder.add_page(body, i)  # type: ignore[arg-type]
    assert_same(builder.finish(), Catalog.from_json_pages(pages))


def test_fetch_catalog_equals_the_catalog_of_its_pages(tmp_path) -> None:
    """The fetcher hands pages to a builder as they land; the catalog must be the one its
    final pages give, also when every page comes from a checkpoint (none seen live)."""
    with serve_demo(models=900, seed=12, drift=True) as srv:
        client = ScenarioClient(srv.base_url)
        pages = fetch_pages(
            {"privacy": "public", "page_size": 40}, client=client, workers=5, progress=False
        ).pages
        expected = Catalog.from_json_pages(pages)
        live = fetch_catalog(
            base_url=srv.base_url, privacy="public", page_size=40, workers=5, progress=False
        )
        ckpt = tmp_path / "ckpt"
        fetch_catalog(
            base_url=srv.base_url,
            privacy="public",
            page_size=40,
            workers=3,
            checkpoint=ckpt,
            progress=False,
        )
        srv.reset_stats()
        restored = fetch_catalog(
            base_url=srv.base_url,
            privacy="public",
            page_size=40,
            workers=3,
            checkpoint=ckpt,
            progress=False,
        )
        assert srv.stats.requests == 0  # a complete checkpoint: no request, no live page
    for got in (live, restored):
        for name in S.TABLE_ORDER:
            assert_frame_equal(
                got.tables[name].sort(S.KEY),
                expected.tables[name].sort(S.KEY),
                check_row_order=False,
            )
        assert got.counts == expected.counts
    assert live.counts["models"] > 0 and live.meta.duplicates == 0
