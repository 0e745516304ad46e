"""The ``scenario-frames`` command line: one subcommand per job, errors as one clear line.

Each subcommand is a ``register_*`` function adding its parser and a ``run`` callable, so
the parts of the toolkit plug in without touching each other.  Errors raised on purpose
(``ScenarioFramesError``, ``ValueError``, ``OSError``) are printed as a single line and exit 1;
``--debug`` shows the traceback instead.  Query errors are worded with the command's flags
(``--page-size``), not the library's keywords (``page_size``), and warnings are printed as
one line without the source line Python would show, since neither helps a shell user.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ._exceptions import QueryError, ScenarioFramesError
from ._version import __version__

log = logging.getLogger("scenario_frames")

Register = Callable[[argparse._SubParsersAction], None]
_REGISTRY: list[Register] = []
# The demo generator's own bound (``DemoCatalog`` refuses more); a test keeps them equal.
MAX_DEMO_MODELS = 10_000_000
DEMO_MODELS = 2000  # demo.DEMO_MODELS, repeated so the parser does not import the demo
DEMO_CREDENTIALS = "demo/demo"


def demo_models(text: str) -> int:
    """``--models``/``--demo-models``: a catalog size the demo generator accepts."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of models, got {text!r}") from None
    if not 0 <= n <= MAX_DEMO_MODELS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DEMO_MODELS:,}, got {n:,}")
    return n


CREDENTIAL_VARS = ("SCENARIO_API_KEY", "SCENARIO_API_SECRET", "SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET")


def subcommand(fn: Register) -> Register:
    """Decorator: add a subcommand registrar to the CLI."""
    _REGISTRY.append(fn)
    return fn


def _add_global_flags(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    """``--debug`` and ``-q``, accepted before and after the subcommand.

    On a subcommand's parser they default to SUPPRESS, so a flag given before the
    subcommand is not reset by the subparser's own default.
    """
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs", **extra)
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors in the log",
                        **extra)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    from . import _cli_commands  # noqa: F401  (registers the subcommands)

    parser = argparse.ArgumentParser(
        prog="scenario-frames",
        description="The Scenario model catalog as typed polars tables.",
    )
    parser.add_argument("--version", action="version", version=f"scenario-frames {__version__}")
    _add_global_flags(parser, sub=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    for register in _REGISTRY:
        register(subs)
    for sub in dict.fromkeys(subs.choices.values()):  # aliases map to the same parser
        _add_global_flags(sub, sub=True)
    return parser


def has_credentials() -> bool:
    """True when the environment holds an API key pair (the CLI's default privacy is then private)."""
    return any(os.environ.get(name) for name in CREDENTIAL_VARS)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """Show a warning as one log line: its text, without the file, line number or source."""
    logging.getLogger("scenario_frames").warning("%s", message)


def check_base_url(url: str | None) -> None:
    """Refuse an unusable ``--base-url`` (plain http beyond loopback, other schemes) by its flag."""
    if not url:
        return
    from .client import check_url

    try:
        check_url(url)
    except ValueError as exc:
        raise ValueError(f"--base-url: {exc}") from None


def error_text(exc: BaseException) -> str:
    """The one line a CLI user reads for an error: query errors in flag names."""
    if isinstance(exc, QueryError):
        from .query import cli_message

        return cli_message(exc, credentials=has_credentials())
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
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
