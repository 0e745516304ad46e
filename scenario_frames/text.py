"""Checks on raw bytes that both the listing and the tables need (foundation: imports nothing of ours).

Page bodies are validated before Arrow's JSON reader is trusted with them, because that reader
accepts bytes that are not UTF-8 where orjson, whose verdict on JSON the package follows,
refuses them.  Python's own check (``bytes.decode``) builds a whole ``str`` only to throw it
away; Arrow's validates the bytes in place, about thirty times faster on a page of 1.7 MB
(measured: 4 ms against 112 ms for 40 such pages), with the same rules (no surrogates, no
overlong forms, nothing above U+10FFFF).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["is_utf8"]


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, checked by Arrow on the bytes in place (no copy)."""
    if data.isascii():
        return True
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True
