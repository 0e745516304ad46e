"""One ``GET /models`` query, page by page, and the page summary the listing reads.

``iter_pages`` is the small generator every listing uses: it sends a query, follows
``nextPaginationToken`` and stops on a repeated token, on the page cap, or when
``NO_PROGRESS_PAGES`` pages in a row bring no model id not seen before in that listing (a
server repeating the same models under new tokens); each of these raises ``PaginationError``.
``read_models_body`` reads only what pagination needs from a page body (ids, createdAt, the
next token) with Arrow, falling back to a full decode only for bodies that need it.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from ..errors import PaginationError
from ..text import is_utf8
from ..transport.client import MODELS_BODY, ScenarioClient
from .progress import ListingProgress, make_progress
from .query import ModelQuery

log = logging.getLogger(__name__)


DEFAULT_PAGE_SIZE = 500
DEFAULT_PAGE_CAP = 100_000
# Pages in a row without a single new model id after which a listing is declared stuck.
NO_PROGRESS_PAGES = 10
MODELS_PATH = "/models"


# ---------------------------------------------------------------------------------------------
# One query, page by page
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One response of ``GET /models``: its raw body, the token of the next page, its size.

    ``ids`` and ``created`` hold each record's id (as text) and raw ``createdAt`` value, all
    the listing needs; ``records`` (the decoded models) is only there when the body had to
    be decoded in Python (see ``read_models_body``) and is ``None`` otherwise.
    """

    index: int
    body: bytes = field(repr=False)
    next_token: str | None
    models: int = 0
    records: list[Any] | None = field(default=None, repr=False, compare=False)
    ids: list[str] = field(default_factory=list, repr=False, compare=False)
    created: list[Any] = field(default_factory=list, repr=False, compare=False)

    def decoded(self) -> list[Any]:
        """The page's model records, decoded now if the reader did not need to."""
        if self.records is not None:
            return self.records
        return list(orjson.loads(self.body)["models"])


@dataclass(frozen=True)
class PageSummary:
    """What reading a listing page yields: ids, raw createdAt values, next token, records."""

    ids: list[str]
    created: list[Any]
    next_token: str | None
    records: list[Any] | None = None


# Only what pagination needs: reading it costs Arrow's parse of the bytes, without the GIL
# and without building a Python object per value.
_SUMMARY_SCHEMA = pa.schema(
    [
        pa.field(
            "models",
            pa.list_(pa.struct([pa.field("id", pa.string()), pa.field("createdAt", pa.string())])),
        ),
        pa.field("nextPaginationToken", pa.string()),
    ]
)
_UTF8_BOM = b"\xef\xbb\xbf"
_BLANK = frozenset(b" \t\r\n")
_VALUE_START = frozenset(b":[,")


def _maybe_non_finite(body: bytes) -> bool:
    """Whether a NaN or Inf(inity) literal might stand as a value somewhere in ``body``.

    numpy finds the few places where ``NaN`` or ``Inf`` occur; a literal would follow
    ``:``, ``[`` or ``,`` (blanks and a minus sign allowed in between).  Text inside a
    string can look the same; such a page merely goes to orjson.
    """
    a = np.frombuffer(body, np.uint8)
    if len(a) < 3:
        return False
    head = a[:-2]
    for first, second, third in (b"NaN", b"Inf"):
        at = np.flatnonzero(head == first)
        at = at[(a[at + 1] == second) & (a[at + 2] == third)]
        for pos in at.tolist():
            j = pos - 1
            if j >= 0 and body[j] == 0x2D:  # '-'
                j -= 1
            while j >= 0 and body[j] in _BLANK:
                j -= 1
            if j < 0 or body[j] in _VALUE_START:
                return True
    return False


def _summary_by_arrow(body: bytes) -> PageSummary | None:
    """Read a page with Arrow's JSON reader, or None when only orjson can say what it is.

    Arrow's parser accepts a little more than JSON (NaN and Infinity literals, bytes that are
    not UTF-8, a byte order mark): bodies where any of those could occur, and every body
    Arrow cannot read as plain objects with string ids and dates, go to orjson, so the
    verdict on what is valid stays orjson's.
    """
    if body.startswith(_UTF8_BOM) or _maybe_non_finite(body) or not is_utf8(body):
        return None
    try:
        opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 16, len(body) + 16))
        parse = pj.ParseOptions(
            explicit_schema=_SUMMARY_SCHEMA,
            unexpected_field_behavior="ignore",
            newlines_in_values=b"\n" in body,
        )
        table = pj.read_json(pa.BufferReader(body), read_options=opts, parse_options=parse)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != 1:
        return None
    models = table.column("models").chunk(0)
    if models.null_count:
        return None
    items = models.flatten()
    if items.null_count:
        return None
    ids = items.field("id")
    if ids.null_count:
        return None
    token = table.column("nextPaginationToken")[0].as_py() or None
    return PageSummary(ids.to_pylist(), items.field("createdAt").to_pylist(), token)


