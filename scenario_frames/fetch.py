"""Entry points of the fetcher: a whole ``GET /models`` listing as pages, or as a Catalog.

``fetch_pages`` lists a query with a given client (parallel and resumable, see ``pages``);
``fetch_catalog`` builds the client from arguments or the environment and fetches, turning
each page into partial tables (``frames.CatalogBuilder``) as soon as it lands, while the
other requests are still in flight: the tables are ready moments after the last page.
``add_fetch_arguments`` gives every CLI command the same flags for the query and the
transport; ``query_from_args`` / ``client_from_args`` / ``fetch_from_args`` read them back.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .client import ScenarioClient
from .pages import DEFAULT_PAGE_SIZE, PageKey, PageSink, list_pages
from .query import API_NAMES, BOOL_PARAMS, ModelQuery

if TYPE_CHECKING:  # frames is downstream of us at run time only
    from .frames import Catalog

log = logging.getLogger(__name__)

# The listing is bound by round trips, not by our CPU: 8 concurrent requests (the top of the
# 4..8 range the fetcher promises) need the fewest rounds (see bench/results/fetch.md).
DEFAULT_WORKERS = 8
# Threads turning pages into tables during a fetch_catalog (they share the GIL with the
# fetch workers; Arrow's reader and polars do most of their work without it).
BUILD_THREADS = 2
QUERY_KWARGS = tuple(k for k in API_NAMES if k != "pagination_token")


@dataclass(frozen=True)
class FetchStats:
    """What a fetch cost: HTTP requests (retries and probes included), pages kept, time."""

    requests: int
    retries: int
    pages: int
    models: int
    duration_s: float
    partitioned: bool
    workers: int
    duplicates: int = 0
    partitions: int = 1
    mode_reason: str = ""


@dataclass(frozen=True)
class FetchResult:
    """Raw page bodies (each model exactly once across them) and the fetch's statistics.

    ``keys`` gives each page's place in the listing (``pages.PageKey``), as a ``sink`` saw it.
    """

    pages: list[bytes]
    stats: FetchStats
    keys: tuple[PageKey, ...] = ()


def _as_query(query: ModelQuery | Mapping[str, Any] | None) -> ModelQuery:
    if isinstance(query, ModelQuery):
        return query
    return ModelQuery.build(**dict(query or {}))


def fetch_pages(
    query: ModelQuery | Mapping[str, Any] | None,
    *,
    client: ScenarioClient,
    workers: int = DEFAULT_WORKERS,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    page_size: int = DEFAULT_PAGE_SIZE,
    sink: PageSink | None = None,
) -> FetchResult:
    """Every page of one listing, fetched by up to ``workers`` concurrent requests.

    ``query`` is a ``ModelQuery`` or its snake_case keyword arguments (validated before any
    request).  ``page_size`` applies unless the query sets one.  ``checkpoint`` names a
    folder that makes the fetch resumable after a crash.  ``sink(key, body)`` previews each
    page as it arrives (see ``pages.list_pages``).
    """
    q = _as_query(query)
    if workers < 1:
        raise ValueError("workers must be at least 1")
    before = client.stats()
    started = time.monotonic()
    listing = list_pages(
        client, q, workers=workers, page_size=page_size, checkpoint=checkpoint, progress=progress,
        sink=sink,
    )
    after = client.stats()
    stats = FetchStats(
        requests=after["requests"] - before["requests"],
        retries=after["retries"] - before["retries"],
        pages=len(listing.pages),
        models=listing.models,
        duration_s=time.monotonic() - started,
        partitioned=listing.partitioned,
        workers=workers if listing.partitioned else 1,
        duplicates=listing.duplicates,
        partitions=listing.partitions,
        mode_reason=listing.reason,
    )
    log.info(
        "fetched %d models in %d pages with %d requests (%d retries) in %.2f s (%s)",
        stats.models, stats.pages, stats.requests, stats.retries, stats.duration_s,
        f"{stats.partitions} windows, {stats.workers} workers" if stats.partitioned else "sequential",
    )  # fmt: skip
    return FetchResult(listing.pages, stats, tuple(listing.keys))


def fetch_catalog(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    workers: int = DEFAULT_WORKERS,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    client: ScenarioClient | None = None,
    **query: Any,
) -> Catalog:
    """Fetch a listing and return it as a typed ``Catalog`` (``frames``).

    ``query`` takes the snake_case parameters of ``GET /models``.  Without ``privacy`` the
    listing is public when no credentials were found, private otherwise.
    """
    from .frames import CatalogBuilder, CatalogMeta

    own = client is None
    if client is None:
        client = ScenarioClient(base_url, api_key, api_secret, pool_size=max(workers + 2, 4))
    builder = CatalogBuilder(threads=BUILD_THREADS)
    seen: dict[PageKey, bytes] = {}  # what the builder was given while the pages arrived

    def sink(key: PageKey, body: bytes) -> None:
        seen[key] = body
        builder.add_page(body, key)

    try:
        if query.get("privacy") is None:
            query["privacy"] = client.default_privacy
        q = ModelQuery.build(**query)
        fetched_at = datetime.now(UTC)
        result = fetch_pages(q, client=client, workers=workers, checkpoint=checkpoint,
                             progress=progress, sink=sink)  # fmt: skip
        # The builder must hold exactly the final pages: add those it never saw (restored from
        # a checkpoint) or saw in another form (rewritten to drop repeated models), and drop
        # any it saw that did not make it into the listing.
        final = dict(zip(result.keys, result.pages, strict=True))
        for key, body in final.items():
            if seen.get(key) is not body:
                builder.add_page(body, key)
        for key in seen.keys() - final.keys():
            builder.discard(key)
        seen.clear()
    except BaseException:
        builder.close()
        raise
    finally:
        if own:
            client.close()
    s = result.stats
    meta = CatalogMeta(
        fetched_at=fetched_at,
        query=q.describe(),
        base_url=client.base_url,
        pages=s.pages,
        requests=s.requests,
        retries=s.retries,
        duration_s=s.duration_s,
        duplicates=s.duplicates,
        incremental_from=None,
    )
    del result, final
    return builder.finish(meta)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


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


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the transport flags and one flag per ``GET /models`` query parameter.

    Credentials are deliberately not flags (command lines end up in shell history and
    process lists): set SCENARIO_API_KEY and SCENARIO_API_SECRET in the environment.
    """
    net = parser.add_argument_group("connection (credentials: SCENARIO_API_KEY / SCENARIO_API_SECRET)")
    net.add_argument("--base-url", help="API base URL (default: $SCENARIO_BASE_URL or the real service)")
    net.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                     help=f"concurrent requests for one listing (default {DEFAULT_WORKERS})")  # fmt: skip
    net.add_argument("--checkpoint", metavar="DIR",
                     help="folder keeping pages as they arrive; rerun the same command to resume")  # fmt: skip
    net.add_argument("--no-progress", action="store_true", help="no progress bar")
    net.add_argument("--max-attempts", type=int, default=8, help="attempts per request (default 8)")
    net.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                     help="give up on a request after this long, retries included")  # fmt: skip

    q = parser.add_argument_group("query (GET /models parameters)")
    for name in QUERY_KWARGS:
        kind: dict[str, Any] = {}
        if API_NAMES[name] in BOOL_PARAMS:
            kind = {"action": argparse.BooleanOptionalAction}
        elif name == "privacy":
            kind = {"choices": ("public", "private")}
        elif name == "page_size":
            kind = {"type": int}
        q.add_argument("--" + name.replace("_", "-"), help=_QUERY_FLAG_HELP[name], **kind)


def query_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The snake_case query keyword arguments given on the command line."""
    return {k: getattr(args, k) for k in QUERY_KWARGS if getattr(args, k, None) is not None}


def client_from_args(args: argparse.Namespace) -> ScenarioClient:
    """A client configured from the connection flags and the environment."""
    workers = getattr(args, "workers", DEFAULT_WORKERS) or DEFAULT_WORKERS
    return ScenarioClient(
        getattr(args, "base_url", None),
        max_attempts=getattr(args, "max_attempts", 8) or 8,
        deadline=getattr(args, "deadline", None),
        pool_size=max(workers + 2, 4),
    )


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
