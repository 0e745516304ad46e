"""The demo's query engine: which models one ``GET /v1/models`` page holds, and in what order.

The generator (``generator``) makes records and keeps the mutable catalog; it knows nothing
of queries.  This module answers them over a ``DemoCatalog``:

* **Validation** against the rules the client checks too (``listing.query``), so the demo
  rejects exactly what the toolkit refuses to send.
* **Ordering.**  Every listing is in (sort key, model id) order, ascending or descending.
  ``createdAt`` order needs no sorting: creation time never decreases with the index, so a
  binary search finds where to start.  ``updatedAt`` and ``score`` orders are sorted once per
  (key, privacies) and kept until the catalog next changes.
* **Filtering** on each model's cheap facts (status, types, tags, collections, dates...).
* **Paging** by keyset: a token carries the last (sort key, id) of its page and an HMAC over
  that position and the query's fingerprint (every parameter but ``pageSize`` and
  ``paginationToken``), so models added or removed between pages never shift the others.

The engine answers with model indices and the next token; turning them into bytes, and
deciding who may ask (credentials), is the server's job.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import orjson

from .. import schema
from ..listing.query import first_broken_rule, parse_iso
from .generator import (
    DRIFT_TYPE,
    DemoCatalog,
    Facts,
    created_ms,
    first_index_at_or_after,
    score_of,
    tie_group,
)

log = logging.getLogger(__name__)

DEFAULT_PRIVACY = "private"  # what a listing without ``privacy`` asks for (the reference's default)
DEFAULT_PAGE_SIZE = 100

# A keyset position: the sort key and the id of the last model a page held.
Position = tuple[int | float, str]


class QueryRejected(Exception):
    """A query the engine will not answer (the server sends it as a 400).

    ``reason`` is the machine-readable code (a rule id of ``listing.query``, or
    ``invalid-pagination-token``) and ``message`` the sentence a user reads.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Page:
    """One answered query: the catalog indices of the page, in order, and the next token."""

    indices: list[int]
    next_token: str | None


def split_values(value: str) -> list[str]:
    """The non-empty, stripped parts of a comma-separated parameter."""
    return [v.strip() for v in value.split(",") if v.strip()]


def _ms(value: str | None) -> float | None:
    """Epoch milliseconds (fractional) of an ISO date parameter, or None."""
    if value is None:
        return None
    return parse_iso(value).timestamp() * 1000.0


