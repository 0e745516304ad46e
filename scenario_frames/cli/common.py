"""What every ``scenario-frames`` command that fetches shares: flags, their checks, the demo's size.

The flags come in groups, each declared once here and read back here, so each subcommand
module only adds what is its own and picks the groups it uses:

* transport (``add_transport_arguments``): base URL, progress, attempts, deadline, the
  Retry-After and page-body bounds; every command that talks to the API takes them;
* listing (``add_listing_arguments``): workers and checkpoint, for commands that page
  through ``GET /models``;
* query (``add_query_arguments``): one flag per ``GET /models`` parameter, likewise.

Nothing heavy is imported at module level: building the parser must stay quick.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from ..fetch import DEFAULT_WORKERS, QUERY_KWARGS, fetch_catalog
from ..listing.paginate import DEFAULT_PAGE_SIZE
from ..listing.query import API_NAMES, BOOL_PARAMS
from ..transport.client import DEFAULT_MAX_PAGE_BYTES, DEFAULT_MAX_RETRY_AFTER, ScenarioClient

if TYPE_CHECKING:
    from ..tables.catalog import Catalog

# The demo generator's own bound (``DemoCatalog`` refuses more); a test keeps them equal.
MAX_DEMO_MODELS = 10_000_000
DEMO_MODELS = 2000  # demo.DEMO_MODELS, repeated so the parser does not import the demo
DEMO_CREDENTIALS = "demo/demo"


def demo_models(text: str) -> int:
    """``--models``/``--demo-models``: a catalog size the demo generator accepts."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of models, got {text!r}"
        ) from None
    if not 0 <= n <= MAX_DEMO_MODELS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DEMO_MODELS:,}, got {n:,}")
    return n


def seconds(*, zero: bool) -> Any:
    """An argparse type: a finite number of seconds, above 0 (or from 0 when ``zero``)."""
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, {'0 or more' if zero else 'above 0'}, got {text!r}"
            )
        return value

    return parse


CREDENTIAL_VARS = (
    "SCENARIO_API_KEY",
    "SCENARIO_API_SECRET",
    "SCENARIO_SDK_API_KEY",
    "SCENARIO_SDK_API_SECRET",
)


def has_credentials() -> bool:
    """True when the environment holds an API key pair (the CLI's default privacy is then private)."""
    return any(os.environ.get(name) for name in CREDENTIAL_VARS)


def check_base_url(url: str | None) -> None:
    """Refuse an unusable ``--base-url`` (plain http beyond loopback, other schemes) by its flag."""
    if not url:
        return
    from ..transport.client import check_url

    try:
        check_url(url)
    except ValueError as exc:
        raise ValueError(f"--base-url: {exc}") from None


def check_checkpoint(folder: str | None) -> None:
    """Refuse an unusable ``--checkpoint`` (a file, a missing parent, no write access) by its flag."""
    if not folder:
        return
    from pathlib import Path

    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--checkpoint {path}: it exists and is not a folder; pass a folder")
    where = path if path.exists() else path.absolute().parent
    if not where.is_dir():
        raise ValueError(
            f"--checkpoint {path}: its parent folder {where} does not exist; create it first"
        )
    if not os.access(where, os.W_OK | os.X_OK):
        raise ValueError(f"--checkpoint {path}: {where} is not writable")


# One flag per query keyword (``--sort-by`` for ``sort_by``, ...), in the reference's order.
_QUERY_FLAG_HELP: dict[str, str] = {
    "privacy": "public or private models (default: public without credentials, else private)",
    "status": "private only: new, training, trained, failed, deleted",
    "type": "public only: one model type (not with --types)",
    "types": "public only: comma-separated model types",
    "tags": "public only: comma-separated tags",
    "collection_id": "private only: one collection id",
    "collection_ids": "public only: comma-separated collection ids",
    "created_after": "ISO date, exclusive (needs --sort-by createdAt)",
    "created_before": "ISO date, exclusive (needs --sort-by createdAt)",
    "updated_after": "ISO date, exclusive (public, --sort-by updatedAt)",
    "updated_before": "ISO date, exclusive (public, --sort-by updatedAt)",
    "sort_by": "createdAt, updatedAt or score",
    "sort_direction": "asc or desc",
    "blacklisted": "include blacklisted models (team admins)",
    "loaded_only": "only models currently loaded on GPU",
    "original_assets": "original assets without transformation",
    "page_size": f"models per page, 1..500 (default {DEFAULT_PAGE_SIZE})",
}


TRANSPORT_GROUP_TITLE = "connection (credentials: SCENARIO_API_KEY / SCENARIO_API_SECRET)"
QUERY_GROUP_TITLE = "query (GET /models parameters)"


