"""The fast path: which records of a page, and which of their members, need no Python objects.

Design note (why it is correct)
-------------------------------
A page is read twice, both times without Python objects: Arrow's JSON reader reads the typed
values of every known field (``materialize.MODEL_ARROW``), and ``split_page`` cuts the body
into its records with numpy.  The tables are built from Arrow's values for *every* record; the
only thing Python adds is what Arrow cannot see: unknown keys (for ``extra``), the free-form
``json`` leaves and custom models' ``inputs``.  So a record may skip Python exactly when it has
no unknown key and holds none of those fields.  That is proved by counting, per record:

1. **Keys in the bytes.**  Outside strings, every ``:`` of a JSON text ends exactly one key.
   ``split_page`` masks the strings (a ``"`` opens or closes one unless an odd run of
   backslashes escapes it) and counts the remaining colons inside each record's span.
2. **Keys Arrow read.**  ``key_counts`` adds, per record, one for every known field whose
   value is not null, at every level of the schema (objects, and items of lists of objects,
   summed back to their record).
3. Every key Arrow counted is a key in the bytes, so the two counts are equal **iff** every
   key of the record is a known key at a known place with a non-null value: no unknown key,
   no explicit ``null``, nothing the exact route would add.
4. Arrow's reader is laxer than orjson in two ways (found by testing): it takes ``NaN`` /
   ``Infinity`` and bytes that are not UTF-8.  Records where a value could start with ``N``,
   ``I``, ``-I`` or a blank, or that are not UTF-8, are flagged ``lax``.
5. **The same, per member.**  The counts also hold member by member: a top-level member
   (key and value) whose written keys (``Fields.colons`` + 1) equal the keys Arrow read for
   that field (``field_key_counts``) holds no unknown key and no ``null``.  An unknown key is
   a member Arrow read nothing of, so it always differs.  ``member_routes`` finds, for each
   record that differs, the members that do (keys matched by their raw bytes, vectorized).

A record whose counts differ, or that holds a field Python reads (``PY_ROOTS`` in
``materialize``), goes to Python alone; its neighbours keep the typed read.  Python decodes
only the members that differ and those fields, into a dict in the record's order, and the
exact route walks that dict: every member left out is proved to add nothing (5.).  A record
that is ``lax``, or holds a key with an escape or a control byte (its bytes cannot be
matched), is decoded whole.

orjson keeps only the last copy of a repeated key and reads integers beyond -2**63 .. 2**64-1
as floats, so the exact route (``materialize.loads_exact``) counts the keys of each decoded
value (record or member) against its colons: fewer means a repeated key, and the record is a
reject ("key X appears twice"; a repeated known key already fails the typed read on either
route).  A record whose bytes hold a run of 19 digits is decoded again by the
stdlib, which keeps such integers exactly (``-0`` is read as ``0`` by both).  Nothing is
guessed: when a page is not shaped as the counting assumes (no single literal ``"models"`` key
holding an array, unbalanced brackets), ``split_page`` says why, and the page is decoded whole
(checked by orjson, read exactly by the stdlib) and every record read exactly; a page in which
any object repeats a key (``models`` twice, say) is then one page-level reject with its text,
since the copies orjson would drop cannot be told apart from the one it keeps.

Bad input stops at the record: one nested deeper than ``MAX_DEPTH`` or larger than
``MAX_RECORD_BYTES`` is refused from these counts before any parser sees it, and a page whose
typed read fails is read again in halves until each failing record stands alone
(``materialize.read_spans``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from ..text import is_utf8

try:  # the compiled loops (setup.py); without a C compiler, numpy does the same work slower
    from . import _scan
except ImportError:  # pragma: no cover - depends on the build
    _scan = None  # type: ignore[assignment]

# Limits of one record.  orjson writes at most 254 nested levels, and every record must be
# writable again (extras, rejects' raw text), so deeper records are refused; real records are a
# few levels deep.  The size limit keeps one record from holding a page's memory hostage; the
# largest real records (custom models with many inputs) are tens of kilobytes.
MAX_DEPTH = 200
MAX_RECORD_BYTES = 4 << 20
TOO_DEEP = f"record is nested more than {MAX_DEPTH} levels deep"

_COLON, _COMMA, _LBRACE, _RBRACE, _LBRACK, _RBRACK, _QUOTE, _BSLASH = b':,{}[]"\\'
_WS = b" \t\r\n"


@dataclass
class Split:
    """Where each element of a page's ``models`` array lies in the body, with its counts."""

    starts: np.ndarray  # byte offset of each element (its first non-blank byte)
    ends: np.ndarray  # byte offset just past it
    is_object: np.ndarray  # bool: the element is a JSON object
    colons: np.ndarray  # keys written in the element (colons outside strings)
    lax: np.ndarray  # bool: bytes Arrow would take and orjson refuse may be there (see 4.)
    depth: np.ndarray  # nesting levels of the element (1 for a flat object)
    models_open: int  # offset of the models array's '['
    models_close: int  # offset of its ']'
    fields: Fields | None = None  # the top-level members of the object elements

    def __len__(self) -> int:
        return len(self.starts)


