"""The demo Scenario API over real loopback HTTP: auth, rules, filters, pagination, usages."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from conftest import DEMO_AUTH, PUBLIC_HEADERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_frames.demo import DemoServer, serve_demo
from scenario_frames.demo.generator import DRIFT_TYPE, DemoCatalog, make_records
from scenario_frames.listing.query import RULES

PRIVATE = frozenset({"private", "unlisted"})


def get(
    server: DemoServer,
    params: dict[str, Any] | None = None,
    path: str = "/models",
    auth: Any = DEMO_AUTH,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return requests.get(
        server.base_url + path, params=params, auth=auth, headers=headers, timeout=30
    )


def list_all(
    server: DemoServer, params: dict[str, Any], page_size: int, **kw: Any
) -> list[dict[str, Any]]:
    """Every model of a listing, following tokens; asserts each page is full but the last."""
    out: list[dict[str, Any]] = []
    token = None
    while True:
        p = dict(params, pageSize=page_size)
        if token:
            p["paginationToken"] = token
        r = get(server, p, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["models"]
        token = body.get("nextPaginationToken")
        if not token:
            return out
        assert len(body["models"]) == page_size


# The fact each sortBy orders by, read from the catalog's facts rather than from the engine
# under test, so the expected order is worked out independently of the code that serves it.
FACT_OF_SORT = {"createdAt": "created", "updatedAt": "updated", "score": "score"}


def expected_ids(
    cat: DemoCatalog, privacies: frozenset[str], sort_by: str, desc: bool
) -> list[str]:
    keyed = [
        (getattr(cat.facts(i), FACT_OF_SORT[sort_by]), cat.facts(i).id)
        for i in cat.indices()
        if cat.facts(i).privacy in privacies
    ]
    return [mid for _, mid in sorted(keyed, reverse=desc)]


# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------


def test_auth(demo_server: DemoServer) -> None:
    assert get(demo_server, auth=None).status_code == 401
    assert get(demo_server, auth=("demo", "wrong")).status_code == 401
    assert get(demo_server, auth=None, headers={"Authorization": "Bearer nope"}).status_code == 401
    r = get(demo_server, auth=None, headers=PUBLIC_HEADERS)
    assert r.status_code == 403 and "privacy=public" in r.json()["message"]
    r = get(demo_server, {"privacy": "private"}, auth=None, headers=PUBLIC_HEADERS)
    assert r.status_code == 403
    r = get(demo_server, {"privacy": "public"}, auth=None, headers=PUBLIC_HEADERS)
    assert r.status_code == 200 and {m["privacy"] for m in r.json()["models"]} == {"public"}
    r = get(demo_server, {"privacy": "public"})
    assert r.status_code == 200 and {m["privacy"] for m in r.json()["models"]} == {"public"}
    r = get(demo_server)
    assert r.status_code == 200 and {m["privacy"] for m in r.json()["models"]} <= PRIVATE


def test_custom_credentials() -> None:
    with serve_demo(models=10, api_key="k1", api_secret="s3cr3t") as srv:
        assert get(srv, auth=("k1", "s3cr3t")).status_code == 200
        assert get(srv, auth=("demo", "demo")).status_code == 401
        assert all("s3cr3t" not in repr(rec) for rec in srv.stats.log)
        assert [rec.auth for rec in srv.stats.log] == ["basic", "invalid"]


def test_private_and_public_listings_partition_the_catalog(demo_server: DemoServer) -> None:
    private = list_all(demo_server, {"privacy": "private"}, 500)
    public = list_all(demo_server, {"privacy": "public"}, 500, auth=None, headers=PUBLIC_HEADERS)
    ids_private = {m["id"] for m in private}
    ids_public = {m["id"] for m in public}
    assert not ids_private & ids_public
    assert ids_private | ids_public == set(demo_server.catalog.ids())
    assert {m["privacy"] for m in private} == {"private", "unlisted"}


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

VIOLATIONS: dict[str, dict[str, str]] = {
    "privacy-enum": {"privacy": "unlisted"},
    "sort-by-enum": {"sortBy": "name"},
    "sort-direction-enum": {"sortBy": "createdAt", "sortDirection": "up"},
    "status-enum": {"status": "done"},
    "boolean": {"loadedOnly": "yes"},
    "page-size-range": {"pageSize": "501"},
    "iso-date": {"sortBy": "createdAt", "createdAfter": "yesterday"},
    "type-with-types": {"privacy": "public", "type": "flux.1-lora", "types": "custom"},
    "public-only": {"tags": "anime"},
    "private-only": {"privacy": "public", "status": "trained"},
    "created-needs-sort-created-at": {"privacy": "public", "createdAfter": "2024-01-01"},
    "updated-needs-public-sort-updated-at": {"sortBy": "createdAt", "updatedAfter": "2024-01-01"},
    "private-sort": {"sortBy": "updatedAt"},
    "score-needs-privacy-and-status": {"sortBy": "score"},
    "type-enum": {"privacy": "public", "types": "flux.1-lora,flux.9"},
}


def test_every_rule_has_a_violation_example() -> None:
    assert {r.id for r in RULES} | {"type-enum"} == set(VIOLATIONS)


@pytest.mark.parametrize("rule_id", sorted(VIOLATIONS))
def test_rule_violation_gets_400_naming_the_rule(demo_server: DemoServer, rule_id: str) -> None:
    r = get(demo_server, VIOLATIONS[rule_id])
    assert r.status_code == 400
    body = r.json()
    assert body["reason"] == rule_id and rule_id in body["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": "0"},
        {"pageSize": "abc"},
        {"privacy": "public", "updatedAfter": "2024-01-01"},
        {"privacy": "private", "sortBy": "score"},
        {"collectionIds": "c1"},
        {"type": "custom"},
        {"privacy": "public", "collectionId": "c1"},
    ],
)
def test_more_violations_are_refused(demo_server: DemoServer, params: dict[str, str]) -> None:
    assert get(demo_server, params).status_code == 400


def test_allowed_combinations_pass(demo_server: DemoServer) -> None:
    for params in (
        {"privacy": "private", "sortBy": "score", "status": "trained"},
        {"privacy": "public", "sortBy": "updatedAt", "updatedAfter": "2022-01-01"},
        {"sortBy": "createdAt", "createdBefore": "2030-01-01", "createdAfter": "2020-01-01"},
        {"pageSize": "1"},
        {"pageSize": "500"},
        {"blacklisted": "true", "loadedOnly": "false", "originalAssets": "true"},
    ):
        assert get(demo_server, params).status_code == 200, params


# ---------------------------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server() -> Any:
    with serve_demo(models=90, seed=11) as srv:
        yield srv


SORTS = [
    ("private", "createdAt", "desc"),
    ("private", "createdAt", "asc"),
    ("private", "score", "desc"),
    ("private", "score", "asc"),
    ("public", "createdAt", "asc"),
    ("public", "createdAt", "desc"),
    ("public", "updatedAt", "asc"),
    ("public", "updatedAt", "desc"),
    ("public", "score", "desc"),
    ("public", "score", "asc"),
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page_size=st.one_of(st.integers(1, 12), st.integers(13, 500)), sort=st.sampled_from(SORTS))
def test_pagination_returns_each_model_once_in_order(
    small_server: DemoServer, page_size: int, sort: tuple[str, str, str]
) -> None:
    privacy, sort_by, direction = sort
    params = {"privacy": privacy, "sortBy": sort_by, "sortDirection": direction}
    if privacy == "private" and sort_by == "score":
        params["status"] = "trained"
    got = [m["id"] for m in list_all(small_server, params, page_size)]
    cat = small_server.catalog
    privacies = frozenset({"public"}) if privacy == "public" else PRIVATE
    desc = direction == "desc" or (privacy == "public" and sort_by == "score")
    want = expected_ids(cat, privacies, sort_by, desc)
    if "status" in params:
        trained = {cat.facts(i).id for i in cat.indices() if cat.facts(i).status == "trained"}
        want = [m for m in want if m in trained]
    assert got == want
    assert len(got) == len(set(got))


def test_default_orders(small_server: DemoServer) -> None:
    cat = small_server.catalog
    got = [m["id"] for m in list_all(small_server, {}, 500)]
    assert got == expected_ids(cat, PRIVATE, "createdAt", True)
    got = [
        m["id"] for m in list_all(small_server, {"privacy": "public", "sortDirection": "asc"}, 500)
    ]
    assert got == expected_ids(cat, frozenset({"public"}), "score", True)
    # sortDirection alone is ignored: the default sort stays descending
    got = [m["id"] for m in list_all(small_server, {"sortDirection": "asc"}, 500)]
    assert got == expected_ids(cat, PRIVATE, "createdAt", True)


def test_created_at_ties_are_ordered_by_id(small_server: DemoServer) -> None:
    models = list_all(small_server, {"sortBy": "createdAt", "sortDirection": "asc"}, 3)
    pairs = [(m["createdAt"], m["id"]) for m in models]
    assert pairs == sorted(pairs)
    assert len({c for c, _ in pairs}) < len(pairs)  # there are ties


def test_token_bound_to_its_query(small_server: DemoServer) -> None:
    r = get(small_server, {"pageSize": 5})
    token = r.json()["nextPaginationToken"]
    # same query, other page size: fine
    r2 = get(small_server, {"pageSize": 7, "paginationToken": token})
    assert r2.status_code == 200
    for other in (
        {"sortBy": "createdAt", "sortDirection": "asc"},
        {"status": "trained"},
        {"privacy": "public"},
        {"loadedOnly": "true"},
    ):
        r3 = get(small_server, dict(other, pageSize=5, paginationToken=token))
        assert r3.status_code == 400 and r3.json()["reason"] == "invalid-pagination-token"


def test_forged_tokens_are_refused(small_server: DemoServer) -> None:
    token = get(small_server, {"pageSize": 5}).json()["nextPaginationToken"]
    body, _, mac = token.partition(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in ("garbage", "", "x.y", f"{flipped}.{mac}", f"{body}.{mac[:-2]}AA", token + "x"):
        r = get(small_server, {"pageSize": 5, "paginationToken": bad})
        if bad == "":
            assert r.status_code == 200  # an empty token is the first page
        else:
            assert r.status_code == 400, bad
            assert r.json()["reason"] == "invalid-pagination-token"
    with serve_demo(models=90, seed=11) as other:  # another server has another secret
        assert get(other, {"pageSize": 5, "paginationToken": token}).status_code == 400


def test_keyset_pages_survive_inserts_and_deletes() -> None:
    with serve_demo(models=60, seed=5) as srv:
        params = {"sortBy": "createdAt", "sortDirection": "asc", "pageSize": 6}
        first = get(srv, params).json()
        page1 = [m["id"] for m in first["models"]]
        full = expected_ids(srv.catalog, PRIVATE, "createdAt", False)
        srv.catalog.remove([page1[0], full[8]])
        added = srv.catalog.add_models(30)
        rest = list_all(
            srv,
            {
                "sortBy": "createdAt",
                "sortDirection": "asc",
                "paginationToken": first["nextPaginationToken"],
            },
            6,
        )
        got = page1 + [m["id"] for m in rest]
        cat = srv.catalog
        live_added = sorted(
            (m for m in added if cat.facts(cat.index_of(m)).privacy in PRIVATE),
            key=lambda m: (cat.facts(cat.index_of(m)).created, m),
        )
        assert cat.facts(cat.index_of(added[0])).created > cat.facts(cat.index_of(full[-1])).created
        assert got == full[:8] + full[9:] + live_added


def test_updates_move_models_in_updated_order() -> None:
    with serve_demo(models=80, seed=6) as srv:
        params = {"privacy": "public", "sortBy": "updatedAt", "sortDirection": "asc"}
        before = [m["id"] for m in list_all(srv, params, 500)]
        srv.catalog.update([before[0]], {"name": "Changé"})
        after = list_all(srv, params, 500)
        assert after[-1]["id"] == before[0] and after[-1]["name"] == "Changé"
        assert [m["id"] for m in after[:-1]] == before[1:]


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def test_filters(demo_server: DemoServer) -> None:
    cat = demo_server.catalog
    pub = {"privacy": "public"}
    every_public = list_all(demo_server, pub, 500)
    some_type = every_public[0]["type"]
    got = list_all(demo_server, dict(pub, type=some_type), 500)
    assert got and {m["type"] for m in got} == {some_type}
    t2 = next(m["type"] for m in every_public if m["type"] != some_type)
    got = list_all(demo_server, dict(pub, types=f"{some_type},{t2}"), 500)
    assert {m["type"] for m in got} == {some_type, t2}
    repeated = requests.get(
        f"{demo_server.base_url}/models?privacy=public&types={some_type}&types={t2}&pageSize=500",
        auth=DEMO_AUTH,
        timeout=10,
    ).json()["models"]
    assert [m["id"] for m in repeated] == [m["id"] for m in got]
    got = list_all(demo_server, dict(pub, tags="anime,noir"), 500)
    assert got and all({"anime", "noir"} & set(m["tags"]) for m in got)
    col = next(c for m in every_public for c in m["collectionIds"])
    got = list_all(demo_server, dict(pub, collectionIds=col), 500)
    assert got and all(col in m["collectionIds"] for m in got)
    privates = list_all(demo_server, {}, 500)
    pcol = next(c for m in privates for c in m["collectionIds"])
    got = list_all(demo_server, {"collectionId": pcol}, 500)
    assert got and all(pcol in m["collectionIds"] for m in got)
    for status in ("trained", "training", "new", "failed"):
        got = list_all(demo_server, {"status": status}, 500)
        assert got and {m["status"] for m in got} == {status}
    assert list_all(demo_server, {"status": "deleted"}, 500) == []
    loaded = list_all(demo_server, dict(pub, loadedOnly="true"), 500)
    assert 0 < len(loaded) < len(every_public)
    assert all(cat.facts(cat.index_of(m["id"])).loaded for m in loaded)


def test_date_windows_are_exclusive(demo_server: DemoServer) -> None:
    models = list_all(demo_server, {"sortBy": "createdAt", "sortDirection": "asc"}, 500)
    lo, hi = models[10]["createdAt"], models[40]["createdAt"]
    got = list_all(demo_server, {"sortBy": "createdAt", "createdAfter": lo, "createdBefore": hi}, 7)
    want = [m["id"] for m in reversed(models) if lo < m["createdAt"] < hi]
    assert [m["id"] for m in got] == want and want
    pub = list_all(
        demo_server, {"privacy": "public", "sortBy": "updatedAt", "sortDirection": "asc"}, 500
    )
    lo, hi = pub[5]["updatedAt"], pub[50]["updatedAt"]
    got = list_all(
        demo_server,
        {
            "privacy": "public",
            "sortBy": "updatedAt",
            "sortDirection": "asc",
            "updatedAfter": lo,
            "updatedBefore": hi,
        },
        9,
    )
    assert [m["id"] for m in got] == [m["id"] for m in pub if lo < m["updatedAt"] < hi]


def test_blacklisted_and_original_assets() -> None:
    cat = DemoCatalog(200, seed=4, blacklist_rate=0.2)
    with serve_demo(catalog=cat) as srv:
        normal = list_all(srv, {"privacy": "public"}, 500)
        full = list_all(srv, {"privacy": "public", "blacklisted": "true"}, 500)
        assert len(normal) < len(full)
        assert {m["id"] for m in normal} < {m["id"] for m in full}
        assert any("fm=webp" in m.get("thumbnail", {}).get("url", "") for m in normal)
        original = list_all(srv, {"privacy": "public", "originalAssets": "true"}, 500)
        assert [m["id"] for m in original] == [m["id"] for m in normal]
        assert not any("fm=webp" in m.get("thumbnail", {}).get("url", "") for m in original)


# ---------------------------------------------------------------------------------------------
# Transport
# ---------------------------------------------------------------------------------------------


def test_unknown_path_is_json_404(demo_server: DemoServer) -> None:
    r = get(demo_server, path="/nothing")
    assert r.status_code == 404 and r.json()["reason"] == "not-found"


def test_keep_alive_and_gzip(demo_server: DemoServer) -> None:
    host, port = demo_server.host, demo_server.port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Authorization": "public-auth-token", "Accept-Encoding": "gzip"}
    conn.request("GET", "/v1/models?privacy=public&pageSize=50", headers=headers)
    r1 = conn.getresponse()
    raw = r1.read()
    assert r1.status == 200 and r1.getheader("Content-Encoding") == "gzip"
    assert int(r1.getheader("Content-Length")) == len(raw)
    assert gzip.decompress(raw).startswith(b'{"models":[')
    sock = conn.sock
    conn.request(
        "GET",
        "/v1/models?privacy=public&pageSize=3",
        headers={"Authorization": "public-auth-token"},
    )
    r2 = conn.getresponse()
    assert r2.status == 200 and r2.getheader("Content-Encoding") is None
    assert r2.read().startswith(b'{"models":[')
    assert conn.sock is sock  # the same connection served both
    conn.close()


def test_concurrent_clients_are_served_while_another_connection_stalls() -> None:
    """A client that never finishes its request holds no one up: 16 requests from 8 threads
    are all answered while the stalled request is still incomplete, and the request log
    shows the stalled one last although its connection was opened first.  (How fast the
    server answers is a benchmark question, not asserted here.)"""
    with serve_demo(models=4000, seed=1) as srv:

        def fetch(k: int) -> int:
            with requests.Session() as s:
                r = s.get(
                    srv.base_url + "/models",
                    params={"privacy": "public", "pageSize": 500},
                    headers=dict(PUBLIC_HEADERS, **{"Accept-Encoding": "gzip"}),
                    timeout=30,
                )
                return len(r.json()["models"])

        fetch(0)  # build the score order once
        stalled = socket.create_connection((srv.host, srv.port), timeout=30)
        try:
            stalled.sendall(
                b"GET /v1/models?privacy=public&pageSize=7 HTTP/1.1\r\n"
            )  # no headers yet
            with ThreadPoolExecutor(8) as pool:
                sizes = list(
                    pool.map(fetch, range(16))
                )  # timeout=30 each: a hang fails, not blocks
            assert sizes == [500] * 16
            assert srv.stats.requests == 17
            assert all(r.params.get("pageSize") == "500" for r in srv.stats.log)
            stalled.sendall(
                f"Host: {srv.host}\r\nAuthorization: public-auth-token\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := stalled.recv(65536):
                answer += chunk
        finally:
            stalled.close()
        assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0]
        assert srv.stats.requests == 18
        assert srv.stats.log[-1].params == {"privacy": "public", "pageSize": "7"}


def test_stats_log(demo_server: DemoServer) -> None:
    demo_server.reset_stats()
    before = time.time()
    get(demo_server, {"pageSize": 2})
    get(demo_server, {"privacy": "public"}, auth=None, headers=PUBLIC_HEADERS)
    get(demo_server, auth=None)
    after = time.time()
    log = demo_server.stats.log
    assert demo_server.stats.requests == 3
    assert [(r.auth, r.status) for r in log] == [("basic", 200), ("public", 200), ("none", 401)]
    assert log[0].params == {"pageSize": "2"} and log[0].path == "/v1/models"
    # Arrival times are wall-clock seconds, in request order, within this test's span.
    times = [r.t for r in log]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after


def test_million_model_server_answers_first_page() -> None:
    # How long this takes is measured by bench/bench_demo_server.py, not asserted here.
    with serve_demo(models=1_000_000, seed=0) as srv:
        r = get(srv, {"pageSize": 500})
        assert r.status_code == 200 and len(r.json()["models"]) == 500
        assert "nextPaginationToken" in r.json()
        assert len(srv.catalog) == 1_000_000
        # the newest private models come first
        ids = [m["id"] for m in r.json()["models"]]
        assert srv.catalog.index_of(ids[0]) > 999_000
        # a public listing by score (one pass over the catalog builds its order)
        r = get(srv, {"privacy": "public", "pageSize": 500}, auth=None, headers=PUBLIC_HEADERS)
        assert r.status_code == 200 and len(r.json()["models"]) == 500
        assert [(x.auth, x.status) for x in srv.stats.log] == [("basic", 200), ("public", 200)]


def test_served_records_are_the_generated_ones(demo_server: DemoServer) -> None:
    served = list_all(demo_server, {}, 500) + list_all(demo_server, {"privacy": "public"}, 500)
    by_id = {m["id"]: m for m in served}
    generated = make_records(300, seed=0)
    assert len(by_id) == 300
    assert all(by_id[r["id"]] == r for r in generated)


def test_drift_server_serves_unknown_values() -> None:
    with serve_demo(models=300, seed=0, drift=True) as srv:
        models = list_all(srv, {"privacy": "public"}, 500) + list_all(srv, {}, 500)
        assert any("jobId" in m for m in models)
        got = list_all(srv, {"privacy": "public", "type": DRIFT_TYPE}, 500)
        assert got and {m["type"] for m in got} == {DRIFT_TYPE}
        assert list_all(srv, {"status": "trained"}, 500)


def test_empty_catalog() -> None:
    with serve_demo(models=0) as srv:
        assert get(srv).json() == {"models": []}
        assert get(srv, {"privacy": "public"}, auth=None, headers=PUBLIC_HEADERS).json() == {
            "models": []
        }


# ---------------------------------------------------------------------------------------------
# Usages
# ---------------------------------------------------------------------------------------------


def usages(server: DemoServer, params: dict[str, str], **kw: Any) -> requests.Response:
    return get(server, dict({"type": "model-usages"}, **params), path="/usages", **kw)


def test_usages_shape_and_determinism(demo_server: DemoServer) -> None:
    r = usages(
        demo_server, {"startDate": "2025-03-01T00:00:00Z", "endDate": "2025-03-11T00:00:00Z"}
    )
    assert r.status_code == 200
    mu = r.json()["modelUsages"]
    ids = set(demo_server.catalog.ids())
    assert mu and {u["modelId"] for u in mu} <= ids
    for u in mu:
        assert len(u["points"]) == 10
        for p in u["points"]:
            assert set(p) == {"time", "jobs", "cost", "discount", "apiKeyCost", "apiKeyDiscount"}
            assert p["apiKeyCost"] <= p["cost"] and p["discount"] <= p["cost"]
        assert [p["time"][:10] for p in u["points"]] == [f"2025-03-{d:02d}" for d in range(1, 11)]
    r2 = usages(
        demo_server, {"startDate": "2025-03-05T00:00:00Z", "endDate": "2025-03-20T00:00:00Z"}
    )
    later = {u["modelId"]: {p["time"]: p for p in u["points"]} for u in r2.json()["modelUsages"]}
    for u in mu:
        for p in u["points"]:
            if p["time"] >= "2025-03-05":
                assert later[u["modelId"]][p["time"]] == p
    privates = {m["id"] for m in list_all(demo_server, {}, 500)}
    assert privates & {u["modelId"] for u in mu}


def test_usages_rules(demo_server: DemoServer) -> None:
    day0 = datetime(2025, 1, 1, tzinfo=UTC)
    ok = {"startDate": day0.isoformat(), "endDate": (day0 + timedelta(days=120)).isoformat()}
    assert usages(demo_server, ok).status_code == 200
    too_long = {"startDate": day0.isoformat(), "endDate": (day0 + timedelta(days=121)).isoformat()}
    r = usages(demo_server, too_long)
    assert r.status_code == 400 and "120" in r.json()["message"]
    assert usages(demo_server, {"startDate": day0.isoformat()}).status_code == 400
    assert usages(demo_server, {"endDate": day0.isoformat()}).status_code == 400
    assert usages(demo_server, ok, auth=None).status_code == 401
    assert usages(demo_server, ok, auth=None, headers=PUBLIC_HEADERS).status_code == 403
    assert usages(demo_server, {"timeRange": "last-seven-days"}).status_code == 200
    assert usages(demo_server, {"type": "bogus"}).status_code == 400


def test_usages_project_filter_and_zero_points(demo_server: DemoServer) -> None:
    rng = {"startDate": "2025-01-01", "endDate": "2025-01-15"}
    everything = usages(demo_server, rng).json()["modelUsages"]
    project = demo_server.project_ids()[0]
    some = usages(demo_server, dict(rng, projectIds=project)).json()["modelUsages"]
    assert 0 < len(some) < len(everything)
    dropped = usages(demo_server, dict(rng, dropZeroPoints="true")).json()["modelUsages"]
    assert all(p["jobs"] > 0 for u in dropped for p in u["points"])


def test_server_threads_end_on_stop() -> None:
    """Stopping the server ends its threads, even the one serving a kept-alive connection
    the client still holds open."""
    before = set(threading.enumerate())
    with serve_demo(models=5) as srv:
        s = requests.Session()
        s.get(srv.base_url + "/models", auth=DEMO_AUTH, timeout=5)  # a kept-alive connection
        started = set(threading.enumerate()) - before
        assert len(started) >= 2  # the serving thread and the connection's handler
    try:
        for t in started:
            t.join(timeout=10)  # hang guard only: a thread that outlives it failed to end
        assert not [t.name for t in started if t.is_alive()]
    finally:
        s.close()
