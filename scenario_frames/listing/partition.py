"""A whole listing, cut into createdAt windows that several workers page through at once.

``list_pages`` runs a whole listing.  When the query allows it, the listing is cut into
createdAt windows fetched by several workers at once.  A model's createdAt never changes, so
a window's content is stable while the catalog changes elsewhere.  Windows are half-open
intervals of milliseconds ``[start, stop)``: the API's bounds are exclusive, so a window is
asked for as ``createdAfter=start-1ms&createdBefore=stop``, and a model sitting exactly on a
cut belongs to exactly one window.  (With sub-millisecond timestamps a model could land in
two windows; pages are never rewritten to drop such doubles here: the table builder,
``tables.builder.CatalogBuilder``, is the one place that de-duplicates, and counts.)

Windows split adaptively: when a worker runs out of work, it halves the window with the most
pages left, between that window's current position and its end; the running worker drops
whatever it receives past the cut.  Each window pages with ``paginate.iter_pages`` and keeps
its progress in ``checkpoint``; every kept page is handed to a ``PageSink`` as it lands.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ..errors import BadRequestError
from ..fetch_stats import FetchStats
from ..transport.client import ScenarioClient
from .checkpoint import Checkpoint, Partition, fingerprint
from .paginate import (
    DEFAULT_PAGE_CAP,
    DEFAULT_PAGE_SIZE,
    MODELS_PATH,
    Page,
    _make_bar,
    iter_pages,
    read_models_body,
)
from .progress import ListingProgress
from .query import ModelQuery, iso_utc, parse_iso

log = logging.getLogger(__name__)

# Records the far-end probe asks for: its first one says where the listing ends, all of
# them how dense the listing is there (the first page tells the density at the near end).
PROBE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# Time keys: createdAt in milliseconds, negated for descending listings
# ---------------------------------------------------------------------------------------------


def ms_of(text: str) -> int:
    """Milliseconds since the epoch of an ISO timestamp (sub-millisecond parts floored)."""
    return (parse_iso(text) - _EPOCH) // _MS


def iso_of(ms: int) -> str:
    return iso_utc(_EPOCH + timedelta(milliseconds=ms))


@dataclass(frozen=True)
class _Axis:
    """Maps createdAt to a key that grows in listing order, and key windows to query bounds."""

    descending: bool

    def key_of(self, created: Any) -> int | None:
        """The key of a raw createdAt value (None when it is not an ISO timestamp)."""
        if not isinstance(created, str):  # missing (None) or not text: no place in time
            return None
        try:
            ms = ms_of(created)
        except (TypeError, ValueError):
            return None
        return -ms if self.descending else ms

    def bounds(self, start: int | None, stop: int | None) -> dict[str, str | None]:
        """Query bounds (exclusive, as the API wants them) covering keys ``start <= k < stop``."""
        if not self.descending:
            after = None if start is None else iso_of(start - 1)
            before = None if stop is None else iso_of(stop)
        else:  # key = -ms, so start <= -ms < stop  <=>  -stop < ms <= -start
            after = None if stop is None else iso_of(-stop)
            before = None if start is None else iso_of(-start + 1)
        return {"created_after": after, "created_before": before}

    def user_window(self, query: ModelQuery) -> tuple[int | None, int | None]:
        """The key window equivalent to the user's own createdAfter/createdBefore."""
        after = ms_of(query.created_after) if query.created_after else None
        before = ms_of(query.created_before) if query.created_before else None
        if not self.descending:
            return (None if after is None else after + 1), before
        return (None if before is None else 1 - before), (None if after is None else -after)


# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# The listing
# ---------------------------------------------------------------------------------------------


# A page's place in the listing: (window order, window id, page index within the window).
# Sorting these keys gives the order of ``Listing.pages``.
PageKey = tuple[tuple[int, int], int, int]
# Called with each page as it is kept (final body, trimmed at its window's end), from the
# worker that fetched it, while the listing goes on; see ``list_pages``.
PageSink = Callable[[PageKey, bytes], None]


@dataclass(frozen=True)
class Listing:
    """Every page of a listing as the server sent it, and what fetching it cost.

    Pages are not de-duplicated here (a model in two pages is in both); ``stats.models``
    counts the records they hold.  ``keys`` gives each page's place in the listing, in the
    order of ``pages`` (as a ``PageSink`` saw it).  ``started_at`` is, with a checkpoint, when
    its fetch began (perhaps in an earlier run).  ``stats`` leaves the table builder's counts
    (``fetch_stats.DECODED``) at zero: no table has been built yet.
    """

    pages: list[bytes]
    stats: FetchStats
    keys: tuple[PageKey, ...] = ()
    started_at: datetime | None = None


