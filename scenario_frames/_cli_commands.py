"""Registers every CLI subcommand (kept apart from ``cli`` to avoid import cycles).

The CLI imports this lazily, so ``import scenario_frames`` stays light.  Subcommand modules
import their heavy dependencies inside their run functions; the ``demo-server`` arguments
are declared here because importing anything under ``scenario_frames.demo`` builds the
generator and the server, which no other subcommand needs.
"""

from __future__ import annotations

import argparse

from . import cli_snapshot, cli_usage  # noqa: F401  (they register subcommands)
from .cli import subcommand


def _fault_kinds(text: str) -> tuple[str, ...]:
    """``--faults`` parsed by the demo CLI (imported only when the flag is given)."""
    from .demo.cli import _kinds

    return _kinds(text)


def _run_demo_server(args: argparse.Namespace) -> int:
    """Import the demo server only when ``demo-server`` actually runs."""
    from .demo.cli import run_demo_server

    return run_demo_server(args)


@subcommand
def register_demo_server(subs: argparse._SubParsersAction) -> None:
    """Add the ``demo-server`` subcommand."""
    p = subs.add_parser("demo-server", help="run the embedded demo Scenario API on loopback",
                        description="Serve a generated model catalog with the Scenario API's wire "
                                    "format. Prints the base URL first, then serves until stopped.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    p.add_argument("--models", type=int, default=2000,
                   help="catalog size, all privacies together (default 2000; up to 1,000,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the catalog and of the faults")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="share of requests that get a fault, 0..1 (default 0)")
    p.add_argument("--faults", type=_fault_kinds, default=None, metavar="KINDS",
                   help="comma separated fault kinds (default: all of them: 429-seconds, "
                        "429-date, 500, 502, 503, 504, reset, truncated, slow-body)")
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds announced by 429 answers")
    p.add_argument("--drift", action="store_true",
                   help="add fields and enum values the reference does not list to some models")
    p.add_argument("--api-key", default="demo", help="API key accepted for HTTP Basic auth")
    p.add_argument("--api-secret", default="demo", help="API secret accepted for HTTP Basic auth")
    p.set_defaults(run=_run_demo_server)
