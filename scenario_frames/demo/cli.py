"""``scenario-frames demo-server``: run the demo Scenario API until interrupted.

The first line on stdout is the base URL (flushed at once), so scripts and tests can start
the command and read where to point their client.  The next lines say what is served: the
catalog's public/private split and which credentials list which part.
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


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad flags with their names, before anything is bound.

    A host other than loopback is refused unless ``--allow-remote`` is given: the demo's
    credentials are printed everywhere, so the server must not be reachable by accident.
    """
    from ..client import is_loopback_host

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if not 0.0 <= args.fault_rate <= 1.0:
        raise ValueError(f"--fault-rate must be between 0 and 1, got {args.fault_rate}")
    if args.latency_ms < 0:
        raise ValueError(f"--latency-ms cannot be negative, got {args.latency_ms}")
    if args.retry_after < 0:
        raise ValueError(f"--retry-after cannot be negative, got {args.retry_after}")
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise ValueError(f"--host {args.host} is not a loopback address: the demo would be reachable "
                         "from other machines with its public credentials; add --allow-remote to "
                         "mean it, or drop --host (default 127.0.0.1)")


def run_demo_server(args: argparse.Namespace) -> int:
    """Start the server, print its URL first, and serve until SIGINT or SIGTERM."""
    from ..client import is_loopback_host
    from .server import ALL_FAULTS, DemoServer, Faults, PortInUseError

    check_args(args)
    kinds = args.faults if args.faults is not None else ALL_FAULTS
    faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.seed,
                    retry_after=args.retry_after)
    server = DemoServer(models=args.models, seed=args.seed, latency_ms=args.latency_ms,
                        faults=faults, drift=args.drift, api_key=args.api_key,
                        api_secret=args.api_secret, host=args.host, port=args.port)
    try:
        server.start()
    except PortInUseError as exc:
        raise ValueError(f"{exc.strerror}: choose another --port, or --port 0 for a free one") from None
    if not is_loopback_host(args.host):
        log.warning("serving on %s, beyond loopback: anyone who can reach it can list the demo with "
                    "its credentials", args.host)
    print(server.base_url, flush=True)
    print(f"catalog: {server.privacy_split().describe()} (seed {server.seed})")
    print(f"credentials: {server.credentials_note()}", flush=True)
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