def partition_blocker(query: ModelQuery, workers: int) -> str | None:
    """Why this query must be listed sequentially, or None when it can be partitioned."""
    if workers <= 1:
        return "one worker"
    if query.sort_by not in (None, "createdAt"):
        return f"sortBy={query.sort_by} was chosen and its order cannot be rebuilt from createdAt windows"
    if query.updated_after or query.updated_before:
        return "updatedAfter/updatedBefore filter on updatedAt"
    if query.extra:
        return "extra raw parameters were given"
    return None


class _Run:
    """The shared state of one listing: windows, the scheduler, and the checkpoint."""

    def __init__(
        self,
        client: ScenarioClient,
        query: ModelQuery,
        *,
        workers: int,
        page_size: int,
        page_cap: int,
        checkpoint: Checkpoint | None,
        on_page: Callable[[int], None],
        partitioned: bool,
        sink: PageSink | None = None,
    ) -> None:
        self.client = client
        self.user_query = query
        self.workers = workers
        self.page_size = query.page_size or page_size
        self.page_cap = page_cap
        self.checkpoint = checkpoint
        self.on_page = on_page
        self.sink = sink
        self.partitioned = partitioned
        # Without a direction the windows run newest first, like the API's createdAt default,
        # so a private listing keeps the order a sequential one would have.
        self.axis = _Axis(descending=(query.sort_direction or "desc") == "desc")
        self.parts: list[Partition] = []
        self.cond = threading.Condition()
        self.known_end: int | None = None  # key just past the last record known to exist
        self.far_density: float | None = None  # records per key unit near the far end
        self.error: BaseException | None = None
        self.progress: ListingProgress | None = None  # told the estimated size (initial_split)

    # -- queries ---------------------------------------------------------------------------

    def window_query(self, p: Partition) -> ModelQuery:
        if not self.partitioned:
            return self.user_query
        return self.user_query.with_changes(
            sort_by="createdAt",
            sort_direction="desc" if self.axis.descending else "asc",
            **self.axis.bounds(p.lo if p.resume_at is None else p.resume_at, p.hi),
        )

    def probe_far_end(self) -> None:
        """Ask for the last records of the whole window: where the listing ends, how dense it is there."""
        lo, hi = self.axis.user_window(self.user_query)
        q = self.user_query.with_changes(
            sort_by="createdAt",
            sort_direction="asc" if self.axis.descending else "desc",
            **self.axis.bounds(lo, hi),
        )
        size = max(1, min(PROBE_SIZE, self.page_size))
        _body, summary = self.client.get_read(
            MODELS_PATH, q.params() | {"pageSize": str(size)}, read=read_models_body
        )
        keys = [k for k in map(self.axis.key_of, summary.created) if k is not None]
        with self.cond:
            if keys:
                self.known_end = max(self.known_end or keys[0] + 1, keys[0] + 1)
                if len(keys) >= 2 and len(summary.ids) == size and keys[0] > keys[-1]:
                    self.far_density = len(keys) / (keys[0] - keys[-1] + 1)
            self.cond.notify_all()

    # -- persistence -----------------------------------------------------------------------

    def save(self, p: Partition) -> None:
        if self.checkpoint is not None:
            self.checkpoint.write_state(p)

    # -- splitting -------------------------------------------------------------------------

    def _density(self, p: Partition) -> float:
        if p.models >= 2 and p.first is not None and p.pos is not None and p.pos > p.first:
            return p.models / (p.pos - p.first + 1)
        total = span = 0
        for q in self.parts:
            if q.models >= 2 and q.first is not None and q.pos is not None and q.pos > q.first:
                total += q.models
                span += q.pos - q.first + 1
        return total / span if span else 0.0

    def _end(self, p: Partition) -> int | None:
        if p.stop is not None:
            return p.stop
        return self.known_end

    def _left(self, p: Partition) -> tuple[float, int | None, int | None]:
        """(estimated records left, cut-able range start, range end) of a window."""
        end = self._end(p)
        begin = p.pos if p.pos is not None else p.lo
        if end is None or begin is None or end - begin < 2:
            return 0.0, None, None
        return self._density(p) * (end - begin), begin, end

    def split(self, p: Partition, cut: int) -> Partition:
        """Give the part of ``p`` from ``cut`` on to a new window (caller holds the lock)."""
        q = Partition(id=max(x.id for x in self.parts) + 1, lo=cut, hi=p.stop, stop=p.stop)
        self.parts.append(q)
        p.stop = cut
        self.save(q)  # the new window first: a crash in between only overlaps, never loses
        self.save(p)
        return q

    def initial_split(self, p0: Partition) -> None:
        """Cut what lies past the first page into one window per worker.

        The windows get equal shares of the records expected, not of the time: the density
        measured on the first page (near end) and by the far-end probe is interpolated
        linearly in between, as in a catalog growing at a steady or changing pace.  Without
        both densities the cuts are even in time.  Cuts only decide which worker fetches
        what; a poor estimate costs time (idle workers then split busy windows), never
        records.
        """
        with self.cond:
            begin, end = p0.pos, self._end(p0)
            if p0.done or begin is None or end is None or end - begin < 2:
                return
            n = min(self.workers, end - begin)
            near = self._density(p0)
            cuts = sorted(
                {
                    c
                    for c in _equal_share_cuts(begin, end, n, near, self.far_density)
                    if begin < c < end
                }
            )
            for cut in reversed(cuts):
                self.split(p0, cut)
            if self.progress is not None:  # the same linear density model as the cuts
                far = self.far_density if self.far_density is not None else near
                self.progress.set_estimate(p0.models + (near + far) / 2 * (end - begin))
            log.debug(
                "initial windows: %d (densities %.3g, %s)", len(self.parts), near, self.far_density
            )

    def next_job(self) -> Partition | None:
        """The window a free worker should take next, splitting a busy one if worth it."""
        with self.cond:
            while True:
                if self.error is not None:
                    return None
                idle = [p for p in self.parts if not p.done and not p.busy]
                if idle:
                    p = min(idle, key=Partition.order_key)
                    p.busy = True
                    return p
                if all(p.done for p in self.parts):
                    return None
                if self.partitioned:
                    best, best_left, best_cut = None, 0.0, None
                    for p in self.parts:
                        if p.done or not p.busy:
                            continue
                        left, begin, end = self._left(p)
                        if begin is not None and end is not None and left > best_left:
                            best, best_left, best_cut = p, left, begin + (end - begin + 1) // 2
                    if best is not None and best_left >= 1.5 * self.page_size:
                        q = self.split(best, best_cut)  # type: ignore[arg-type]
                        q.busy = True
                        return q
                self.cond.wait(timeout=0.5)

    # -- fetching --------------------------------------------------------------------------

    def run_partition(self, p: Partition) -> None:
        """Fetch one window page by page until it ends or reaches its (possibly moved) stop.

        When the window starts from a stored token (a resume) and the server refuses it with
        a 400 (tokens expire), the window restarts from its last kept position instead:
        createdAt windows from that key on (records on it come again and are de-duplicated
        downstream), a sequential listing from its start, its stored pages dropped.
        """
        try:
            stored_token = p.token
            try:
                self._page_through(p)
            except BadRequestError as exc:
                if stored_token is None or p.token != stored_token or self.error is not None:
                    raise
                self._restart(p, exc)
                self._page_through(p)
        except BaseException as exc:
            with self.cond:
                if self.error is None:
                    self.error = exc
                self.cond.notify_all()
            raise
        finally:
            with self.cond:
                p.busy = False
                self.cond.notify_all()

    def _page_through(self, p: Partition) -> None:
        pages = iter_pages(
            self.client,
            self.window_query(p),
            page_size=self.page_size,
            page_cap=self.page_cap,
            start_token=p.token,
            first_index=p.pages,
        )
        for page in pages:
            if self.error is not None:
                return
            if self.keep(p, page):
                return

    def _restart(self, p: Partition, exc: BadRequestError) -> None:
        """Forget a refused stored token: go on from the window's last position."""
        with self.cond:
            p.token = None
            if self.partitioned and p.pos is not None:
                p.resume_at = p.pos
                where = f"from its last position ({p.pages} pages kept)"
            else:
                p.bodies.clear()
                p.ids.clear()
                p.pages = p.models = 0
                p.first = p.pos = None
                where = "from its start (its stored pages dropped)"
            self.save(p)
        log.warning(
            "the server refused the stored pagination token of window %d (%s): restarting it %s",
            p.id,
            exc.reason or exc.status,
            where,
        )

    def keep(self, p: Partition, page: Page) -> bool:
        """Store one page of window ``p`` (trimmed at its stop); True when the window is done."""
        key_of = self.axis.key_of
        keys = [key_of(c) for c in page.created] if self.partitioned else []
        with self.cond:
            stop = p.stop
        body, kept, trimmed = self._trim(page, keys, stop)
        index = p.pages
        if self.checkpoint is not None:
            self.checkpoint.write_page(p.id, index, body)
        with self.cond:
            if p.stop != stop:  # cut while we were writing: trim again with the new stop
                body, kept, trimmed = self._trim(page, keys, p.stop)
                if self.checkpoint is not None:
                    self.checkpoint.write_page(p.id, index, body)
            kept_keys = [k for k in (keys[i] for i in kept) if k is not None] if keys else []
            if kept_keys:
                p.first = kept_keys[0] if p.first is None else p.first
                p.pos = max(kept_keys) if p.pos is None else max(p.pos, max(kept_keys))
                self.known_end = max(self.known_end or p.pos + 1, p.pos + 1)
            p.bodies.append(body)
            p.ids.append(page.ids if len(kept) == page.models else [page.ids[i] for i in kept])
            p.pages += 1
            p.models += len(kept)
            p.token = page.next_token
            p.done = page.next_token is None or trimmed
            self.save(p)
            self.cond.notify_all()
        # Records already kept never move (a later cut falls past them), so the body is final.
        if self.sink is not None:
            self.sink(page_key(p, index), body)
        self.on_page(len(kept))
        return p.done

    def _trim(
        self, page: Page, keys: list[int | None], stop: int | None
    ) -> tuple[bytes, list[int], bool]:
        """(body, indexes kept, trimmed?) of a page cut at ``stop``; the body is rewritten
        (records decoded) only when some record lies past the stop."""
        if stop is None or not keys:
            return page.body, list(range(page.models)), False
        kept = [i for i, k in enumerate(keys) if k is None or k < stop]
        if len(kept) == page.models:
            return page.body, kept, False
        records = page.decoded()
        return orjson.dumps({"models": [records[i] for i in kept]}), kept, True


