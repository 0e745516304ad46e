"""Entry points of the fetcher: a whole ``GET /models`` listing as pages, or as a Catalog.

``fetch_pages`` lists a query with a given client (parallel and resumable, see ``listing.partition``);
``fetch_catalog`` builds the client from arguments or the environment and fetches, turning
each page into partial tables (``tables.builder.CatalogBuilder``) as soon as it lands, while the
other requests are still in flight: the tables are ready moments after the last page.
This module is the one place a listing meets the tables: ``listing`` and ``transport`` below
never see a table, and ``tables`` never sees a request.  (The command-line flags that feed it
are in ``cli.common``.)

What a fetch cost is one type, ``fetch_stats.FetchStats``: the listing measures it
(``listing.partition.Listing.stats``), ``fetch_catalog_pages`` hands all of it to the
catalog's ``CatalogMeta`` (which extends it), and the table builder adds its own counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .listing.paginate import DEFAULT_PAGE_SIZE
from .listing.partition import Listing, PageKey, PageSink, list_pages
from .listing.query import API_NAMES, ModelQuery
from .schema import QueryPrivacy, QuerySortBy, QuerySortDirection, QueryStatus
from .transport.client import ScenarioClient

if TYPE_CHECKING:  # frames is downstream of us at run time only
    from .tables.catalog import Catalog

log = logging.getLogger(__name__)

# The listing is bound by round trips, not by our CPU: 8 concurrent requests (the top of the
# 4..8 range the fetcher promises) need the fewest rounds (see bench/results/fetch.md).
DEFAULT_WORKERS = 8
# Threads turning pages into tables during a fetch_catalog (they share the GIL with the
# fetch workers; Arrow's reader and polars do most of their work without it).
BUILD_THREADS = 2
QUERY_KWARGS = tuple(k for k in API_NAMES if k != "pagination_token")


def _query_kwargs(arguments: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The query keywords a caller set (``None`` means unset), taken from a function's arguments.

    The public entry points spell out one keyword per query parameter so that type checkers
    and IDEs know them; this picks them up again (call it with ``locals()`` first thing) and
    hands them to ``ModelQuery.build``, the one place their rules are checked.
    """
    return {k: arguments[k] for k in QUERY_KWARGS if k not in skip and arguments.get(k) is not None}


def _as_query(query: ModelQuery | Mapping[str, Any] | None) -> ModelQuery:
    if isinstance(query, ModelQuery):
        return query
    return ModelQuery.build(**dict(query or {}))


