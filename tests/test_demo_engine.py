"""The demo's query engine on its own: pages, order, filters and tokens without HTTP.

The expected orders are worked out from the catalog's facts here, independently of the engine.
"""

from __future__ import annotations

import pytest

from scenario_frames.demo.engine import Page, QueryEngine, QueryRejected
from scenario_frames.demo.generator import DemoCatalog

FACT_OF_SORT = {"createdAt": "created", "updatedAt": "updated", "score": "score"}
PRIVATE = frozenset({"private", "unlisted"})


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return DemoCatalog(400, seed=5)


def _all_pages(engine: QueryEngine, params: dict[str, str], page_size: int) -> list[str]:
    """Ids of every page of a listing, following the engine's tokens; each page full but the last."""
    ids: list[str] = []
    token = None
    while True:
        p = dict(params, pageSize=str(page_size))
        if token:
            p["paginationToken"] = token
        engine.check(p)
        page = engine.page(p)
        assert isinstance(page, Page)
        ids += [engine.catalog.facts(i).id for i in page.indices]
        token = page.next_token
        if token is None:
            return ids
        assert len(page.indices) == page_size


def _expected(cat: DemoCatalog, privacies: frozenset[str], sort_by: str, desc: bool) -> list[str]:
    keyed = [
        (getattr(cat.facts(i), FACT_OF_SORT[sort_by]), cat.facts(i).id)
        for i in cat.indices()
        if cat.facts(i).privacy in privacies
    ]
    return [mid for _, mid in sorted(keyed, reverse=desc)]


@pytest.mark.parametrize(
    ("privacy", "sort_by"),
    [
        ("private", "createdAt"),
        ("public", "createdAt"),
        ("public", "updatedAt"),
        ("public", "score"),
    ],
)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pages_follow_the_total_order(
    catalog: DemoCatalog, privacy: str, sort_by: str, direction: str
) -> None:
    engine = QueryEngine(catalog)
    params = {"privacy": privacy, "sortBy": sort_by, "sortDirection": direction}
    got = _all_pages(engine, params, page_size=37)
    privacies = PRIVATE if privacy == "private" else frozenset({"public"})
    best_first = privacy == "public" and sort_by == "score"  # the direction is not read there
    assert got == _expected(catalog, privacies, sort_by, direction == "desc" or best_first)
    assert len(got) == len(set(got)) > 37


def test_filters_keep_only_matching_facts(catalog: DemoCatalog) -> None:
    engine = QueryEngine(catalog)
    got = _all_pages(engine, {"privacy": "private", "status": "trained"}, page_size=50)
    want = [
        m
        for m in _expected(catalog, PRIVATE, "createdAt", True)
        if catalog.facts(catalog.index_of(m)).status == "trained"
    ]
    assert got == want and 0 < len(got) < len(_expected(catalog, PRIVATE, "createdAt", True))


def test_a_token_is_bound_to_its_engine_and_its_query(catalog: DemoCatalog) -> None:
    engine = QueryEngine(catalog)
    params = {"privacy": "private", "pageSize": "10"}
    token = engine.page(params).next_token
    assert token is not None
    # Another page size keeps the position; another query or another engine refuses it.
    assert engine.page(dict(params, pageSize="3", paginationToken=token)).indices
    with pytest.raises(QueryRejected) as exc:
        engine.page(dict(params, status="trained", paginationToken=token))
    assert exc.value.reason == "invalid-pagination-token"
    with pytest.raises(QueryRejected) as exc:
        QueryEngine(catalog).page(dict(params, paginationToken=token))
    assert exc.value.reason == "invalid-pagination-token"


def test_check_applies_the_shared_rules(catalog: DemoCatalog) -> None:
    engine = QueryEngine(catalog)
    engine.check({"privacy": "public", "types": "flux.1-lora"})
    with pytest.raises(QueryRejected) as exc:
        engine.check({"privacy": "public", "pageSize": "0"})
    assert exc.value.reason and exc.value.reason in exc.value.message


def test_the_sort_cache_follows_catalog_changes() -> None:
    cat = DemoCatalog(120, seed=6)
    engine = QueryEngine(cat)
    params = {"privacy": "public", "sortBy": "updatedAt", "sortDirection": "desc"}
    before = _all_pages(engine, params, page_size=500)
    cat.update([before[-1]])  # the least recently updated becomes the most recent
    after = _all_pages(engine, params, page_size=500)
    assert after[0] == before[-1] and after[1:] == before[:-1]
