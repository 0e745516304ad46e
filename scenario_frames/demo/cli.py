"""``scenario-frames demo-server``: run the demo Scenario API until interrupted.

The first line on stdout is the base URL (flushed at once), so scripts and tests can start
the command and read where to point their client.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from ..cli import subcommand
from .server import ALL_FAULTS, DemoServer, Faults

log = logging.getLogger(__name__)


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ALL_FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {', '.join(unknown)}; "
                                         f"choose among {', '.join(ALL_FAULTS)}")
    return kinds


def run_demo_server(args: argparse.Namespace) -> int:
    """Start the server, print its URL first, and serve until SIGINT or SIGTERM."""
    faults = Faults(rate=args.fault_rate, kinds=args.faults, seed=args.seed,
                    retry_after=args.retry_after)
    server = DemoServer(models=args.models, seed=args.seed, latency_ms=args.latency_ms,
                        faults=faults, drift=args.drift, api_key=args.api_key,
                        api_secret=args.api_secret, host=args.host, port=args.port)
    server.start()
    print(server.base_url, flush=True)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    print(f"served {server.stats.requests} requests", file=sys.stderr)
    return 0


@subcommand
def register(subs: argparse._SubParsersAction) -> None:
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
    p.add_argument("--faults", type=_kinds, default=ALL_FAULTS,
                   help=f"comma separated fault kinds (default all: {','.join(ALL_FAULTS)})")
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds announced by 429 answers")
    p.add_argument("--drift", action="store_true",
                   help="add fields and enum values the reference does not list to some models")
    p.add_argument("--api-key", default="demo", help="API key accepted for HTTP Basic auth")
    p.add_argument("--api-secret", default="demo", help="API secret accepted for HTTP Basic auth")
    p.set_defaults(run=run_demo_server)
