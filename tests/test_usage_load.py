"""load_usage: bring-your-own usage from files and frames, with forgiving column names."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_frames.usage import (
    COLUMN_ALIASES,
    USAGE_SCHEMA,
    UsageColumnError,
    load_usage,
    normalize_name,
    resolve_columns,
)

UTC_US = pl.Datetime("us", "UTC")


def test_csv_with_other_column_names_loads(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(
        "Model ID,Date,job_count,compute_units,project\n"
        "m-1,2025-03-01,3,12.5,alpha\n"
        "m-2,2025-03-02T10:30:00Z,1,4,beta\n"
        "m-1,2025-03-03 08:00:00+02:00,2,7.25,alpha\n"
    )
    usage = load_usage(path)
    assert usage.columns[: len(USAGE_SCHEMA)] == list(USAGE_SCHEMA)
    assert usage.columns[-1] == "project"  # unknown columns are kept, after the standard ones
    assert usage.schema["time"] == UTC_US
    assert usage.get_column("model_id").to_list() == ["m-1", "m-2", "m-1"]
    assert usage.get_column("jobs").to_list() == [3, 1, 2]
    assert usage.get_column("cost").to_list() == [12.5, 4.0, 7.25]
    assert usage.get_column("time").to_list() == [
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 3, 2, 10, 30, tzinfo=UTC),
        datetime(2025, 3, 3, 6, 0, tzinfo=UTC),  # +02:00 converted to UTC
    ]
    assert usage.get_column("discount").null_count() == 3


def test_csv_without_model_column_fails_helpfully(tmp_path):
    path = tmp_path / "no_model.csv"
    path.write_text("when,jobs,cost\n2025-01-01,1,2.0\n")
    with pytest.raises(UsageColumnError) as info:
        load_usage(path)
    err = info.value
    assert isinstance(err, ValueError)
    text = str(err)
    for seen in ("when", "jobs", "cost"):
        assert seen in text
    for tried in ("modelId", "model_id", "Model ID", "model"):
        assert tried in text
    assert "model_column=" in text
    assert err.seen == ["when", "jobs", "cost"]
    assert "modelId" in err.tried


def test_explicit_column_names_win(tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text("asset_model,when,n,spent\nm-9,2025-01-05,4,8\n")
    usage = load_usage(
        path, model_column="asset_model", time_column="when", jobs_column="n", cost_column="spent"
    )
    row = usage.row(0, named=True)
    assert row["model_id"] == "m-9"
    assert row["time"] == datetime(2025, 1, 5, tzinfo=UTC)
    assert (row["jobs"], row["cost"]) == (4, 8.0)
    with pytest.raises(UsageColumnError, match="not in the source"):
        load_usage(path, model_column="nope")


def test_job_log_without_jobs_counts_rows(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "modelId,created_at,cu\nm-1,2025-01-01T00:00:00Z,1.5\nm-1,2025-01-01T01:00:00Z,2\n"
    )
    usage = load_usage(path)
    assert usage.get_column("jobs").to_list() == [1, 1]
    assert usage.get_column("cost").sum() == 3.5


def test_parquet_ndjson_polars_and_pandas_sources(tmp_path):
    frame = pl.DataFrame(
        {
            "model": ["a", "b"],
            "timestamp": [datetime(2025, 2, 1, 12), datetime(2025, 2, 2, 12)],  # naive -> UTC
            "jobs": [2, 5],
            "cost": [1.0, 2.5],
        }
    )
    frame.write_parquet(tmp_path / "u.parquet")
    (tmp_path / "u.ndjson").write_text(
        "\n".join(
            json.dumps({"modelId": m, "day": d, "jobs": j, "cost": c})
            for m, d, j, c in [
                ("a", "2025-02-01T12:00:00Z", 2, 1.0),
                ("b", "2025-02-02T12:00:00Z", 5, 2.5),
            ]
        )
        + "\n"
    )
    sources = [
        tmp_path / "u.parquet",
        str(tmp_path / "u.ndjson"),
        frame,
        frame.lazy(),
        frame.to_pandas(),
    ]
    expected = None
    for src in sources:
        usage = load_usage(src).select(list(USAGE_SCHEMA))
        assert usage.schema == USAGE_SCHEMA
        if expected is None:
            expected = usage
        assert usage.equals(expected), type(src)
    assert expected.get_column("time").to_list()[0] == datetime(2025, 2, 1, 12, tzinfo=UTC)


def test_pandas_tz_aware_and_epoch_times():
    pdf = pd.DataFrame(
        {
            "model_id": ["x", "y"],
            "time": pd.to_datetime(
                ["2025-01-01T10:00:00+01:00", "2025-01-02T00:00:00+01:00"], utc=False
            ),
        }
    )
    usage = load_usage(pdf)
    assert usage.get_column("time").to_list() == [
        datetime(2025, 1, 1, 9, tzinfo=UTC),
        datetime(2025, 1, 1, 23, tzinfo=UTC),
    ]
    epoch = pl.DataFrame({"model_id": ["x", "y"], "ts": [1735689600, 1735689600_000]})
    times = load_usage(epoch).get_column("time").to_list()
    assert times == [datetime(2025, 1, 1, tzinfo=UTC)] * 2  # seconds and milliseconds


def test_unreadable_values_are_reported_not_nulled():
    frame = pl.DataFrame(
        {"model_id": ["a", "b"], "date": ["2025-01-01", "soon"], "cost": ["1", "2"]}
    )
    with pytest.raises(UsageColumnError, match="soon"):
        load_usage(frame)
    frame = pl.DataFrame({"model_id": ["a"], "cost": ["lots"]})
    with pytest.raises(UsageColumnError, match="lots"):
        load_usage(frame)


def test_fetched_shape_round_trips():
    tidy = pl.DataFrame(
        {
            "model_id": ["a"],
            "time": [datetime(2025, 1, 1, tzinfo=UTC)],
            "jobs": [3],
            "cost": [1.5],
            "discount": [0.5],
            "api_key_cost": [1.0],
            "api_key_discount": [0.0],
            "granularity": ["day"],
        },
        schema=USAGE_SCHEMA,
    )
    assert load_usage(tidy).equals(tidy)


# ---------------------------------------------------------------------------------------------
# Property: any spelling of a known name (case, separators, camelCase) resolves to it.
# ---------------------------------------------------------------------------------------------

_SPELLINGS = {
    "model_id": ["modelId", "model_id", "model", "Model ID", "MODEL-ID", "ModelId"],
    "time": ["time", "date", "day", "timestamp", "created_at", "createdAt", "Date Time"],
    "jobs": ["jobs", "job_count", "JobCount", "Jobs"],
    "cost": ["cost", "cu", "CU", "compute_units", "Compute Units", "computeUnits"],
}


@st.composite
def decorated(draw, name: str) -> str:
    """Re-spell ``name``: random case per letter, separators swapped, padding added."""
    chars = []
    for ch in name:
        if ch in " _-":
            chars.append(draw(st.sampled_from([" ", "_", "-", "", "  "])))
        else:
            chars.append(ch.upper() if draw(st.booleans()) else ch.lower())
    pad = draw(st.sampled_from(["", " ", "_"]))
    return pad + "".join(chars) + pad


@st.composite
def column_sets(draw):
    chosen = {}
    for canon, names in _SPELLINGS.items():
        if canon == "model_id" or draw(st.booleans()):
            chosen[canon] = draw(decorated(draw(st.sampled_from(names))))
    noise = draw(
        st.lists(
            st.text(string.ascii_lowercase, min_size=3, max_size=8).filter(
                lambda t: normalize_name(t) not in {a for al in COLUMN_ALIASES.values() for a in al}
            ),
            max_size=3,
            unique=True,
        )
    )
    return chosen, noise


@settings(max_examples=150, deadline=None)
@given(column_sets())
def test_column_names_normalize(case):
    chosen, noise = case
    columns = list(chosen.values()) + [n for n in noise if n not in chosen.values()]
    found = resolve_columns(columns)
    for canon, spelled in chosen.items():
        assert found[canon] == spelled
    assert set(found) == set(chosen)


@settings(max_examples=25, deadline=None)
@given(column_sets())
def test_load_usage_renames_any_spelling(case):
    chosen, _ = case
    data = {"model_id": ["m"], "time": ["2025-01-01"], "jobs": [2], "cost": [1.5]}
    frame = pl.DataFrame({spelled: data[canon] for canon, spelled in chosen.items()})
    usage = load_usage(frame)
    assert usage.get_column("model_id").to_list() == ["m"]
    if "time" in chosen:
        assert usage.get_column("time").to_list() == [datetime(2025, 1, 1, tzinfo=UTC)]
    assert usage.get_column("jobs").to_list() == [2 if "jobs" in chosen else 1]