def _equal_share_cuts(begin: int, end: int, n: int, near: float, far: float | None) -> list[int]:
    """Keys cutting ``[begin, end)`` into ``n`` windows of equal expected record counts.

    The density is taken to run linearly from ``near`` at ``begin`` to ``far`` at ``end``,
    so the count up to ``begin + u`` is ``near*u + (far-near)*u**2/(2*span)``; each cut
    solves that for its share.  Even cuts in time when a density is missing or unusable.
    """
    span = end - begin
    if far is None or not (near > 0 and far > 0 and math.isfinite(near) and math.isfinite(far)):
        return [begin + span * i // n for i in range(1, n)]
    a = (far - near) / (2 * span)
    total = (near + far) / 2 * span
    cuts = []
    for i in range(1, n):
        want = total * i / n
        if abs(a) * span < 1e-9 * near:
            u = want / near
        else:  # the positive root of a*u**2 + near*u - want = 0, in a cancellation-free form
            u = 2 * want / (near + math.sqrt(max(near * near + 4 * a * want, 0.0)))
        cuts.append(begin + min(max(int(round(u)), 1), span - 1))
    return cuts


def page_key(p: Partition, index: int) -> PageKey:
    """The key of page ``index`` of window ``p`` (see ``PageKey``)."""
    return (p.order_key(), p.id, index)


def list_pages(
    client: ScenarioClient,
    query: ModelQuery,
    *,
    workers: int = 8,
    page_size: int = DEFAULT_PAGE_SIZE,
    page_cap: int = DEFAULT_PAGE_CAP,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    sink: PageSink | None = None,
) -> Listing:
    """Fetch a whole listing, partitioned by createdAt across ``workers`` when the query allows.

    The result holds every page of the listing as the server sent it (a model listed twice
    is in both pages: ``tables.builder.CatalogBuilder`` de-duplicates and counts), in the listing's
    order for createdAt sorts.  With ``checkpoint`` (a folder), a second run
    of the same fetch continues where the first one stopped.

    ``sink(key, body)``, when given, sees each page as soon as it is kept, so the caller can
    work on it while the rest is still on the way.  Pages restored from a checkpoint are
    not passed, and a sequential window restarted after a refused token drops its pages.
    ``Listing.keys`` names the final pages; a page whose key and body object match what the
    sink saw is that very page.  ``Listing.stats`` says what the call cost and how it ran: the
    client's request and retry counts over the call (another user of the same client in the
    meantime counts too), the pages, bytes and records kept, the time, the windows.
    """
    before = client.stats()
    started = time.monotonic()
    blocker = partition_blocker(query, workers)
    mode = "sequential" if blocker else "partitioned"
    store = Checkpoint(checkpoint) if checkpoint is not None else None
    parts: list[Partition] = []
    if store is not None:
        digest, desc = fingerprint(client, query, query.page_size or page_size)
        mode, parts = store.open(digest, desc, mode)
        if parts:
            stored = sum(p.pages for p in parts)
            if all(p.done for p in parts):
                log.warning(
                    "checkpoint %s is complete (%d pages, fetch started %s): reusing its pages "
                    "without requests, as they were then; delete the folder for a fresh fetch",
                    store.folder,
                    stored,
                    store.started_at and iso_utc(store.started_at),
                )
            else:
                log.info(
                    "resuming from checkpoint %s: %d windows, %d pages already stored",
                    store.folder,
                    len(parts),
                    stored,
                )
    partitioned = mode == "partitioned"
    resumed = bool(parts)  # before the run appends its own windows to the same list
    if not partitioned:
        log.info("fetching sequentially: %s", blocker or "the checkpoint was made sequentially")

    bar = _make_bar(progress)

    def on_page(n: int) -> None:
        if bar is not None:
            bar.add(n)

    run = _Run(
        client,
        query,
        workers=workers if partitioned else 1,
        page_size=page_size,
        page_cap=page_cap,
        checkpoint=store,
        on_page=on_page,
        partitioned=partitioned,
        sink=sink,
    )
    run.parts = parts
    run.progress = bar
    try:
        _execute(run)
    finally:
        if bar is not None:
            bar.close()
    pages, keys, records = _assemble(run)
    after = client.stats()
    stats = FetchStats(
        requests=after["requests"] - before["requests"],
        retries=after["retries"] - before["retries"],
        pages=len(pages),
        body_bytes=sum(len(body) for body in pages),
        models=records,
        duration_s=time.monotonic() - started,
        partitioned=partitioned,
        workers=run.workers,
        partitions=len(run.parts),
        mode_reason=blocker or ("partitioned" if partitioned else "resumed sequential checkpoint"),
        resumed=resumed,
    )
    return Listing(pages, stats, keys, store.started_at if store is not None else None)


def _execute(run: _Run) -> None:
    threads: list[threading.Thread] = []
    far: threading.Thread | None = None

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def go() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the caller below
                with run.cond:
                    if run.error is None:
                        run.error = exc
                    run.cond.notify_all()

        return go

    if run.partitioned and not (run.parts and all(p.done for p in run.parts)):
        far = threading.Thread(
            target=guarded(run.probe_far_end), name="scenario-probe", daemon=True
        )
        far.start()
    if not run.parts:
        lo, hi = run.axis.user_window(run.user_query) if run.partitioned else (None, None)
        p0 = Partition(id=0, lo=lo, hi=hi, stop=hi)
        run.parts.append(p0)
        run.save(p0)
        if run.partitioned:
            p0.busy = True
            guarded(lambda: _first_page(run, p0))()
            if far is not None:
                far.join()
            if run.error is None:
                run.initial_split(p0)
                with run.cond:
                    p0.busy = False
    if far is not None:
        far.join()
    if run.error is None:

        def worker() -> None:
            while True:
                p = run.next_job()
                if p is None:
                    return
                with contextlib.suppress(BaseException):
                    run.run_partition(p)  # errors are recorded in run.error

        for i in range(run.workers):
            t = threading.Thread(target=worker, name=f"scenario-fetch-{i}", daemon=True)
            t.start()
            threads.append(t)
        try:
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.2)
        except BaseException as exc:  # Ctrl-C: tell the workers to stop after their request
            with run.cond:
                run.error = run.error or exc
                run.cond.notify_all()
            raise
    if run.error is not None:
        raise run.error


def _first_page(run: _Run, p0: Partition) -> None:
    """The first page of the whole window: it also tells where the listing starts."""
    pages = iter_pages(
        run.client, run.window_query(p0), page_size=run.page_size, page_cap=run.page_cap
    )
    try:
        page = next(pages)
    finally:
        pages.close()
    run.keep(p0, page)


def _assemble(run: _Run) -> tuple[list[bytes], tuple[PageKey, ...], int]:
    """Every window's pages in listing order, their keys, and the records they hold; bodies
    stay exactly as kept (no de-duplication)."""
    out: list[bytes] = []
    keys: list[PageKey] = []
    records = 0
    for p in sorted(run.parts, key=Partition.order_key):
        for index, (body, ids) in enumerate(zip(p.bodies, p.ids, strict=True)):
            keys.append(page_key(p, index))
            out.append(body)
            records += len(ids)
    return out, tuple(keys), records