def fetch_pages(
    query: ModelQuery | Mapping[str, Any] | None = None,
    *,
    client: ScenarioClient,
    workers: int = DEFAULT_WORKERS,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    page_size: int = DEFAULT_PAGE_SIZE,
    sink: PageSink | None = None,
    privacy: QueryPrivacy | None = None,
    status: QueryStatus | None = None,
    type: str | None = None,
    types: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    collection_id: str | None = None,
    collection_ids: str | Sequence[str] | None = None,
    created_after: str | date | datetime | None = None,
    created_before: str | date | datetime | None = None,
    updated_after: str | date | datetime | None = None,
    updated_before: str | date | datetime | None = None,
    sort_by: QuerySortBy | None = None,
    sort_direction: QuerySortDirection | None = None,
    blacklisted: bool | None = None,
    loaded_only: bool | None = None,
    original_assets: bool | None = None,
) -> Listing:
    """Fetch every page of one ``GET /models`` listing, as the server sent them.

    The listing is cut into ``createdAt`` windows that up to ``workers`` concurrent requests
    page through (see ``listing.partition``); the bodies are returned unparsed, so callers
    that want the raw JSON (to archive it, or to build tables their own way) get exactly what
    the server sent.  Use :func:`fetch_catalog` to get typed tables instead.

    Parameters
    ----------
    query : ModelQuery or mapping, optional
        The listing's query: a ``ModelQuery`` or its snake_case keyword arguments as a
        mapping, validated before any request.  Leave it out to pass the query as keyword
        arguments instead (``privacy="public", sort_by="createdAt"``); giving both at once
        raises ``TypeError``.
    client : ScenarioClient
        The client that sends the requests (base URL, credentials, retries).
    workers : int, default 8
        The most requests in flight at once; at least 1.
    checkpoint : str or os.PathLike, optional
        A folder that makes the fetch resumable: after a crash, a second call with the same
        folder and query fetches only what is missing.
    progress : bool, default True
        Show a progress bar (a terminal or Jupyter) or log lines (elsewhere).
    page_size : int, default 500
        Records per page, used unless the query sets its own ``page_size``.
    sink : callable, optional
        ``sink(key, body)`` previews each page as soon as it arrives, while the rest is still
        on the way (see ``listing.partition.list_pages``).
    privacy, status, type, types, tags, collection_id, collection_ids : optional
        Query parameters of ``GET /models`` in snake_case (unset ones are not sent); lists
        may be given as sequences or comma-separated text.
    created_after, created_before, updated_after, updated_before : str, date or datetime, optional
        Time bounds of the query, sent as UTC ISO 8601 text.
    sort_by, sort_direction, blacklisted, loaded_only, original_assets : optional
        The remaining query parameters of ``GET /models``.

    Returns
    -------
    Listing
        ``pages`` (the raw bodies, in listing order), ``keys`` (each page's place in the
        listing, ``PageKey``), ``stats`` (``FetchStats``: requests, retries, pages, records,
        time) and ``started_at`` (with a checkpoint: when its fetch began, perhaps in an
        earlier run).

    Raises
    ------
    QueryError
        The query breaks one of the documented rules (raised before any request).
    TypeError
        The query was given both as ``query=`` and as keyword arguments.
    ValueError
        ``workers`` is below 1.
    ScenarioAPIError
        The API refused a request for good (after the client's retries), or the pagination
        went wrong (``PaginationError``).

    See Also
    --------
    fetch_catalog : The same listing as typed polars tables.

    Examples
    --------
    Start the embedded demo API on a free loopback port and fetch its public models (the
    examples pass the demo's key pair, so that no key pair set in the environment is used):

    >>> from scenario_frames import ScenarioClient, fetch_pages, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     with ScenarioClient(demo.base_url, "demo", "demo") as client:
    ...         result = fetch_pages(client=client, privacy="public", progress=False)
    >>> result.stats.pages, result.stats.models
    (1, 26)
    >>> result.pages[0][:12]
    b'{"models":[{'
    """
    # page_size is fetch_pages's own (the size used unless the query sets one), never a query's
    keywords = _query_kwargs(locals(), skip=("page_size",))
    if keywords and query is not None:
        raise TypeError(
            "fetch_pages takes the query either as query= or as keyword arguments, "
            f"not both (got query= and {', '.join(keywords)}=)"
        )
    q = _as_query(query if query is not None else keywords)
    if workers < 1:
        raise ValueError("workers must be at least 1")
    listing = list_pages(
        client,
        q,
        workers=workers,
        page_size=page_size,
        checkpoint=checkpoint,
        progress=progress,
        sink=sink,
    )
    stats = listing.stats
    log.info(
        "fetched %d records in %d pages with %d requests (%d retries) in %.2f s (%s)",
        stats.models,
        stats.pages,
        stats.requests,
        stats.retries,
        stats.duration_s,
        f"{stats.partitions} windows, {stats.workers} workers"
        if stats.partitioned
        else "sequential",
    )
    return listing


