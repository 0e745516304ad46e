"""The ``scenario-frames usage`` subcommand, run in-process against the demo API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from scenario_frames.cli import main
from scenario_frames.usage import USAGE_SCHEMA


def test_demo_run_writes_parquet_and_manifest(tmp_path, capsys):
    out = tmp_path / "usage"
    code = main(
        [
            "usage",
            "--demo",
            "--start",
            "2025-01-01",
            "--end",
            "2025-07-20",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    usage = pl.read_parquet(out / "model_usage.parquet")
    assert usage.schema == USAGE_SCHEMA
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["calls"] == 2
    assert manifest["windows"] == [
        ["2025-01-01T00:00:00.000Z", "2025-05-01T00:00:00.000Z"],
        ["2025-05-01T00:00:00.000Z", "2025-07-20T00:00:00.000Z"],
    ]
    assert manifest["demo"] is True
    assert manifest["rows"] == usage.height
    assert manifest["jobs"] == usage.get_column("jobs").sum()
    # 200 distinct days, every one of them present
    days = usage.get_column("time").unique().sort().to_list()
    first = datetime(2025, 1, 1, tzinfo=UTC)
    assert days == [first + timedelta(days=i) for i in range(200)]
    printed = capsys.readouterr().out
    assert "200 days in 2 call(s)" in printed
    assert "top" in printed and "model_usage.parquet" in printed


def test_credentials_never_reach_the_outputs(tmp_path, capsys, monkeypatch):
    from scenario_frames.demo import serve_demo

    key, secret = "key-7f3a9c21", "secret-b81e44d0"
    monkeypatch.setenv("SCENARIO_API_KEY", key)
    monkeypatch.setenv("SCENARIO_API_SECRET", secret)
    with serve_demo(models=6, seed=2, api_key=key, api_secret=secret) as server:
        code = main(
            [
                "usage",
                "--base-url",
                server.base_url,
                "--start",
                "2025-03-01",
                "--end",
                "2025-03-31",
                "--project-ids",
                "p1,p2",
                "p3",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        assert code == 0
        calls = [r for r in server.stats.log if r.path.endswith("/usages")]
    assert len(calls) == 1 and calls[0].params["projectIds"] == "p1,p2,p3"
    manifest_text = (tmp_path / "manifest.json").read_text()
    printed = capsys.readouterr()
    for text in (manifest_text, printed.out, printed.err):
        assert key not in text and secret not in text
    manifest = json.loads(manifest_text)
    assert manifest["project_ids"] == ["p1", "p2", "p3"]
    assert manifest["base_url"] == server.base_url
    assert manifest["demo"] is False


def test_bad_range_is_one_clear_error(tmp_path, capsys):
    code = main(
        ["usage", "--demo", "--start", "2025-02-01", "--end", "2025-01-01", "--out", str(tmp_path)]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error:") and "--end (2025-01-01T00:00:00.000Z) must be after --start" in err
    )
    assert not (tmp_path / "model_usage.parquet").exists()


def test_demo_and_base_url_exclude_each_other(tmp_path, capsys):
    code = main(
        [
            "usage",
            "--demo",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--start",
            "2025-01-01",
            "--end",
            "2025-01-02",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "exclude each other" in capsys.readouterr().err


def _usage_args(base_url: str, out, *flags: str) -> list[str]:
    return [
        "usage",
        "--base-url",
        base_url,
        "--start",
        "2025-03-01",
        "--end",
        "2025-03-08",
        "--out",
        str(out),
        "--no-progress",
        *flags,
    ]


def test_the_shared_max_attempts_flag_reaches_the_usage_client(tmp_path, capsys, monkeypatch):
    """``--max-attempts`` from the shared transport group decides how often usage retries.

    The server answers its first request with a 503: one attempt gives up on it, two retry
    and succeed.  A usage command that took the flag but built its client without it would
    retry with the default (8) and succeed the first time.
    """
    from scenario_frames.demo import Faults, serve_demo

    monkeypatch.setenv("SCENARIO_API_KEY", "demo")
    monkeypatch.setenv("SCENARIO_API_SECRET", "demo")

    def one_503() -> Faults:
        return Faults(rate=1.0, kinds=("503",), max_faults=1)

    with serve_demo(models=40, seed=3, faults=one_503()) as server:
        code = main(_usage_args(server.base_url, tmp_path / "one", "--max-attempts", "1"))
        assert code == 1
        assert "503" in capsys.readouterr().err
        assert [r.status for r in server.stats.log] == [503]
        assert not (tmp_path / "one" / "model_usage.parquet").exists()

        server.faults = one_503()
        server.reset_stats()
        code = main(_usage_args(server.base_url, tmp_path / "two", "--max-attempts", "2"))
        assert code == 0, capsys.readouterr().err
        assert [r.status for r in server.stats.log] == [503, 200]
        assert (tmp_path / "two" / "model_usage.parquet").exists()


def test_the_shared_page_bound_applies_to_usage_on_the_demo(tmp_path, capsys):
    """``usage --demo`` builds its client from the shared flags too (with the demo's key pair):
    a body bound far below the demo's answer fails the run, naming the limit."""
    code = main(
        [
            "usage",
            "--demo",
            "--start",
            "2025-03-01",
            "--end",
            "2025-03-08",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--max-page-bytes",
            "64",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "max_page_bytes limit of 64 bytes" in err
    assert not (tmp_path / "model_usage.parquet").exists()


@pytest.mark.parametrize(
    "flags, status, message",
    [
        (("--max-attempts", "0"), 1, "error: --max-attempts must be at least 1, got 0"),
        # refused by the flag's type while parsing (argparse's usage error, exit status 2)
        (("--deadline", "0"), 2, "--deadline: expected a number of seconds, above 0, got '0'"),
    ],
    ids=["max-attempts", "deadline"],
)
@pytest.mark.parametrize("command", ["usage", "snapshot"])
def test_unusable_transport_flags_are_refused_by_name(
    tmp_path, capsys, command, flags, status, message
):
    """Both commands check the shared transport flags with the same rule and words, before
    any request (port 9 on loopback: nothing would answer)."""
    if command == "usage":
        argv = _usage_args("http://127.0.0.1:9/v1", tmp_path, *flags)
    else:
        argv = ["snapshot", "--base-url", "http://127.0.0.1:9/v1", "--privacy", "public"]
        argv += ["--out", str(tmp_path), "--no-progress", *flags]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == status
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
