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

# The ``demo-server`` arguments are declared in ``scenario_frames._cli_commands`` (outside this
# package, whose import builds the generator and server): the CLI then starts without them.

log = logging.getLogger(__name__)


def _kinds(text: str) -> tuple[str, ...]:
    """``--faults``: comma separated fault kinds, each one the server knows."""
    from .server import ALL_FAULTS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ALL_FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {', '.join(unknown)}; "
                                         f"choose among {', '.join(ALL_FAULTS)}")
    return kinds


def run_demo_server(args: argparse.Namespace) -> int:
    """Start the server, print its URL first, and serve until SIGINT or SIGTERM."""
    from .server import ALL_FAULTS, DemoServer, Faults

    kinds = args.faults if args.faults is not None else ALL_FAULTS
    faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.seed,
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