def fetch_catalog(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    workers: int = DEFAULT_WORKERS,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    client: ScenarioClient | None = None,
    max_retry_after: float | None = None,
    max_page_bytes: int | None = None,
    privacy: QueryPrivacy | None = None,
    status: QueryStatus | None = None,
    type: str | None = None,
    types: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    collection_id: str | None = None,
    collection_ids: str | Sequence[str] | None = None,
    created_after: str | date | datetime | None = None,
    created_before: str | date | datetime | None = None,
    updated_after: str | date | datetime | None = None,
    updated_before: str | date | datetime | None = None,
    sort_by: QuerySortBy | None = None,
    sort_direction: QuerySortDirection | None = None,
    blacklisted: bool | None = None,
    loaded_only: bool | None = None,
    original_assets: bool | None = None,
    page_size: int | None = None,
) -> Catalog:
    """Fetch a ``GET /models`` listing and return it as a typed ``Catalog``.

    Builds a client from the arguments (or the environment), lists the query in parallel
    and turns each page into partial tables as soon as it lands, while the other requests
    are still in flight: the tables are ready moments after the last page.  This is the
    usual way into the toolkit; the ``Catalog`` it returns is what snapshots, diffs, usage
    joins and the notebook panel work with.

    Parameters
    ----------
    base_url : str, optional
        The API's base URL; default ``SCENARIO_BASE_URL``, else the real service.
    api_key, api_secret : str, optional
        The key pair (HTTP Basic); default ``SCENARIO_API_KEY``/``SCENARIO_API_SECRET``, else
        ``SCENARIO_SDK_API_KEY``/``SCENARIO_SDK_API_SECRET``.  With none, public access.
    workers : int, default 8
        The most requests in flight at once.
    checkpoint : str or os.PathLike, optional
        A folder that makes the fetch resumable after a crash.  With a checkpoint,
        ``meta.fetched_at`` is when the checkpoint's fetch began, so pages resumed or reused
        from it never pass for newer than they are.
    progress : bool, default True
        Show a progress bar (a terminal or Jupyter) or log lines (elsewhere).
    client : ScenarioClient, optional
        A client to use instead of building one (then ``base_url``, the key pair and the
        limits below are its own).
    max_retry_after : float, optional
        The longest ``Retry-After`` wait, in seconds, of the client built here (see
        ``ScenarioClient``).
    max_page_bytes : int, optional
        The largest decoded page body the client built here accepts (see
        ``ScenarioClient``).
    privacy, status, type, types, tags, collection_id, collection_ids : optional
        Query parameters of ``GET /models`` in snake_case (unset ones are not sent), checked
        by ``listing.query.ModelQuery`` before any request.  Without ``privacy`` the listing
        is public when no credentials were found, private otherwise.
    created_after, created_before, updated_after, updated_before : str, date or datetime, optional
        Time bounds of the query, sent as UTC ISO 8601 text.
    sort_by, sort_direction, blacklisted, loaded_only, original_assets, page_size : optional
        The remaining query parameters of ``GET /models``.

    Returns
    -------
    Catalog
        The typed tables (``models``, its child tables keyed by ``model_id``, ``rejects``)
        with ``meta`` saying when, from where and with which query they were fetched.

    Raises
    ------
    QueryError
        The query breaks one of the documented rules (raised before any request).
    ValueError
        ``max_retry_after`` or ``max_page_bytes`` were combined with ``client=`` (set them on
        that client instead).
    ScenarioAPIError
        The API refused a request for good (after the client's retries), or the pagination
        went wrong (``PaginationError``).

    See Also
    --------
    fetch_pages : The raw page bodies of a listing.
    write_snapshot : Keep a catalog on disk as parquet.

    Examples
    --------
    Start the embedded demo API on a free loopback port and list its private and unlisted
    models with the demo's key pair:

    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     catalog = fetch_catalog(
    ...         base_url=demo.base_url, api_key="demo", api_secret="demo", progress=False
    ...     )
    >>> catalog.counts["models"], catalog.counts["variants"]
    (14, 37)
    >>> sorted(catalog.models["privacy"].unique())
    ['private', 'unlisted']
    >>> catalog.meta.query
    {'privacy': 'private'}
    """
    return fetch_catalog_pages(
        base_url=base_url,
        api_key=api_key,
        api_secret=api_secret,
        workers=workers,
        checkpoint=checkpoint,
        progress=progress,
        client=client,
        max_retry_after=max_retry_after,
        max_page_bytes=max_page_bytes,
        **_query_kwargs(locals()),
    )[0]


