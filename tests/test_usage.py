"""fetch_model_usage against the embedded demo API over real loopback HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_frames import QueryError, ServerError
from scenario_frames.transport.client import ScenarioClient
from scenario_frames.usage import (
    MAX_WINDOW_DAYS,
    USAGE_SCHEMA,
    check_model_usages_body,
    fetch_model_usage,
    parse_model_usages,
    usage_windows,
)

# ---------------------------------------------------------------------------------------------
# Windows: pure arithmetic, no server
# ---------------------------------------------------------------------------------------------


def test_windows_tile_a_long_period():
    wins = usage_windows("2025-01-01", "2025-07-20")  # 200 days
    assert len(wins) == 2
    assert wins[0] == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))
    assert wins[1] == (datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 7, 20, tzinfo=UTC))
    assert usage_windows(date(2025, 1, 1), date(2025, 1, 31)) == [
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC))
    ]


@pytest.mark.parametrize("start,end", [("2025-02-01", "2025-01-01"), ("2025-01-01", "2025-01-01")])
def test_empty_or_reversed_range_is_refused(start, end):
    with pytest.raises(QueryError, match="end-exclusive"):
        usage_windows(start, end)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    length=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=1000)),
    max_days=st.integers(min_value=1, max_value=MAX_WINDOW_DAYS),
)
def test_windows_cover_exactly_once(start, length, max_days):
    lo = start.replace(tzinfo=UTC)
    wins = usage_windows(lo, lo + length, max_days=max_days)
    assert wins[0][0] == lo and wins[-1][1] == lo + length
    for (_, b), (c, _) in zip(wins, wins[1:], strict=False):
        assert b == c  # no gap, no overlap
    assert all(timedelta(0) < b - a <= timedelta(days=max_days) for a, b in wins)


def test_body_check_and_parse():
    assert check_model_usages_body({"modelUsages": []}) is None
    assert "modelUsages" in check_model_usages_body({"models": []})
    assert check_model_usages_body({"modelUsages": [{"points": []}]}) is not None
    body = {
        "modelUsages": [
            {
                "modelId": "m",
                "points": [
                    {
                        "time": "2025-01-01T00:00:00.000Z",
                        "jobs": 2,
                        "cost": 3.5,
                        "discount": 0.5,
                        "apiKeyCost": 1.0,
                        "apiKeyDiscount": 0.0,
                    },
                    {"time": "2025-01-02T00:00:00.000Z", "jobs": 1, "cost": 1.0},
                    {"time": "2025-01-03T00:00:00.000Z", "jobs": 9, "cost": 9.0},
                ],
            }
        ]
    }
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC))
    frame = parse_model_usages(body, window=window)
    assert frame.schema == USAGE_SCHEMA
    assert frame.get_column("jobs").to_list() == [2, 1]  # the 3rd is at the excluded end
    assert frame.get_column("granularity").to_list() == ["day", "day"]
    assert frame.get_column("api_key_cost").to_list() == [1.0, None]
    with pytest.raises(ServerError):
        parse_model_usages(b'{"modelUsages": [', window=window)


# ---------------------------------------------------------------------------------------------
# Against the demo server
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from scenario_frames.demo import serve_demo

    with serve_demo(models=12, seed=3) as server:
        yield server


def _usage_calls(server) -> list:
    return [r for r in server.stats.log if r.path.rstrip("/").endswith("/usages")]


def _fetch(server, start, end, **kw) -> pl.DataFrame:
    server.reset_stats()
    with ScenarioClient(server.base_url, "demo", "demo") as client:
        return fetch_model_usage(start, end, client=client, **kw)


def _check_days(usage: pl.DataFrame, first: date, days: int) -> None:
    """Every model has exactly one point per day of [first, first + days)."""
    expected = [
        datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=i)
        for i in range(days)
    ]
    assert usage.schema == USAGE_SCHEMA
    assert usage.height > 0
    assert usage.select(pl.struct("model_id", "time").is_duplicated().any()).item() is False
    per_model = usage.group_by("model_id").agg(pl.col("time").sort())
    for model_id, times in per_model.iter_rows():
        assert times == expected, model_id


def test_thirty_days_in_one_call(demo):
    usage = _fetch(demo, "2025-03-01", "2025-03-31")
    calls = _usage_calls(demo)
    assert len(calls) == 1
    assert calls[0].params["type"] == "model-usages"
    _check_days(usage, date(2025, 3, 1), 30)
    assert usage.get_column("granularity").unique().to_list() == ["day"]
    assert (usage.get_column("jobs") >= 0).all()


def test_two_hundred_days_in_two_calls(demo):
    usage = _fetch(demo, date(2025, 1, 1), date(2025, 7, 20))
    calls = [c for c in _usage_calls(demo) if c.status == 200]
    assert len(calls) == 2
    assert [(c.params["startDate"][:10], c.params["endDate"][:10]) for c in calls] == [
        ("2025-01-01", "2025-05-01"),
        ("2025-05-01", "2025-07-20"),
    ]
    _check_days(usage, date(2025, 1, 1), 200)


def test_long_range_matches_the_same_days_fetched_in_short_windows(demo):
    long = _fetch(demo, "2025-01-01", "2025-07-20")
    short = _fetch(demo, "2025-01-01", "2025-07-20", max_days=30)
    assert len(_usage_calls(demo)) == 7  # 200 days in windows of 30
    assert long.equals(short)


def test_server_refuses_over_120_days(demo):
    """The limit is real: one raw call for 200 days is a 400, which is why we split."""
    from scenario_frames import BadRequestError

    with ScenarioClient(demo.base_url, "demo", "demo") as client, pytest.raises(BadRequestError):
        client.get_json(
            "/usages",
            {
                "type": "model-usages",
                "startDate": "2025-01-01T00:00:00.000Z",
                "endDate": "2025-07-20T00:00:00.000Z",
            },
            check=check_model_usages_body,
        )


def test_project_ids_are_sent(demo):
    _fetch(demo, "2025-03-01", "2025-03-08", project_ids=["p1", "p2"])
    assert _usage_calls(demo)[0].params.get("projectIds") == "p1,p2"


def test_usage_fetch_survives_faults():
    from scenario_frames.demo import Faults, serve_demo

    # The first three answers are spoiled (500, 503 or a cut-short 200 body); the client retries.
    faults = Faults(rate=1.0, kinds=("500", "503", "truncated"), seed=5, max_faults=3)
    with (
        serve_demo(models=5, seed=1, faults=faults) as server,
        ScenarioClient(server.base_url, "demo", "demo", backoff=0.01, backoff_max=0.05) as client,
    ):
        usage = fetch_model_usage("2025-01-01", "2025-06-01", client=client)
        assert server.stats.total_faults == 3
        assert sum(1 for r in server.stats.log if r.fault is None and r.status == 200) == 2
    _check_days(usage, date(2025, 1, 1), (date(2025, 6, 1) - date(2025, 1, 1)).days)


def test_usage_without_credentials_says_what_to_do(demo, monkeypatch):
    for var in (
        "SCENARIO_API_KEY",
        "SCENARIO_API_SECRET",
        "SCENARIO_SDK_API_KEY",
        "SCENARIO_SDK_API_SECRET",
    ):
        monkeypatch.delenv(var, raising=False)
    demo.reset_stats()
    with pytest.raises(ValueError, match="SCENARIO_API_KEY"):
        fetch_model_usage("2025-01-01", "2025-01-08", base_url=demo.base_url)
    assert _usage_calls(demo) == []  # refused before any request


def test_wrong_credentials_are_an_authentication_error(demo):
    from scenario_frames import AuthenticationError

    with pytest.raises(AuthenticationError):
        fetch_model_usage(
            "2025-01-01", "2025-01-08", base_url=demo.base_url, api_key="demo", api_secret="wrong"
        )
