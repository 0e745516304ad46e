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


# ---------------------------------------------------------------------------------------------
# One set of transport flags on every command that talks to the API
# ---------------------------------------------------------------------------------------------

# The transport group every command that talks to the API takes, by name: the test fails when
# a command (or common.py) loses one, not only when two commands disagree.
TRANSPORT = (
    "--base-url",
    "--no-progress",
    "--max-attempts",
    "--deadline",
    "--max-retry-after",
    "--max-page-bytes",
)
LISTING = ("--workers", "--checkpoint")
# Every subcommand, by what it does: a new one must be put in one of these, so it cannot
# quietly come without the shared flags.
TALKS_TO_THE_API = {"snapshot": "lists models", "usage": "reads usage"}
LOCAL_ONLY = {"diff", "demo-server"}  # compares folders; serves the demo (no client)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subs.choices)


def _reference(groups: str) -> argparse.ArgumentParser:
    """A bare parser with the groups of cli.common, declared there once."""
    from scenario_frames.cli import common

    ref = argparse.ArgumentParser()
    net = common.add_transport_arguments(ref)
    if "listing" in groups:
        common.add_listing_arguments(net)
        common.add_query_arguments(ref)
    return ref


def _same(a: argparse.Action, b: argparse.Action) -> bool:
    def kind(action: argparse.Action) -> object:  # seconds() makes a new parser per call
        return getattr(action.type, "__qualname__", action.type)

    return (a.dest, a.help, a.metavar, a.default, a.choices, type(a), kind(a)) == (
        b.dest,
        b.help,
        b.metavar,
        b.default,
        b.choices,
        type(b),
        kind(b),
    )


def _group_of(parser: argparse.ArgumentParser, flag: str) -> str | None:
    for group in parser._action_groups:
        if any(flag in action.option_strings for action in group._group_actions):
            return group.title
    return None


def test_every_subcommand_is_classified() -> None:
    assert set(_subcommands()) == set(TALKS_TO_THE_API) | LOCAL_ONLY


def test_every_command_that_talks_to_the_api_takes_the_transport_flags() -> None:
    ref = _reference("transport")
    ref_opts = _options(ref)
    assert set(TRANSPORT) <= set(ref_opts), "common.py lost a transport flag"
    for name, sub in _subcommands().items():
        opts = _options(sub)
        if name in LOCAL_ONLY:
            continue
        for flag in TRANSPORT:
            assert flag in opts, f"{name} lacks {flag}"
            assert _same(opts[flag], ref_opts[flag]), f"{name} {flag} differs from common.py"
            assert _group_of(sub, flag) == _group_of(ref, flag), f"{name} {flag} group"
        help_text = sub.format_help()
        for flag in TRANSPORT:
            assert flag in help_text


def test_commands_that_list_models_take_the_listing_and_query_flags() -> None:
    ref_opts = _options(_reference("listing"))
    query = [f for f in ref_opts if f not in TRANSPORT + LISTING and f not in ("-h", "--help")]
    assert "--sort-by" in query and "--page-size" in query
    for name, sub in _subcommands().items():
        opts = _options(sub)
        if TALKS_TO_THE_API.get(name) != "lists models":
            # usage reads no model listing: no listing or query flag that would do nothing.
            assert not set(LISTING + tuple(query)) & set(opts), name
            continue
        for flag in LISTING + tuple(query):
            assert flag in opts and _same(opts[flag], ref_opts[flag]), f"{name} {flag}"
