"""Query rules: the client refuses exactly what the server's rule table refuses, before any request.

Hypothesis draws random combinations of every ``GET /models`` parameter.  The client's
verdict (``QueryError`` and its rule, or acceptance) must equal ``first_broken_rule`` (the
table the demo server enforces), and a refused query must not reach the server: the demo
server's request counter stays still.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_frames import BadRequestError
from scenario_frames.demo import serve_demo
from scenario_frames.fetch import fetch_catalog, fetch_pages
from scenario_frames.listing.query import (
    RULES,
    ModelQuery,
    QueryError,
    UnknownEnumWarning,
    first_broken_rule,
    iso_utc,
)
from scenario_frames.schema import MODEL_TYPES
from scenario_frames.transport.client import ScenarioClient

NON_ENUM_RULES = [r.id for r in RULES if not r.enum]

# Valid enum values only: enum mistakes are warnings on the client, tested separately.
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "privacy": st.sampled_from(["private", "public"]),
        "status": st.sampled_from(["new", "training", "trained", "failed", "deleted"]),
        "type": st.sampled_from(MODEL_TYPES[:5]),
        "types": st.lists(st.sampled_from(MODEL_TYPES), min_size=1, max_size=3),
        "tags": st.lists(st.sampled_from(["sci-fi", "anime", "logo"]), min_size=1, max_size=2),
        "collection_id": st.just("collection_abc"),
        "collection_ids": st.just(["c1", "c2"]),
        "created_after": st.sampled_from(
            ["2024-01-01", date(2024, 2, 1), datetime(2024, 3, 1, tzinfo=UTC), "not-a-date"]
        ),
        "created_before": st.sampled_from(["2025-06-01T12:00:00Z", "31/12/2024"]),
        "updated_after": st.sampled_from(["2024-05-01T00:00:00.000Z", "yesterday"]),
        "updated_before": st.just("2026-01-01"),
        "sort_by": st.sampled_from(["createdAt", "updatedAt", "score"]),
        "sort_direction": st.sampled_from(["asc", "desc"]),
        "blacklisted": st.booleans(),
        "loaded_only": st.booleans(),
        "original_assets": st.booleans(),
        "page_size": st.integers(min_value=-2, max_value=502),
    },
)

BAD_DATES = {"not-a-date", "31/12/2024", "yesterday"}
DATE_KWARGS = ("created_after", "created_before", "updated_after", "updated_before")


def _api_params(kwargs: dict) -> dict[str, str] | None:
    """The API-named parameters the raw kwargs stand for, or None if a date cannot parse."""
    if any(v in BAD_DATES for v in kwargs.values() if isinstance(v, str)):
        return None
    norm = {k: iso_utc(v) if k in DATE_KWARGS else v for k, v in kwargs.items()}
    return ModelQuery(**norm).params()  # the bare dataclass stores values without checking


@settings(max_examples=400, deadline=None)
@given(QUERY)
def test_client_verdict_equals_server_rule_table(kwargs: dict) -> None:
    params = _api_params(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownEnumWarning)
        if params is None:
            with pytest.raises(QueryError) as err:
                ModelQuery.build(**kwargs)
            assert err.value.rule == "iso-date"
            return
        expected = first_broken_rule(params)
        if expected is None:
            q = ModelQuery.build(**kwargs)
            assert q.params() == params
        else:
            with pytest.raises(QueryError) as err:
                ModelQuery.build(**kwargs)
            assert err.value.rule == expected.id
            assert expected.message in str(err.value)


# One minimal violation per documented rule: its rule id and the words that name the fix.
VIOLATIONS = {
    "type-with-types": ({"privacy": "public", "type": "sd-xl", "types": ["flux.1"]}, "types"),
    "public-only": ({"tags": ["anime"]}, "privacy='public'"),
    "private-only": ({"privacy": "public", "status": "trained"}, "status"),
    "created-needs-sort-created-at": (
        {"privacy": "public", "created_after": "2024-01-01"},
        "sort_by='createdAt'",
    ),
    "updated-needs-public-sort-updated-at": (
        {"updated_after": "2024-01-01", "sort_by": "updatedAt"},
        "privacy='public'",
    ),
    "private-sort": ({"sort_by": "updatedAt"}, "createdAt"),
    "score-needs-privacy-and-status": ({"sort_by": "score"}, "status"),
    "page-size-range": ({"page_size": 501}, "page_size"),
    "iso-date": ({"sort_by": "createdAt", "created_before": "31/12/2024"}, "ISO"),
    "boolean": ({"blacklisted": "maybe"}, "true or false"),
}


def test_every_non_enum_rule_has_a_violation_case() -> None:
    assert set(NON_ENUM_RULES) <= set(VIOLATIONS)


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=50, seed=3) as srv:
        yield srv


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_each_rule_refused_before_any_request(server, rule: str) -> None:
    kwargs, fix = VIOLATIONS[rule]
    client = ScenarioClient(server.base_url, "demo", "demo")
    before = server.stats.requests
    with pytest.raises(QueryError) as err:
        fetch_pages(kwargs, client=client, progress=False)
    assert err.value.rule == rule
    assert rule in str(err.value) and fix in str(err.value)
    with pytest.raises(QueryError):
        fetch_catalog(
            base_url=server.base_url, api_key="demo", api_secret="demo", progress=False, **kwargs
        )
    assert server.stats.requests == before, "an invalid query reached the server"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(QUERY)
def test_invalid_queries_send_no_request(server, kwargs: dict) -> None:
    params = _api_params(kwargs)
    invalid = params is None or first_broken_rule(params) is not None
    if not invalid:
        return
    client = ScenarioClient(server.base_url, "demo", "demo")
    before = server.stats.requests
    with pytest.raises(QueryError):
        fetch_pages(kwargs, client=client, progress=False)
    assert server.stats.requests == before
    assert client.stats()["requests"] == 0


def test_unknown_enum_values_warn_but_are_sent(server) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    with pytest.warns(UnknownEnumWarning):
        q = ModelQuery.build(privacy="public", type="flux.9-ultra")
    assert q.params()["type"] == "flux.9-ultra"
    with pytest.warns(UnknownEnumWarning):
        q2 = ModelQuery.build(status="archived")
    before = server.stats.requests
    # The demo refuses the unknown value (400): the request went out, the client did not block it.
    with pytest.raises(BadRequestError):
        fetch_pages(q2, client=client, progress=False, workers=1)
    assert server.stats.requests > before


# ---------------------------------------------------------------------------------------------
# The same errors worded for the command line
# ---------------------------------------------------------------------------------------------

PYTHON_SPELLINGS = (
    "page_size",
    "sort_by",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
    "collection_id",
    "pageSize",
    "sortBy",
    "createdAfter",
    "createdBefore",
    "updatedAfter",
    "updatedBefore",
    "collectionId",
    "privacy=",
)


def _snapshot_flags() -> set[str]:
    from scenario_frames.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command")
    return {s for a in subs.choices["snapshot"]._actions for s in a.option_strings}


def _query_error(kwargs: dict) -> QueryError:
    with warnings.catch_warnings(), pytest.raises(QueryError) as err:
        warnings.simplefilter("ignore")
        ModelQuery.build(**kwargs)
    return err.value


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
@pytest.mark.parametrize("credentials", [False, True])
def test_cli_wording_names_real_flags_only(rule: str, credentials: bool) -> None:
    from scenario_frames.listing.query import cli_message

    exc = _query_error(VIOLATIONS[rule][0])
    text = cli_message(exc, credentials=credentials)
    assert "--" in text, text
    for word in PYTHON_SPELLINGS:
        assert word not in text, (word, text)
    flags = _snapshot_flags()
    named = {w.rstrip(".,:;)") for w in text.split() if w.startswith("--") and w != "--no-"}
    assert named <= flags, named - flags
    assert str(exc).startswith(f"[{rule}]")  # the Python wording is unchanged for callers


def test_cli_privacy_hints_follow_the_credentials() -> None:
    from scenario_frames.listing.query import cli_message

    exc = _query_error({"privacy": "public", "status": "trained"})
    assert exc.params == ("status", "collection_id")
    without = cli_message(exc, credentials=False)
    assert "default here is public" in without and "SCENARIO_API_KEY" in without
    with_creds = cli_message(
        _query_error({"status": "trained", "privacy": "public"}), credentials=True
    )
    assert "add --privacy private" in with_creds and "SCENARIO_API_KEY" not in with_creds


@settings(max_examples=150, deadline=None)
@given(QUERY)
def test_every_refused_query_has_a_cli_wording(kwargs: dict) -> None:
    from scenario_frames.listing.query import cli_message

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ModelQuery.build(**kwargs)
    except QueryError as exc:
        text = cli_message(exc)
        assert text.startswith("--") or " --" in text, text
        assert not any(word in text for word in PYTHON_SPELLINGS), text
