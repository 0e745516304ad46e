"""The fast path: which records of a page, and which of their members, need no Python objects.

Design note (why it is correct)
-------------------------------
A page is read twice, both times without Python objects: Arrow's JSON reader reads the typed
values of every known field (``materialize.MODEL_ARROW``), and one pass of C
(``_scan.scan_page``) cuts the body into its records and walks each record's keys against the
tree of known keys that ``Scanner`` builds from the same Arrow type.  The tables are built from
Arrow's values for *every* record; the only thing Python adds is what Arrow cannot see:
unknown keys (for ``extra``), the free-form ``json`` leaves and custom models' ``inputs``.  So:

1. **Where the structure is.**  Outside strings, ``: , { } [ ]`` are the structure; a ``"``
   opens or closes a string unless an odd run of backslashes escapes it.  The pass keeps the
   depth, so it knows each record's span, each top-level member's key and value span (a
   member's value ends at the next ``,`` or ``}`` at the record's depth), and the keys
   written in each (every ``:`` outside strings ends one key).
2. **Which keys are known.**  Every ``:`` ends a key; the pass matches that key's raw bytes
   against the tree at its place: the record's fields, an object's fields, a list's items.
   A top-level member *needs Python* when its key is one Python reads (``PY_ROOTS`` in
   ``materialize``, unless its value is ``null``), or when somewhere inside it a key is not in
   the tree at its place, or an object or list stands where the tree has something else.
3. A member that does not need Python holds only known keys at known places, which Arrow
   read; the exact route would add nothing for it (a known key's ``null`` adds nothing
   either).  So a record none of whose members needs Python skips Python, and a record that
   needs it is decoded only in the members that do; its neighbours keep the typed read.
4. A key whose bytes hold a backslash (an escape) or a control byte cannot be matched: its
   member needs Python, and when it is a top-level key its record is decoded whole.
5. Arrow's reader is laxer than orjson in three ways (found by testing): it takes ``NaN`` /
   ``Infinity``, numbers too large for a double (as infinity) and bytes that are not UTF-8.
   Records where a value could start with ``N``, ``I``, ``-N``, ``-I`` or a blank, that hold a
   number with 290 or more digits and positive exponent together, or that are not UTF-8, are
   flagged ``lax`` and decoded whole (orjson then says what is wrong).

orjson keeps only the last copy of a repeated key and reads integers beyond -2**63 .. 2**64-1
as floats, so the exact route (``materialize.loads_exact``) counts the keys of each decoded
value (record or member, ``count_keys``) against the keys written in its bytes: fewer means a
repeated key, and the record is a reject ("key X appears twice"; a repeated known key already
fails the typed read).  A record whose bytes hold a run of 19 digits is decoded again by the
stdlib, which keeps such integers exactly (``-0`` is read as ``0`` by both).  Nothing is
guessed: when a page is not shaped as the pass assumes (no single literal ``"models"`` key
holding an array, unbalanced brackets), ``split_page`` says why, and the page is decoded whole
(checked by orjson, read exactly by the stdlib) and every record read exactly; a page in which
any object repeats a key (``models`` twice, say) is then one page-level reject with its text,
since the copies orjson would drop cannot be told apart from the one it keeps.  Without the
compiled pass (no C compiler at install) every page takes that route: correct, and slower.

Bad input stops at the record: one nested deeper than ``MAX_DEPTH`` or larger than
``MAX_RECORD_BYTES`` is refused from the pass's figures before any parser sees it, and a page
whose typed read fails is read again in halves until each failing record stands alone
(``materialize.read_spans``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from ..text import is_utf8

try:  # the compiled pass (setup.py); without it every page takes the exact route
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
NOT_BUILT = "the compiled page scanner (tables/_scan.c) is not built"


@dataclass
class Split:
    """Where each element of a page's ``models`` array lies in the body, and what it needs."""

    starts: np.ndarray  # byte offset of each element (its first non-blank byte)
    ends: np.ndarray  # byte offset just past it
    is_object: np.ndarray  # bool: the element is a JSON object
    colons: np.ndarray  # keys written in the element (colons outside strings)
    lax: np.ndarray  # bool: bytes Arrow would take and orjson refuse may be there (see 5.)
    depth: np.ndarray  # nesting levels of the element (1 for a flat object)
    need: np.ndarray  # bool: some member needs Python, or the element is lax
    whole: np.ndarray  # bool: a top-level key cannot be matched by its bytes (see 4.)
    models_open: int  # offset of the models array's '['
    models_close: int  # offset of its ']'
    fields: Fields

    def __len__(self) -> int:
        return len(self.starts)


@dataclass
class Fields:
    """The top-level members (key and value) of a page's object elements, in byte order.

    Member ``m`` belongs to element ``row[m]``; its key is ``body[key_lo[m]:key_hi[m]]`` (the
    bytes between the quotes, escapes not undone), its value ``body[val_lo[m]:val_hi[m]]``
    (blanks around it included), ``colons[m]`` keys are written inside that value and
    ``need[m]`` says whether Python must read it (see 2.).  The members of element ``i`` are
    ``first[i]`` to ``first[i + 1]``.
    """

    row: np.ndarray
    key_lo: np.ndarray
    key_hi: np.ndarray
    val_lo: np.ndarray
    val_hi: np.ndarray
    colons: np.ndarray
    need: np.ndarray
    first: np.ndarray


