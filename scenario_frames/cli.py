"""The ``scenario-frames`` command line: one subcommand per job, errors as one clear line.

Each subcommand is a ``register_*`` function adding its parser and a ``run`` callable, so
the parts of the toolkit plug in without touching each other.  Errors raised on purpose
(``ScenarioFramesError``, ``ValueError``) are printed as a single line and exit 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ._exceptions import ScenarioFramesError
from ._version import __version__

log = logging.getLogger("scenario_frames")

Register = Callable[[argparse._SubParsersAction], None]
_REGISTRY: list[Register] = []


def subcommand(fn: Register) -> Register:
    """Decorator: add a subcommand registrar to the CLI."""
    _REGISTRY.append(fn)
    return fn


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    from . import _cli_commands  # noqa: F401  (registers the subcommands)

    parser = argparse.ArgumentParser(
        prog="scenario-frames",
        description="The Scenario model catalog as typed polars tables.",
    )
    parser.add_argument("--version", action="version", version=f"scenario-frames {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors in the log")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    for register in _REGISTRY:
        register(subs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ScenarioFramesError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1

