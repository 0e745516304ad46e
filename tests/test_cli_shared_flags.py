"""Every command that fetches takes the same connection flags, declared once in ``cli.common``."""

from __future__ import annotations

import argparse

from scenario_frames.cli import build_parser

SHARED = ("--base-url", "--no-progress")


def _options(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {opt: action for action in sub._actions for opt in action.option_strings}


def test_snapshot_and_usage_share_the_connection_flags() -> None:
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    snapshot, usage = _options(subs.choices["snapshot"]), _options(subs.choices["usage"])
    for flag in SHARED:
        a, b = snapshot[flag], usage[flag]
        assert (a.dest, a.help, a.metavar, a.default, type(a)) == (
            b.dest,
            b.help,
            b.metavar,
            b.default,
            type(b),
        )


def test_the_shared_flags_parse_the_same_on_both_commands() -> None:
    parser = build_parser()
    snap = parser.parse_args(["snapshot", "--base-url", "http://127.0.0.1:9/v1", "--no-progress"])
    use = parser.parse_args(
        [
            "usage",
            "--start",
            "2025-01-01",
            "--end",
            "2025-02-01",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--no-progress",
        ]
    )
    assert (
        (snap.base_url, snap.no_progress)
        == (use.base_url, use.no_progress)
        == ("http://127.0.0.1:9/v1", True)
    )