def read_models_body(body: bytes) -> tuple[PageSummary | None, str | None]:
    """The client's body reader for listing pages: (summary, why unusable or None).

    Arrow first (see ``_summary_by_arrow``); anything it cannot settle is decoded by orjson
    and checked as before (raising on invalid JSON), so the client still retries every 200
    that is not JSON or has no ``models`` list.
    """
    got = _summary_by_arrow(body)
    if got is not None:
        return got, None
    data = orjson.loads(body)
    problem = MODELS_BODY(data)
    if problem:
        return None, problem
    records = data["models"]
    nxt = data.get("nextPaginationToken") or None
    if nxt is not None and not isinstance(nxt, str):
        nxt = str(nxt)
    created = [r.get("createdAt") if isinstance(r, dict) else None for r in records]
    return PageSummary(_ids(records), created, nxt, records), None


def iter_pages(
    client: ScenarioClient,
    query: ModelQuery,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    page_cap: int = DEFAULT_PAGE_CAP,
    start_token: str | None = None,
    first_index: int = 0,
    progress: bool = False,
    no_progress: int = NO_PROGRESS_PAGES,
) -> Generator[Page, None, None]:
    """Yield the pages of one listing, following ``nextPaginationToken`` until it ends.

    ``page_size`` applies unless the query sets its own.  A token seen twice (the server is
    looping), ``no_progress`` pages in a row without a model id not seen before in this
    listing (the server repeats itself under fresh tokens) and more than ``page_cap`` pages
    raise ``PaginationError``.  ``start_token`` and ``first_index`` continue a listing
    stopped earlier (resume).
    """
    params = query.params(page_size=page_size)
    seen: set[str] = {start_token} if start_token else set()
    ids_seen: set[str] = set()  # only for the progress check: pages are never filtered here
    stale = 0  # pages in a row that brought no new id
    token = start_token
    index = first_index
    bar = _make_bar(progress)
    try:
        while True:
            if index - first_index >= page_cap:
                raise PaginationError(
                    f"stopped after {page_cap} pages (the page cap); the listing still had more. "
                    "Raise page_cap or narrow the query",
                    reason="page-cap",
                    request=client.describe_request(MODELS_PATH, params),
                )
            sent = dict(params)
            if token:
                sent["paginationToken"] = token
            body, summary = client.get_read(MODELS_PATH, sent, read=read_models_body)
            nxt = summary.next_token
            n = len(summary.ids)
            if nxt is not None and nxt in seen:
                raise PaginationError(
                    f"the server sent pagination token #{len(seen)} again after page {index}: "
                    "the listing loops; stopping",
                    reason="token-loop",
                    request=client.describe_request(MODELS_PATH, sent),
                )
            if nxt is not None:
                seen.add(nxt)
                before = len(ids_seen)
                ids_seen.update(summary.ids)
                stale = stale + 1 if len(ids_seen) == before else 0
                if stale >= no_progress:
                    raise PaginationError(
                        f"the server sent {stale} pages in a row (up to page {index}) that brought no "
                        f"model not already listed, each with a new pagination token ({len(ids_seen)} "
                        "distinct models so far): the listing makes no progress; stopping",
                        reason="no-progress",
                        request=client.describe_request(MODELS_PATH, sent),
                    )
            if bar is not None:
                bar.add(n)
            yield Page(index, body, nxt, n, summary.records, summary.ids, summary.created)
            index += 1
            if nxt is None:
                return
            token = nxt
    finally:
        if bar is not None:
            bar.close()


def _make_bar(enabled: bool) -> ListingProgress | None:
    """The listing's progress display (see ``progress``), or None when disabled."""
    return make_progress(enabled)


# ---------------------------------------------------------------------------------------------


def _ids(records: list[Any]) -> list[str]:
    return [str(r.get("id")) if isinstance(r, dict) else repr(r) for r in records]
