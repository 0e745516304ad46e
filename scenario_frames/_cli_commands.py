"""Registers every CLI subcommand (kept apart from ``cli`` to avoid import cycles).

The CLI imports this lazily, so ``import scenario_frames`` stays light.  Subcommand modules
import their heavy dependencies inside their run functions; the ``demo-server`` arguments
are declared here because importing anything under ``scenario_frames.demo`` builds the
generator and the server, which no other subcommand needs.
"""

from __future__ import annotations

import argparse

from . import cli_snapshot, cli_usage  # noqa: F401  (they register subcommands)
from .cli import DEMO_CREDENTIALS, DEMO_MODELS, MAX_DEMO_MODELS, demo_models, subcommand


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
    p = subs.add_parser(
        "demo-server", help="run the embedded demo Scenario API on loopback",
        description=(
            "Serve a generated model catalog with the Scenario API's wire format.  Prints the "
            "base URL as the first line, then the catalog's public/private split and the "
            "credentials, and serves until stopped (Ctrl-C).  Credentials: HTTP Basic "
            f"{DEMO_CREDENTIALS} (key/secret) lists the private and unlisted models and "
            "GET /v1/usages; the header 'Authorization: public-auth-token' lists the public "
            f"ones.  The default catalog ({DEMO_MODELS:,} models, seed 0) is the one every "
            "--demo of this command uses."
        ),
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1); an address other than loopback "
                        "needs --allow-remote, since the demo credentials are public")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --host to be a non-loopback address (e.g. 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    p.add_argument("--models", type=demo_models, default=DEMO_MODELS,
                   help=f"catalog size, all privacies together (default {DEMO_MODELS:,}; "
                        f"up to {MAX_DEMO_MODELS:,})")
    p.add_argument("--seed", type=int, default=0, help="seed of the catalog and of the faults (default 0)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="share of requests that get a fault, 0..1 (default 0)")
    p.add_argument("--faults", type=_fault_kinds, default=None, metavar="KINDS",
                   help="comma separated fault kinds (default: all of them: 429-seconds, "
                        "429-date, 500, 502, 503, 504, reset, truncated, slow-body)")
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds announced by 429 answers")
    p.add_argument("--drift", action="store_true",
                   help="add fields and enum values the reference does not list to some models")
    p.add_argument("--api-key", default="demo", help="API key accepted for HTTP Basic auth (default demo)")
    p.add_argument("--api-secret", default="demo",
                   help="API secret accepted for HTTP Basic auth (default demo)")
    p.set_defaults(run=_run_demo_server)
