"""The checkpoint of a listing: each window's pages and state, written atomically as they arrive.

With a checkpoint folder every page and a small state file per window (``Partition``) are
written as they land, so a killed fetch resumes where each window stopped.  A stored token
the server no longer accepts (expired) does not fail the resume: the window restarts from
the last position it kept.  ``fingerprint`` names the (server, query, page size) a folder
belongs to, so a folder only resumes the same fetch; ``consume_checkpoint`` drops the pages
once a snapshot holds them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import CheckpointMismatchError
from ..files import atomic_write
from ..transport.client import ScenarioClient
from ..urls import safe_base_url
from .paginate import DEFAULT_PAGE_SIZE, _ids
from .query import ModelQuery, iso_utc, parse_iso

log = logging.getLogger(__name__)

# Partitions and their checkpoint
# ---------------------------------------------------------------------------------------------


@dataclass
class Partition:
    """A window of the listing: its query bounds, its effective stop, and how far it got."""

    id: int
    lo: int | None  # query window, key space, inclusive (None: open)
    hi: int | None  # query window, exclusive (None: open)
    stop: int | None  # effective end: records with key >= stop belong to a later window
    token: str | None = None
    pages: int = 0
    models: int = 0
    first: int | None = None  # key of the first record received
    pos: int | None = None  # key of the last record kept
    done: bool = False
    resume_at: int | None = None  # set when a stored token was refused: query from here on
    # runtime only
    busy: bool = field(default=False, repr=False, compare=False)
    bodies: list[bytes] = field(default_factory=list, repr=False, compare=False)
    ids: list[list[str]] = field(default_factory=list, repr=False, compare=False)

    def state(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("busy", "bodies", "ids"):
            d.pop(k)
        return d

    def order_key(self) -> tuple[int, int]:
        return (0, 0) if self.lo is None else (1, self.lo)


class Checkpoint:
    """A folder holding a listing in progress: pages as they arrive plus one state per window.

    Files: ``checkpoint.json`` (which query, which mode), ``part-NNNNN.json`` (a window's
    bounds, next token, pages stored, done flag) and ``part-NNNNN-PPPPPP.json`` (page bodies).
    A page is written before the state that counts it, and a new window's state before the
    shrunk state of the window it was cut from, so a crash at any instant loses nothing.
    """

    FORMAT = 1

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.started_at: datetime | None = None  # when the fetch it holds began

    def _part(self, pid: int) -> Path:
        return self.folder / f"part-{pid:05d}.json"

    def _page(self, pid: int, index: int) -> Path:
        return self.folder / f"part-{pid:05d}-{index:06d}.json"

    def open(
        self, fingerprint: str, description: dict[str, Any], mode: str
    ) -> tuple[str, list[Partition]]:
        """Start a new checkpoint or load a matching one; returns (mode, partitions)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        head = self.folder / "checkpoint.json"
        info = orjson.loads(head.read_bytes()) if head.exists() else None
        if info is not None and info.get("consumed"):
            # Its fetch was finished and written: nothing to resume, so this is a new fetch.
            log.info(
                "checkpoint %s was already written as snapshot %s: starting a fresh fetch in it",
                self.folder,
                info["consumed"],
            )
            _drop_pages(self.folder)
        elif info is not None:
            if info.get("fingerprint") != fingerprint:
                raise CheckpointMismatchError(
                    f"checkpoint folder {str(self.folder)!r} belongs to a different fetch "
                    f"(query {info.get('query')!r} at {info.get('base_url')!r}); "
                    "use another folder or delete this one"
                )
            parts = []
            for path in sorted(self.folder.glob("part-?????.json")):
                p = Partition(**orjson.loads(path.read_bytes()))
                for i in range(p.pages):
                    body = self._page(p.id, i).read_bytes()
                    p.bodies.append(body)
                    p.ids.append(_ids(orjson.loads(body).get("models", [])))
                parts.append(p)
            with contextlib.suppress(TypeError, ValueError):
                self.started_at = parse_iso(info["started_at"])
            return str(info.get("mode", mode)), parts
        now = datetime.now(UTC)
        self.started_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as stored
        info = {
            "format": self.FORMAT,
            "fingerprint": fingerprint,
            "mode": mode,
            "started_at": iso_utc(self.started_at),
            **description,
        }
        atomic_write(head, orjson.dumps(info, option=orjson.OPT_INDENT_2), sync_dir=True)
        return mode, []

    def write_page(self, pid: int, index: int, body: bytes) -> None:
        atomic_write(self._page(pid, index), body)

    def write_state(self, p: Partition) -> None:
        atomic_write(self._part(p.id), orjson.dumps(p.state()), sync_dir=True)


def consume_checkpoint(folder: str | os.PathLike[str], snapshot: str) -> None:
    """Mark a checkpoint as written into ``snapshot`` and drop its pages.

    A checkpoint exists to finish one interrupted fetch.  Once its listing has become a
    snapshot, replaying it later would write old pages as if they were fresh, so its pages
    and window states are removed and ``checkpoint.json`` keeps only a note of the snapshot
    it became; the next fetch given this folder starts afresh (and may itself be resumed).
    Files that are not the checkpoint's own are left alone.
    """
    root = Path(folder)
    head = root / "checkpoint.json"
    if not head.is_file():
        return
    info = orjson.loads(head.read_bytes())
    note = {
        k: info.get(k) for k in ("format", "fingerprint", "mode", "started_at", "base_url", "query")
    }
    note["consumed"] = snapshot
    atomic_write(head, orjson.dumps(note, option=orjson.OPT_INDENT_2), sync_dir=True)
    _drop_pages(root)


def _drop_pages(folder: Path) -> None:
    """Remove a checkpoint's page and window files (nothing else)."""
    for path in folder.glob("part-?????*.json"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def save_pages_checkpoint(
    folder: str | os.PathLike[str],
    client: ScenarioClient,
    query: ModelQuery | dict[str, Any],
    pages: list[bytes],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Path:
    """Write the pages of a finished listing as a complete checkpoint in ``folder``.

    Used when a fetch succeeded but its snapshot could not be written: a rerun of the same
    fetch with this folder as its checkpoint gets the same pages without a request.
    """
    q = query if isinstance(query, ModelQuery) else ModelQuery.build(**query)
    store = Checkpoint(folder)
    digest, desc = fingerprint(client, q, q.page_size or page_size)
    store.open(digest, desc, "sequential")
    for i, body in enumerate(pages):
        store.write_page(0, i, body)
    records = sum(len(_ids(orjson.loads(b).get("models", []))) for b in pages)
    store.write_state(
        Partition(id=0, lo=None, hi=None, stop=None, pages=len(pages), models=records, done=True)
    )
    return store.folder


def fingerprint(
    client: ScenarioClient, query: ModelQuery, page_size: int
) -> tuple[str, dict[str, Any]]:
    """A digest naming (server, query, page size): a checkpoint only resumes the same fetch."""
    desc = {"base_url": safe_base_url(client.base_url), "query": query.params(page_size=page_size)}
    digest = hashlib.sha256(orjson.dumps(desc, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest, desc
