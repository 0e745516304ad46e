"""The ``scenario-frames`` command line: one subcommand per job, errors as one clear line.

Each subcommand module (``snapshot``, ``usage``, ``demo_server``) has a ``register_*`` function
adding its parser and a ``run`` callable; ``build_parser`` calls them from one explicit list.  Errors raised on purpose
(``ScenarioFramesError``, ``ValueError``, ``OSError``) are printed as a single line and exit 1;
``--debug`` shows the traceback instead.  Query errors are worded with the command's flags
(``--page-size``), not the library's keywords (``page_size``), and warnings are printed as
one line without the source line Python would show, since neither helps a shell user.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from .._version import __version__
from ..errors import QueryError, ScenarioFramesError

log = logging.getLogger("scenario_frames")


def _add_global_flags(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    """``--debug`` and ``-q``, accepted before and after the subcommand.

    On a subcommand's parser they default to SUPPRESS, so a flag given before the
    subcommand is not reset by the subparser's own default.
    """
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs", **extra
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="only warnings and errors in the log", **extra
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    from . import demo_server, snapshot, usage

    parser = argparse.ArgumentParser(
        prog="scenario-frames",
        description="The Scenario model catalog as typed polars tables.",
    )
    parser.add_argument("--version", action="version", version=f"scenario-frames {__version__}")
    _add_global_flags(parser, sub=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    # The explicit list of subcommands, in the order ``--help`` shows them.
    for register in (
        snapshot.register_snapshot,
        snapshot.register_diff,
        usage.register_usage,
        demo_server.register_demo_server,
    ):
        register(subs)
    for sub in dict.fromkeys(subs.choices.values()):  # aliases map to the same parser
        _add_global_flags(sub, sub=True)
    return parser


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Show a warning as one log line: its text, without the file, line number or source."""
    logging.getLogger("scenario_frames").warning("%s", message)


def error_text(exc: BaseException) -> str:
    """The one line a CLI user reads for an error: query errors in flag names."""
    if isinstance(exc, QueryError):
        from ..listing.query import cli_message
        from .common import has_credentials

        return cli_message(exc, credentials=has_credentials())
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger().setLevel(level)  # basicConfig does nothing when called twice in-process
    shown = warnings.showwarning
    if not args.debug:
        warnings.showwarning = _one_line_warning
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ScenarioFramesError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown


def run() -> NoReturn:
    """Run the command line as a program (the console script, ``python -m scenario_frames``).

    When ``main`` has returned, every file the command wrote is complete, fsynced and closed;
    what remains is the interpreter's teardown, which frees each module and each library's
    state one by one (about 80 ms after a snapshot of 10,000 models, measured).  So the
    output streams and the logging handlers are flushed and the process ends at once with
    ``main``'s code.  An exception ``main`` lets through (``--debug``) ends the process the
    usual way, with its traceback.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)