def add_transport_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the transport flags every command that talks to the API takes, as one group.

    ``--base-url``, ``--no-progress``, ``--max-attempts``, ``--deadline``,
    ``--max-retry-after`` and ``--max-page-bytes``: declared here only, so their names, defaults
    and help read the same on every command, and ``client_from_args`` reads them back.
    Credentials are deliberately not flags (command lines end up in shell history and process
    lists): the group's title names the environment variables instead.  Returns the group, so
    a command that lists models can add the listing flags to it (``add_listing_arguments``).
    """
    net = parser.add_argument_group(TRANSPORT_GROUP_TITLE)
    net.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default: $SCENARIO_BASE_URL or the real service)",
    )
    net.add_argument("--no-progress", action="store_true", help="no progress bar")
    net.add_argument("--max-attempts", type=int, default=8, help="attempts per request (default 8)")
    net.add_argument(
        "--deadline",
        type=seconds(zero=False),
        default=None,
        metavar="SECONDS",
        help="give up on a request after this long, retries and body included",
    )
    net.add_argument(
        "--max-retry-after",
        type=seconds(zero=True),
        default=DEFAULT_MAX_RETRY_AFTER,
        metavar="SECONDS",
        help="longest Retry-After to wait for; a server asking more fails the request "
        f"(default {DEFAULT_MAX_RETRY_AFTER:g}, the official SDK's ceiling)",
    )
    net.add_argument(
        "--max-page-bytes",
        type=int,
        default=DEFAULT_MAX_PAGE_BYTES,
        metavar="BYTES",
        help=f"largest page body read, decoded (default {DEFAULT_MAX_PAGE_BYTES:,})",
    )
    return net


def add_listing_arguments(group: argparse._ArgumentGroup) -> None:
    """Add the flags of a model listing (``--workers``, ``--checkpoint``) to the transport group.

    Only a command that pages through ``GET /models`` takes them: they say how many pages
    of one listing are in flight and where those pages are kept for a resume.
    """
    group.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"concurrent requests for one listing (default {DEFAULT_WORKERS})",
    )
    group.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="folder keeping pages as they arrive; rerun the same command to resume",
    )


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per ``GET /models`` query parameter (``--sort-by`` for ``sort_by``...)."""
    q = parser.add_argument_group(QUERY_GROUP_TITLE)
    for name in QUERY_KWARGS:
        kind: dict[str, Any] = {}
        if API_NAMES[name] in BOOL_PARAMS:
            kind = {"action": argparse.BooleanOptionalAction}
        elif name == "privacy":
            kind = {"choices": ("public", "private")}
        elif name == "page_size":
            kind = {"type": int}
        q.add_argument("--" + name.replace("_", "-"), help=_QUERY_FLAG_HELP[name], **kind)


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of a command that lists models: transport, listing and query groups."""
    add_listing_arguments(add_transport_arguments(parser))
    add_query_arguments(parser)


def check_transport_flags(args: argparse.Namespace) -> None:
    """Refuse unusable transport flags by their names, before any server starts or request."""
    check_base_url(args.base_url)
    if args.max_attempts is not None and args.max_attempts < 1:
        raise ValueError(f"--max-attempts must be at least 1, got {args.max_attempts}")
    client_limits_from_args(args)  # --max-retry-after and --max-page-bytes


def query_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The snake_case query keyword arguments given on the command line."""
    return {k: getattr(args, k) for k in QUERY_KWARGS if getattr(args, k, None) is not None}


def client_from_args(
    args: argparse.Namespace,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> ScenarioClient:
    """A client configured from the transport flags and the environment.

    ``base_url`` and the key pair, when given, replace ``--base-url`` and the environment's
    credentials (the embedded demo passes its own, so real credentials never reach it); every
    other transport flag applies either way.
    """
    workers = getattr(args, "workers", DEFAULT_WORKERS) or DEFAULT_WORKERS
    return ScenarioClient(
        base_url if base_url is not None else getattr(args, "base_url", None),
        api_key,
        api_secret,
        max_attempts=getattr(args, "max_attempts", 8) or 8,
        deadline=getattr(args, "deadline", None),
        pool_size=max(workers + 2, 4),
        **client_limits_from_args(args),
    )


def client_limits_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The wait and body bounds given on the command line, as ``ScenarioClient`` keywords."""
    out: dict[str, Any] = {}
    if getattr(args, "max_retry_after", None) is not None:
        if args.max_retry_after < 0:
            raise ValueError("--max-retry-after must be 0 or more seconds")
        out["max_retry_after"] = args.max_retry_after
    if getattr(args, "max_page_bytes", None) is not None:
        if args.max_page_bytes < 1:
            raise ValueError("--max-page-bytes must be at least 1")
        out["max_page_bytes"] = args.max_page_bytes
    return out


def fetch_from_args(args: argparse.Namespace) -> Catalog:
    """Run ``fetch_catalog`` with the flags of ``add_fetch_arguments`` and a client built from them."""
    client = client_from_args(args)
    try:
        return fetch_catalog(
            client=client,
            workers=args.workers,
            checkpoint=args.checkpoint,
            progress=not args.no_progress,
            **query_from_args(args),
        )
    finally:
        client.close()
