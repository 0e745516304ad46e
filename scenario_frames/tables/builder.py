"""``CatalogBuilder``: tables built page by page while a fetch is still listing.

The fetcher hands each page body to ``add`` as it lands, from its worker threads; the builder
turns it into partial tables on a small thread pool (Arrow's reader and polars work mostly
without the GIL) and ``finish`` stacks them into one ``Catalog``, in page order, through the
same assembly as ``Catalog.from_json_pages`` (the one place that de-duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import materialize as M

__all__ = ["CatalogBuilder"]

from .catalog import Catalog, CatalogMeta, _assemble

log = logging.getLogger(__name__)


class CatalogBuilder:
    """A ``Catalog`` built page by page while the pages are still arriving.

    ``add_page(body, key)`` returns at once: a background thread reads the page (Arrow's
    typed read, the fast or exact path, the inputs), which is most of the work, so it
    overlaps with whatever the caller waits on (the fetcher's network round trips).
    ``finish(meta)`` waits for the pages and derives the tables from them in ``key`` order,
    in batches, exactly as ``from_json_pages`` does (the table step costs far less per
    record when batched than page by page).  The result equals ``Catalog.from_json_pages``
    of the same bodies listed in ``key`` order: tables, rejects (with page numbers counted
    in that order) and the duplicate count.

    Keys must be comparable with each other (by default the order of ``add_page`` calls).
    Adding a page under a key already used replaces that page; ``discard`` drops one.  The
    builder is thread-safe; use it as a context manager, or call ``finish`` or ``close``,
    so its threads stop.
    """

    def __init__(self, *, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="frames-build")
        self._lock = threading.Lock()
        self._pages: dict[Any, Future[M.PageOut]] = {}
        self._seq = 0
        self._closed = False

    def add_page(self, body: bytes | str, key: Any = None) -> None:
        """Queue one raw ``GET /models`` body (bytes or str) for materialization."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this CatalogBuilder is finished or closed")
            seq = self._seq
            self._seq += 1
            fut = self._pool.submit(M.page_output, body, None, seq << M.RID_SHIFT)
            old = self._pages.get(seq if key is None else key)
            self._pages[seq if key is None else key] = fut
        if old is not None:
            old.cancel()

    def discard(self, key: Any) -> None:
        """Forget the page added under ``key`` (no error when there is none)."""
        with self._lock:
            fut = self._pages.pop(key, None)
        if fut is not None:
            fut.cancel()

    def keys(self) -> list[Any]:
        """The keys of the pages held, in the order they will be stacked."""
        with self._lock:
            return sorted(self._pages)

    def finish(self, meta: CatalogMeta | None = None) -> Catalog:
        """Wait for every page and return the Catalog (the builder cannot be used after).

        The builder is where duplicates are dropped and counted: ``meta.duplicates`` and the
        per-route record counts are set here, whatever ``meta`` carried.
        """
        with self._lock:
            self._closed = True
            ordered = [self._pages[k] for k in sorted(self._pages)]
            self._pages = {}

        def outs() -> Iterator[M.PageOut]:
            while ordered:
                page_no = n_pages - len(ordered)
                out = ordered.pop(0).result()
                out.rejects = [(page_no, *r[1:]) for r in out.rejects]
                yield out

        n_pages = len(ordered)
        try:
            tables, stats = _assemble(outs())
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        meta = meta or CatalogMeta(pages=n_pages, requests=n_pages)
        return Catalog(tables, meta.with_decoded(stats))

    def close(self) -> None:
        """Stop without a result: pending pages are dropped (for error paths)."""
        with self._lock:
            self._closed = True
            self._pages = {}
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> CatalogBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
