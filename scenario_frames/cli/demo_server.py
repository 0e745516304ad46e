"""``scenario-frames demo-server``: run the demo Scenario API until interrupted.

The first line on stdout is the base URL (flushed at once), so scripts and tests can start
the command and read where to point their client.  The next lines say what is served: the
catalog's public/private split and which credentials list which part.  The arguments are
declared without importing ``scenario_frames.demo`` (whose import builds the generator and the
server): the demo loads only when ``--faults`` is parsed or the command runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .common import DEMO_CREDENTIALS, DEMO_MODELS, MAX_DEMO_MODELS, demo_models

log = logging.getLogger(__name__)


def _kinds(text: str) -> tuple[str, ...]:
    """``--faults``: comma separated fault kinds, each one the server knows."""
    from ..demo.server import ALL_FAULTS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ALL_FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault kind(s) {', '.join(unknown)}; choose among {', '.join(ALL_FAULTS)}"
        )
    return kinds


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad flags with their names, before anything is bound.

    A host other than loopback is refused unless ``--allow-remote`` is given: the demo's
    credentials are printed everywhere, so the server must not be reachable by accident.
    """
    from ..transport.client import is_loopback_host

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if not 0.0 <= args.fault_rate <= 1.0:
        raise ValueError(f"--fault-rate must be between 0 and 1, got {args.fault_rate}")
    if args.latency_ms < 0:
        raise ValueError(f"--latency-ms cannot be negative, got {args.latency_ms}")
    if args.retry_after < 0:
        raise ValueError(f"--retry-after cannot be negative, got {args.retry_after}")
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise ValueError(
            f"--host {args.host} is not a loopback address: the demo would be reachable "
            "from other machines with its public credentials; add --allow-remote to "
            "mean it, or drop --host (default 127.0.0.1)"
        )


def run_demo_server(args: argparse.Namespace) -> int:
    """Start the server, print its URL first, and serve until SIGINT or SIGTERM."""
    from ..demo.server import ALL_FAULTS, DemoServer, Faults
    from ..errors import PortInUseError
    from ..transport.client import is_loopback_host

    check_args(args)
    kinds = args.faults if args.faults is not None else ALL_FAULTS
    faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.seed, retry_after=args.retry_after)
    server = DemoServer(
        models=args.models,
        seed=args.seed,
        latency_ms=args.latency_ms,
        faults=faults,
        drift=args.drift,
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
    )
    try:
        server.start()
    except PortInUseError as exc:
        raise ValueError(
            f"{exc.strerror}: choose another --port, or --port 0 for a free one"
        ) from None
    if not is_loopback_host(args.host):
        log.warning(
            "serving on %s, beyond loopback: anyone who can reach it can list the demo with "
            "its credentials",
            args.host,
        )
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


def register_demo_server(subs: argparse._SubParsersAction) -> None:
    """Add the ``demo-server`` subcommand."""
    p = subs.add_parser(
        "demo-server",
        help="run the embedded demo Scenario API on loopback",
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
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); an address other than loopback "
        "needs --allow-remote, since the demo credentials are public",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be a non-loopback address (e.g. 0.0.0.0: every interface)",
    )
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    p.add_argument(
        "--models",
        type=demo_models,
        default=DEMO_MODELS,
        help=f"catalog size, all privacies together (default {DEMO_MODELS:,}; "
        f"up to {MAX_DEMO_MODELS:,})",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the catalog and of the faults (default 0)"
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests that get a fault, 0..1 (default 0)",
    )
    p.add_argument(
        "--faults",
        type=_kinds,
        default=None,
        metavar="KINDS",
        help="comma separated fault kinds (default: all of them: 429-seconds, "
        "429-date, 500, 502, 503, 504, reset, truncated, slow-body)",
    )
    p.add_argument(
        "--retry-after", type=float, default=1.0, help="seconds announced by 429 answers"
    )
    p.add_argument(
        "--drift",
        action="store_true",
        help="add fields and enum values the reference does not list to some models",
    )
    p.add_argument(
        "--api-key", default="demo", help="API key accepted for HTTP Basic auth (default demo)"
    )
    p.add_argument(
        "--api-secret",
        default="demo",
        help="API secret accepted for HTTP Basic auth (default demo)",
    )
    p.set_defaults(run=run_demo_server)
