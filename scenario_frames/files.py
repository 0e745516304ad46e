"""Files written whole or not at all, and their digests (foundation: imports nothing of ours).

The listing's checkpoint, the snapshot store and the ``usage`` command all write files a
crash must not leave half written, and check files against a recorded sha256; the helpers
live here, below every layer that needs them, so none borrows them from a sibling.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Write a file so that a crash leaves either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_dir:
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