@dataclass
class Fields:
    """The top-level members (key and value) of a page's object elements, in byte order.

    Member ``m`` belongs to element ``row[m]``; its key is ``body[key_lo[m]:key_hi[m]]`` (the
    bytes between the quotes, escapes not undone), its value ``body[val_lo[m]:val_hi[m]]``
    (blanks around it included) and ``colons[m]`` keys are written inside that value.  The
    members of element ``i`` are ``first[i]`` to ``first[i + 1]``.
    """

    row: np.ndarray
    key_lo: np.ndarray
    key_hi: np.ndarray
    val_lo: np.ndarray
    val_hi: np.ndarray
    colons: np.ndarray
    first: np.ndarray


def _escaped(body: bytes, a: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """A bool per quote position: True when an odd run of backslashes escapes it."""
    esc = np.zeros(len(quotes), bool)
    for n in np.flatnonzero(a[np.maximum(quotes - 1, 0)] == _BSLASH).tolist():
        p = int(quotes[n])
        k = p - 1
        while k >= 0 and body[k] == _BSLASH:
            k -= 1
        esc[n] = (p - 1 - k) % 2 == 1
    return esc


def _structure_numpy(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``structure`` in numpy: the same arrays, in about a dozen passes over the body."""
    a = np.frombuffer(body, np.uint8)
    folded = a | 32  # '[' -> '{', ']' -> '}': one comparison finds both kinds of bracket
    ev = np.flatnonzero(
        (a == _QUOTE) | (a == _COLON) | (a == _COMMA) | (folded == _LBRACE) | (folded == _RBRACE)
    ).astype(np.int32)
    del folded
    ch = a[ev]
    isq = ch == _QUOTE
    if body.find(b"\\") >= 0:  # escaped quotes neither open nor close a string
        drop = np.flatnonzero(isq)[_escaped(body, a, ev[isq])]
        if len(drop):
            ev, ch, isq = np.delete(ev, drop), np.delete(ch, drop), np.delete(isq, drop)
    inside = (np.cumsum(isq, dtype=np.int8) & 1).astype(bool)  # odd count of quotes so far
    keep = ~isq & ~inside
    return ev[keep], ch[keep], ev[isq]


def structure(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a body's JSON structure is: the offsets (int32) and bytes (uint8) of every
    ``: , { } [ ]`` outside strings, and the offsets of the quotes that open or close strings
    (a ``"`` is escaped by an odd run of backslashes right before it).

    One pass of C (``_scan.structure``, without the GIL) when the extension is built, else
    ``_structure_numpy``; tests hold the two to the same answers.
    """
    if _scan is None:
        return _structure_numpy(body)
    events, chars, quotes = _scan.structure(body)
    return (
        np.frombuffer(events, np.int32),
        np.frombuffer(chars, np.uint8),
        np.frombuffer(quotes, np.int32),
    )


def _count_keys_python(value: object) -> int:
    """``count_keys`` in Python."""
    n, todo = 0, [value]
    while todo:
        v = todo.pop()
        if type(v) is dict:
            n += len(v)
            todo.extend(v.values())
        elif type(v) is list:
            todo.extend(v)
    return n


def count_keys(value: object) -> int:
    """The keys of every object in a decoded JSON value (dicts and lists walked, exact types
    only), in C when the extension is built."""
    return _count_keys_python(value) if _scan is None else _scan.count_keys(value)


def split_page(body: bytes) -> Split | str:
    """Cut a page body into the elements of its ``models`` array, or say why it cannot.

    Structural characters are those outside strings; their running depth gives the array's
    extent and the commas that separate its elements.  Validity of what lies between them is
    left to the readers (Arrow, orjson), which see every byte of every record.
    """
    a = np.frombuffer(body, np.uint8)
    pos, ch, quotes = structure(body)
    if len(quotes) % 2:
        return "a string is not closed"
    opens = ((ch == _LBRACE) | (ch == _LBRACK)).astype(np.int64)
    closes = ((ch == _RBRACE) | (ch == _RBRACK)).astype(np.int64)
    after = np.cumsum(opens - closes)
    if not len(pos) or after[-1] != 0 or after.min() < 0:
        return "brackets do not balance"
    if ch[0] != _LBRACE or body[: pos[0]].strip(_WS) or body[pos[-1] + 1 :].strip(_WS):
        return "the page is not one JSON object"
    before = after - opens + closes
    # The top object's keys: colons at depth 1.  Exactly one must be the literal "models".
    top = np.flatnonzero((ch == _COLON) & (before == 1))
    found = []
    for j in top.tolist():
        k = int(np.searchsorted(quotes, pos[j])) - 1
        if k < 1 or body[quotes[k] + 1 : pos[j]].strip(_WS):
            return "a key is not a string"
        key = body[quotes[k - 1] + 1 : quotes[k]]
        if b"\\" in key:
            return "a key of the page is escaped"
        if key == b"models":
            found.append(j)
    if len(found) != 1:
        return "no single models key"
    j1 = found[0] + 1
    if ch[j1] != _LBRACK or body[pos[j1 - 1] + 1 : pos[j1]].strip(_WS):
        return "models is not an array"
    rel = np.flatnonzero(after[j1 + 1 :] < 2)
    k = j1 + 1 + int(rel[0])
    if ch[k] != _RBRACK:
        return "models is not closed"
    seps = j1 + 1 + np.flatnonzero((ch[j1 + 1 : k] == _COMMA) & (before[j1 + 1 : k] == 2))
    bounds = np.concatenate(([j1], seps, [k]))
    lo = pos[bounds[:-1]] + 1  # first byte after '[' or ','
    hi = pos[bounds[1:]]  # the next ',' or ']'
    first = bounds[:-1] + 1  # first structural event of each element
    if len(seps) == 0 and not body[lo[0] : hi[0]].strip(_WS):
        empty = np.zeros(0, np.int64)
        return Split(
            empty,
            empty,
            np.zeros(0, bool),
            empty,
            np.zeros(0, bool),
            empty,
            int(pos[j1]),
            int(pos[k]),
        )
    starts = lo.copy()
    ends = hi.copy()
    is_object = (ch[first] == _LBRACE) & (pos[first] == lo)
    # Elements with blanks around them (pretty-printed pages): trim by hand, rarely needed.
    loose = np.flatnonzero((a[np.minimum(lo, len(a) - 1)] <= 32) | (a[hi - 1] <= 32))
    for i in loose.tolist():
        seg = body[lo[i] : hi[i]]
        stripped = seg.lstrip(_WS)
        if not stripped:
            return "an element of models is empty"
        starts[i] = lo[i] + len(seg) - len(stripped)
        ends[i] = hi[i] - (len(stripped) - len(stripped.rstrip(_WS)))
        is_object[i] = ch[first[i]] == _LBRACE and pos[first[i]] == starts[i]
    if np.any(ends <= starts):
        return "an element of models is empty"
    is_colon = ch == _COLON
    colon_before = np.concatenate(([0], np.cumsum(is_colon, dtype=np.int32)))
    colons = colon_before[bounds[1:]] - colon_before[bounds[:-1] + 1]
    fields = _members(body, pos, ch, before, is_colon, colon_before, quotes, bounds)
    depth = np.maximum.reduceat(after[:k], bounds[:-1]) - 2
    # Where a value may start (after ':', ',' or '['): NaN, Infinity, -Infinity, or a blank
    # that hides the next byte.  Rare in real pages; a flagged record is only read exactly.
    lax = np.zeros(len(starts), bool)
    vstart = np.flatnonzero((ch == _COLON) | (ch == _COMMA) | (ch == _LBRACK))
    nxt = pos[vstart] + 1  # never past the end: the page ends with '}'
    c1 = a[nxt]
    odd = (c1 == 78) | (c1 == 73) | (c1 <= 32)  # N, I, blank
    minus = np.flatnonzero(c1 == 45)
    odd[minus[a[nxt[minus] + 1] == 73]] = True  # -I
    if odd.any():
        owner = np.searchsorted(bounds, vstart[odd], side="right") - 1
        lax[owner[(owner >= 0) & (owner < len(starts)) & (vstart[odd] < k)]] = True
    if not is_utf8(body):
        for i in range(len(starts)):
            if not is_utf8(body[starts[i] : ends[i]]):
                lax[i] = True
    return Split(starts, ends, is_object, colons, lax, depth, int(pos[j1]), int(pos[k]), fields)


def _members(
    body: bytes,
    pos: np.ndarray,
    ch: np.ndarray,
    before: np.ndarray,
    is_colon: np.ndarray,
    colon_before: np.ndarray,
    quotes: np.ndarray,
    bounds: np.ndarray,
) -> Fields:
    """The top-level members of the elements: a colon at depth 3 (page, array, element) ends
    a member's key (the string just before it) and the next ``,`` or ``}`` at that depth ends
    its value.  Only meaningful for elements a reader accepted as objects."""
    at3 = before == 3
    col = np.flatnonzero(is_colon & at3)
    term = np.flatnonzero(at3 & ((ch == _COMMA) | (ch == _RBRACE)))
    if not len(col) or not len(term):
        empty = np.zeros(0, np.int64)
        return Fields(empty, empty, empty, empty, empty, empty, np.zeros(len(bounds), np.int64))
    end = term[np.minimum(np.searchsorted(term, col), len(term) - 1)]
    q = np.searchsorted(quotes, pos[col])  # quotes before each colon
    q = np.maximum(q, 2)  # a colon has at least a key's two quotes before it in a valid page
    row = np.searchsorted(bounds, col, side="right") - 1
    return Fields(
        row=row,
        key_lo=quotes[q - 2].astype(np.int64) + 1,
        key_hi=quotes[q - 1].astype(np.int64),
        val_lo=pos[col].astype(np.int64) + 1,
        val_hi=pos[end].astype(np.int64),
        colons=(colon_before[end] - colon_before[col + 1]).astype(np.int64),
        first=np.searchsorted(row, np.arange(len(bounds))),
    )


def envelope_error(body: bytes, split: Split) -> str | None:
    """None when the page around its models array is valid JSON, else orjson's reason."""
    try:
        orjson.loads(body[: split.models_open + 1] + body[split.models_close :])
    except orjson.JSONDecodeError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------
# Keys Arrow read, per record
# ---------------------------------------------------------------------------------------------


def _valid(arr: pa.Array) -> np.ndarray:
    """1 where ``arr`` holds a value, 0 where null (read from the validity bitmap)."""
    n = len(arr)
    nulls = arr.null_count
    if nulls == 0:
        return np.ones(n, np.int64)
    if nulls == n:
        return np.zeros(n, np.int64)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + n].astype(np.int64)


def _lengths(lst: pa.Array) -> np.ndarray:
    """Items per list (0 for null lists), from the offsets."""
    offsets = np.frombuffer(lst.buffers()[1], np.int32)[lst.offset : lst.offset + len(lst) + 1]
    return np.diff(offsets).astype(np.int64) * _valid(lst)


def field_key_counts(arr: pa.StructArray, level) -> dict[str, np.ndarray]:
    """Per field of ``arr`` and per row: the keys with a non-null value that Arrow read for that
    field, its own key included (1 + the keys below it; 0 when null or absent).

    ``level`` is a ``materialize.Level``.  List items are counted and summed back to their row
    (a list null or empty adds nothing below its own key).
    """
    n = len(arr)
    kids = dict(zip(arr.type.names, arr.flatten(), strict=True))  # parents' nulls applied
    out = {key: _valid(child) for key, child in kids.items()}
    for key, sub in level.objs:
        out[key] = out[key] + key_counts(kids[key], sub)
    lists = [(key, item) for key, item, _table in level.lists]
    if level.nested is not None:
        lists.append(level.nested)
    for key, item in lists:
        lst = kids[key]
        lengths = _lengths(lst)
        if not lengths.any():
            continue
        values = lst.flatten()  # the items of the non-null lists, in order
        per_item = key_counts(values, item)
        owner = np.repeat(np.arange(n), lengths)
        out[key] = out[key] + np.bincount(owner, weights=per_item, minlength=n).astype(np.int64)
    return out


def key_counts(arr: pa.StructArray, level) -> np.ndarray:
    """Per row of ``arr``: the keys with a non-null value that Arrow read at ``level`` and below."""
    total = np.zeros(len(arr), np.int64)
    for counts in field_key_counts(arr, level).values():
        total += counts
    return total


@functools.cache
def _key_table(known: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The known keys as sorted fixed-width bytes, and each one's index in ``known``."""
    names = sorted(k.encode() for k in known)
    table = np.array(names, dtype=f"S{max(len(k) for k in names)}")
    return table, np.array([known.index(k.decode()) for k in names], np.int64)


def member_routes(
    body: bytes,
    fields: Fields,
    held: np.ndarray,
    rows: np.ndarray,
    by_field: dict[str, np.ndarray],
    known: tuple[str, ...],
    python: frozenset[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Which top-level members of the held rows ``rows`` Python must read, and which of those
    rows it must read whole.

    A member needs Python when its key is in ``python``, or when the keys written in it (its
    own and ``fields.colons``) differ from the keys Arrow read for that field (``by_field``,
    per held row; none for a key not in ``known``, so an unknown member always differs).  A
    row whose members cannot be matched by their raw bytes (a key holding an escape or a
    control byte) is read whole.  Returns a bool per member (False outside ``rows``) and a
    bool per held row.
    """
    a = np.frombuffer(body, np.uint8)
    need = np.zeros(len(fields.row), bool)
    whole = np.zeros(len(held), bool)
    recs = held[rows]
    lens = fields.first[recs + 1] - fields.first[recs]
    if not lens.sum():
        return need, whole
    sel = np.repeat(fields.first[recs] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    hj = np.repeat(rows, lens)  # the held row of each selected member
    key_lo, key_hi = fields.key_lo[sel], fields.key_hi[sel]
    table, order = _key_table(known)
    width = table.dtype.itemsize
    klen = key_hi - key_lo
    cols = np.arange(width)
    inside = cols < klen[:, None]
    mat = a[np.minimum(key_lo[:, None] + cols, len(a) - 1)]
    odd = (((mat == _BSLASH) | (mat < 32)) & inside).any(axis=1)
    for m in np.flatnonzero(klen > width).tolist():  # long keys (never known): their tails
        tail = a[key_lo[m] + width : key_hi[m]]
        odd[m] = odd[m] or bool(((tail == _BSLASH) | (tail < 32)).any())
    mat[~inside] = 0
    keys = np.ascontiguousarray(mat).view(f"S{width}").ravel()
    at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    is_known = (table[at] == keys) & (klen <= width) & ~odd
    counts = np.zeros((len(known) + 1, len(held)), np.int64)  # the last row: unknown keys
    for k, key in enumerate(known):
        if key in by_field:
            counts[k] = by_field[key]
    field = np.where(is_known, order[at], len(known))
    py = np.array([k in python for k in known] + [False])
    need[sel] = py[field] | (counts[field, hj] != fields.colons[sel] + 1)
    whole[hj[odd]] = True
    return need, whole


def str_lengths(arr: pa.Array) -> np.ndarray:
    """Byte length of each string of a string array (0 under a null), from the offsets."""
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return np.diff(offsets).astype(np.int64)