class QueryEngine:
    """Answers ``GET /v1/models`` queries over one ``DemoCatalog``.

    ``secret`` keys the pagination tokens' HMAC (a fresh random one by default, so tokens of
    one engine are refused by another).  Thread-safe: the sort cache is filled under the
    catalog's lock.
    """

    def __init__(self, catalog: DemoCatalog, secret: bytes | None = None) -> None:
        self.catalog = catalog
        self._secret = secret if secret is not None else os.urandom(32)
        known = set(schema.MODEL_TYPES) | ({DRIFT_TYPE} if catalog.drift else set())
        if catalog.types:
            known |= set(catalog.types)
        self.known_types = frozenset(known)
        self._sorted: dict[tuple[str, frozenset[str]], tuple[int, list[int]]] = {}

    # -- validation -------------------------------------------------------------------------

    def check(self, params: Mapping[str, str]) -> None:
        """Raise ``QueryRejected`` when the query breaks one of the documented rules."""
        rule = first_broken_rule(params, self.known_types)
        if rule is not None:
            raise QueryRejected(f"Invalid query ({rule.id}): {rule.message}", rule.id)

    # -- tokens -----------------------------------------------------------------------------

    @staticmethod
    def fingerprint(params: Mapping[str, str]) -> str:
        """What a pagination token is bound to: every parameter but pageSize and the token."""
        items = sorted(
            (k, v) for k, v in params.items() if k not in ("pageSize", "paginationToken")
        )
        return hashlib.sha256(orjson.dumps(items)).hexdigest()[:24]

    def make_token(self, fp: str, key: int | float, mid: str) -> str:
        """A token resuming after (key, mid) for the query of fingerprint ``fp``."""
        payload = orjson.dumps({"f": fp, "k": key, "i": mid})
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:18]
        return (
            base64.urlsafe_b64encode(payload).rstrip(b"=") + b"." + base64.urlsafe_b64encode(mac)
        ).decode()

    def read_token(self, token: str, fp: str) -> Position:
        """The (sort key, id) a token resumes after; rejected when forged or from another query."""
        bad = QueryRejected(
            "paginationToken is not valid for this query: it was altered, or it "
            "comes from a request with other parameters (only pageSize may change)",
            "invalid-pagination-token",
        )
        try:
            body, _, mac = token.partition(".")
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            sig = base64.urlsafe_b64decode(mac)
        except (binascii.Error, ValueError):
            raise bad from None
        want = hmac.new(self._secret, payload, hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(sig, want):
            raise bad
        data = json.loads(payload)
        if data.get("f") != fp:
            raise bad
        return data["k"], data["i"]

    # -- one page ---------------------------------------------------------------------------

    def page(self, params: Mapping[str, str]) -> Page:
        """The page a query asks for; ``params`` have passed ``check`` (and the server's auth).

        Defaults follow the reference: public listings sort by score, private ones by
        createdAt; the direction (default desc) is read only with an explicit ``sortBy``, and
        public listings by score are always best first.
        """
        privacy = params.get("privacy", DEFAULT_PRIVACY)
        page_size = int(params.get("pageSize", str(DEFAULT_PAGE_SIZE)))
        explicit_sort = params.get("sortBy")
        sort_by = explicit_sort or ("score" if privacy == "public" else "createdAt")
        desc = params.get("sortDirection", "desc") != "asc" if explicit_sort else True
        if privacy == "public" and sort_by == "score":
            desc = True
        privacies = (
            frozenset({"public"}) if privacy == "public" else frozenset({"private", "unlisted"})
        )
        fp = self.fingerprint(params)
        after = None
        if params.get("paginationToken"):
            after = self.read_token(params["paginationToken"], fp)
        created = _ms(params.get("createdAfter")), _ms(params.get("createdBefore"))
        updated = _ms(params.get("updatedAfter")), _ms(params.get("updatedBefore"))
        lo, hi = {"createdAt": created, "updatedAt": updated}.get(sort_by, (None, None))
        keep = self.matcher(params, created, updated)
        cat = self.catalog
        picked: list[int] = []
        more = False
        for i in self.ordered(sort_by, desc, privacies, after, lo, hi):
            if not keep(cat.facts(i)):
                continue
            if len(picked) == page_size:
                more = True
                break
            picked.append(i)
        token = None
        if more:
            last = picked[-1]
            token = self.make_token(fp, self.sort_key(last, sort_by), cat.facts(last).id)
        return Page(picked, token)

    # -- filtering --------------------------------------------------------------------------

    @staticmethod
    def matcher(
        p: Mapping[str, str],
        created: tuple[float | None, float | None],
        updated: tuple[float | None, float | None],
    ) -> Callable[[Facts], bool]:
        """A predicate on a model's facts implementing the query's filters.

        ``created`` and ``updated`` are the exclusive (after, before) bounds in epoch ms.
        ``tags``, ``collectionIds`` and ``types`` match any of the listed values.
        """
        status = p.get("status")
        types = (
            set(split_values(p["types"]))
            if "types" in p
            else ({p["type"]} if "type" in p else None)
        )
        tags = set(split_values(p["tags"])) if "tags" in p else None
        cols = set(split_values(p["collectionIds"])) if "collectionIds" in p else None
        col = p.get("collectionId")
        loaded = p.get("loadedOnly") == "true"
        blacklisted = p.get("blacklisted") == "true"
        (c_lo, c_hi), (u_lo, u_hi) = created, updated

        def keep(f: Facts) -> bool:
            if f.blacklisted and not blacklisted:
                return False
            if status is not None and f.status != status:
                return False
            if types is not None and f.type not in types:
                return False
            if tags is not None and not tags.intersection(f.tags):
                return False
            if cols is not None and not cols.intersection(f.collections):
                return False
            if col is not None and col not in f.collections:
                return False
            if loaded and not f.loaded:
                return False
            if c_lo is not None and not f.created > c_lo:
                return False
            if c_hi is not None and not f.created < c_hi:
                return False
            if u_lo is not None and not f.updated > u_lo:
                return False
            return not (u_hi is not None and not f.updated < u_hi)

        return keep

    # -- ordering ---------------------------------------------------------------------------

    def sort_key(self, index: int, sort_by: str) -> int | float:
        """The value a model is ordered by for sortBy (ties are broken by id)."""
        if sort_by == "createdAt":
            return created_ms(index)
        if sort_by == "updatedAt":
            return self.catalog.updated_ms(index)
        return score_of(self.catalog.seed, index)

    def ordered(
        self,
        sort_by: str,
        desc: bool,
        privacies: frozenset[str],
        after: Position | None = None,
        lo: float | None = None,
        hi: float | None = None,
    ) -> Iterator[int]:
        """Live indices of the given privacies in (sort key, id) order, strictly past ``after``.

        ``lo``/``hi`` are exclusive bounds on the sort key that let a windowed listing start
        and stop early instead of scanning the whole catalog.
        """
        if sort_by == "createdAt":
            it = self._created_order(desc, after, lo, hi)
        else:
            it = self._sorted_order(sort_by, desc, privacies, after, lo, hi)
        return self.catalog.live_with_privacy(it, privacies)

    def _created_order(
        self, desc: bool, after: Position | None, lo: float | None, hi: float | None
    ) -> Iterator[int]:
        """Indices in (createdAt, id) order within the exclusive bounds, strictly past ``after``.

        The start is found by binary search on the monotone creation times; ids are only
        computed where they decide something: to order a tie group with several members, or
        to compare with ``after`` when a group has exactly its creation time.
        """
        end = self.catalog.end
        if end == 0:
            return
        id_of = self.catalog.model_id
        after_t = after[0] if after is not None else None
        if not desc:
            start_ms = after_t if after_t is not None else lo
            i = first_index_at_or_after(int(start_ms)) if start_ms is not None else 0
            i = tie_group(i).start if i < end else end
            while i < end:
                g = tie_group(i)
                t = created_ms(g.start)
                if hi is not None and t >= hi:
                    return
                i = g.stop
                if (lo is not None and t <= lo) or (after_t is not None and t < after_t):
                    continue
                stop = min(g.stop, end)
                if stop - g.start == 1:
                    if after is not None and t == after_t and (t, id_of(g.start)) <= after:
                        continue
                    yield g.start
                    continue
                for mid, j in sorted((id_of(j), j) for j in range(g.start, stop)):
                    if after is not None and (t, mid) <= after:
                        continue
                    yield j
        else:
            stop_ms = after_t if after_t is not None else hi
            i = first_index_at_or_after(int(stop_ms) + 1) - 1 if stop_ms is not None else end - 1
            i = min(i, end - 1)
            while i >= 0:
                g = tie_group(i)
                t = created_ms(g.start)
                if lo is not None and t <= lo:
                    return
                i = g.start - 1
                if (hi is not None and t >= hi) or (after_t is not None and t > after_t):
                    continue
                stop = min(g.stop, end)
                if stop - g.start == 1:
                    if after is not None and t == after_t and (t, id_of(g.start)) >= after:
                        continue
                    yield g.start
                    continue
                for mid, j in sorted(((id_of(j), j) for j in range(g.start, stop)), reverse=True):
                    if after is not None and (t, mid) >= after:
                        continue
                    yield j

    def _sorted_list(self, sort_by: str, privacies: frozenset[str]) -> list[int]:
        """Indices of the given privacies sorted by (key, id), cached until the next mutation."""
        cache_key = (sort_by, privacies)
        cat = self.catalog
        with cat.lock:
            hit = self._sorted.get(cache_key)
            if hit is not None and hit[0] == cat.version:
                return hit[1]
            t0 = time.perf_counter()
            key = self.sort_key
            cand = list(cat.live_with_privacy(range(cat.end), privacies))
            keyed = sorted((key(i, sort_by), i) for i in cand)
            order: list[int] = []
            n = len(keyed)
            a = 0
            while a < n:
                b = a + 1
                while b < n and keyed[b][0] == keyed[a][0]:
                    b += 1
                if b - a == 1:
                    order.append(keyed[a][1])
                else:
                    order.extend(sorted((keyed[x][1] for x in range(a, b)), key=cat.model_id))
                a = b
            self._sorted[cache_key] = (cat.version, order)
            log.debug(
                "sorted %d models by %s in %.2fs", len(order), sort_by, time.perf_counter() - t0
            )
            return order

    def _sorted_order(
        self,
        sort_by: str,
        desc: bool,
        privacies: frozenset[str],
        after: Position | None,
        lo: float | None,
        hi: float | None,
    ) -> Iterator[int]:
        order = self._sorted_list(sort_by, privacies)
        key = self.sort_key
        id_of = self.catalog.model_id

        def full(j: int) -> Position:
            return (key(j, sort_by), id_of(j))

        if not desc:
            if after is not None:
                pos = bisect.bisect_right(order, after, key=full)
            elif lo is not None:
                pos = bisect.bisect_right(order, lo, key=lambda j: key(j, sort_by))
            else:
                pos = 0
            for j in order[pos:] if pos else order:
                k = key(j, sort_by)
                if hi is not None and k >= hi:
                    return
                if lo is not None and k <= lo:
                    continue
                yield j
        else:
            if after is not None:
                pos = bisect.bisect_left(order, after, key=full) - 1
            elif hi is not None:
                pos = bisect.bisect_left(order, hi, key=lambda j: key(j, sort_by)) - 1
            else:
                pos = len(order) - 1
            for x in range(pos, -1, -1):
                j = order[x]
                k = key(j, sort_by)
                if lo is not None and k <= lo:
                    return
                if hi is not None and k >= hi:
                    continue
                yield j