class Scanner:
    """The tree of known keys of one Arrow struct type, compiled for ``_scan.scan_page``.

    Every struct is an object node, every list a list node over its items' node, anything
    else a scalar.  Top-level fields named in ``python`` are read by Python whatever they
    hold (their node is not walked).
    """

    def __init__(self, record: pa.StructType, python: frozenset[str]) -> None:
        nodes: list[tuple[int, int, tuple]] = []

        def node(typ: pa.DataType, top: bool = False) -> int:
            at = len(nodes)
            nodes.append((2, -1, ()))
            if pa.types.is_struct(typ):
                entries = []
                for f in typ:
                    py = top and f.name in python
                    entries.append((f.name.encode(), at if py else node(f.type), py))
                nodes[at] = (0, -1, tuple(sorted(entries)))
            elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
                nodes[at] = (1, node(typ.value_type), ())
            return at

        node(record, top=True)
        self.nodes = tuple(nodes)
        self._compiled = _scan.compile_schema(self.nodes) if _scan is not None else None

    def split_page(self, body: bytes) -> Split | str:
        """Cut a page body into the elements of its ``models`` array, or say why it cannot.

        Validity of what lies between the structure is left to the readers (Arrow, orjson),
        which see every byte of every record.
        """
        if self._compiled is None:
            return NOT_BUILT
        got = _scan.scan_page(body, self._compiled)
        if isinstance(got, str):
            return got
        i64, u8 = np.int64, np.uint8
        e_start, e_end, e_obj, e_colons, e_depth, e_lax, e_need, e_whole = (
            np.frombuffer(b, t)
            for b, t in zip(got[:8], (i64, i64, u8, i64, i64, u8, u8, u8), strict=True)
        )
        m_row, m_klo, m_khi, m_vlo, m_vhi, m_colons, m_need = (
            np.frombuffer(b, t)
            for b, t in zip(got[8:15], (i64, i64, i64, i64, i64, i64, u8), strict=True)
        )
        lax = e_lax.astype(bool)
        need = e_need.astype(bool)
        if not is_utf8(body):
            for i in range(len(e_start)):
                if not is_utf8(body[e_start[i] : e_end[i]]):
                    lax[i] = need[i] = True
        fields = Fields(
            m_row,
            m_klo,
            m_khi,
            m_vlo,
            m_vhi,
            m_colons,
            m_need.astype(bool),
            np.searchsorted(m_row, np.arange(len(e_start) + 1)),
        )
        return Split(
            e_start,
            e_end,
            e_obj.astype(bool),
            e_colons,
            lax,
            e_depth,
            need,
            e_whole.astype(bool),
            int(got[15]),
            int(got[16]),
            fields,
        )


def record_depth(value: object) -> int:
    """Nesting levels of a decoded value (1 for a flat object or list, 0 for a scalar)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if type(v) is dict:
            todo.extend((x, d + 1) for x in v.values())
        elif type(v) is list:
            todo.extend((x, d + 1) for x in v)
        else:
            continue
        deepest = max(deepest, d)
    return deepest


def split_written(values: list[object], texts: list[bytes]) -> tuple[bytes, Split]:
    """A page written again from decoded records (``texts``: each one's compact JSON), and its
    ``Split`` known by construction (no scan): every record is marked to be read whole by
    Python.  The whole-page route's way of cutting pages; it needs no compiled pass."""
    head = b'{"models":['
    lengths = np.array([len(t) for t in texts], np.int64)
    starts = len(head) + np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
    n = len(values)
    body = head + b",".join(texts) + b"]}"
    yes = np.ones(n, bool)
    none = np.zeros(0, np.int64)
    return body, Split(
        starts=starts[:n],
        ends=starts[:n] + lengths,
        is_object=np.array([type(v) is dict for v in values], bool),
        colons=np.array([count_keys(v) for v in values], np.int64),
        lax=np.zeros(n, bool),
        depth=np.array([record_depth(v) for v in values], np.int64),
        need=yes,
        whole=yes,
        models_open=len(head) - 1,
        models_close=len(body) - 2,
        fields=Fields(
            none, none, none, none, none, none, np.zeros(0, bool), np.zeros(n + 1, np.int64)
        ),
    )


def envelope_error(body: bytes, split: Split) -> str | None:
    """None when the page around its models array is valid JSON, else orjson's reason."""
    try:
        orjson.loads(body[: split.models_open + 1] + body[split.models_close :])
    except orjson.JSONDecodeError as exc:
        return str(exc)
    return None


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


def valid(arr: pa.Array) -> np.ndarray:
    """1 where ``arr`` holds a value, 0 where null (read from the validity bitmap)."""
    n = len(arr)
    nulls = arr.null_count
    if nulls == 0:
        return np.ones(n, np.int64)
    if nulls == n:
        return np.zeros(n, np.int64)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + n].astype(np.int64)


def str_lengths(arr: pa.Array) -> np.ndarray:
    """Byte length of each string of a string array (0 under a null), from the offsets."""
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return np.diff(offsets).astype(np.int64)