def fetch_catalog_pages(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    workers: int = DEFAULT_WORKERS,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    client: ScenarioClient | None = None,
    max_retry_after: float | None = None,
    max_page_bytes: int | None = None,
    privacy: QueryPrivacy | None = None,
    status: QueryStatus | None = None,
    type: str | None = None,
    types: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    collection_id: str | None = None,
    collection_ids: str | Sequence[str] | None = None,
    created_after: str | date | datetime | None = None,
    created_before: str | date | datetime | None = None,
    updated_after: str | date | datetime | None = None,
    updated_before: str | date | datetime | None = None,
    sort_by: QuerySortBy | None = None,
    sort_direction: QuerySortDirection | None = None,
    blacklisted: bool | None = None,
    loaded_only: bool | None = None,
    original_assets: bool | None = None,
    page_size: int | None = None,
) -> tuple[Catalog, Listing]:
    """Fetch a listing as a ``Catalog`` and also return the raw pages it was built from.

    The snapshot command keeps the pages until its snapshot is written, so a failed write
    can save them as a checkpoint instead of losing them.

    Parameters
    ----------
    base_url, api_key, api_secret, workers, checkpoint, progress, client : optional
        As in :func:`fetch_catalog`.
    max_retry_after, max_page_bytes : optional
        As in :func:`fetch_catalog`.
    privacy, status, type, types, tags, collection_id, collection_ids : optional
        As in :func:`fetch_catalog`.
    created_after, created_before, updated_after, updated_before : optional
        As in :func:`fetch_catalog`.
    sort_by, sort_direction, blacklisted, loaded_only, original_assets, page_size : optional
        As in :func:`fetch_catalog`.

    Returns
    -------
    tuple of (Catalog, Listing)
        The catalog, and the pages and statistics of the fetch.

    Raises
    ------
    QueryError, ValueError, ScenarioAPIError
        As :func:`fetch_catalog`.

    Examples
    --------
    >>> from scenario_frames import serve_demo
    >>> from scenario_frames.fetch import fetch_catalog_pages
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog, result = fetch_catalog_pages(**account, privacy="public", progress=False)
    >>> catalog.counts["models"], len(result.pages)
    (26, 1)
    """
    query = _query_kwargs(locals())
    from .tables.builder import CatalogBuilder
    from .tables.catalog import CatalogMeta

    own = client is None
    if client is None:
        limits: dict[str, Any] = {}
        if max_retry_after is not None:
            limits["max_retry_after"] = max_retry_after
        if max_page_bytes is not None:
            limits["max_page_bytes"] = max_page_bytes
        client = ScenarioClient(
            base_url, api_key, api_secret, pool_size=max(workers + 2, 4), **limits
        )
    elif max_retry_after is not None or max_page_bytes is not None:
        raise ValueError(
            "max_retry_after and max_page_bytes configure a new client: set them on the "
            "ScenarioClient passed as client= instead"
        )
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
        result = fetch_pages(
            q, client=client, workers=workers, checkpoint=checkpoint, progress=progress, sink=sink
        )
        # The builder must hold exactly the final pages: add those it never saw (restored from
        # a checkpoint, or refetched under a key it saw before), and drop any it saw that did
        # not make it into the listing.
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
    # The listing's figures as they are; the builder fills in its own counts (``DECODED``).
    meta = CatalogMeta(
        **result.stats.stats_fields(),
        fetched_at=result.started_at or fetched_at,
        query=q.describe(),
        base_url=client.base_url,
    )
    del final
    return builder.finish(meta), result
