"""Progress of a listing: a bar with a total and an ETA on a terminal, plain log lines elsewhere.

A listing's size is not announced by the API, but a partitioned fetch estimates it early:
the first page and the far-end probe give the catalog's createdAt density at both ends of
the window, which the fetcher integrates over the window (``set_estimate``).  With an
estimate the bar counts models against it, so tqdm shows a percentage and an ETA; the
description says the total is an estimate.  Without one (sequential listings) it counts
pages and models.

When stderr is not a terminal (a log file, a CI job, a pipe) a carriage-return bar would
write one frame per refresh into the file, so this logs plain lines instead: one at the
first page, then at most one every ``LOG_EVERY_S`` seconds, and one when the listing ends.
Jupyter's own tqdm widget is kept, since it writes no frames to any file.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger("scenario_frames.progress")

LOG_EVERY_S = 10.0


def is_interactive() -> bool:
    """True when a live bar is wanted: stderr is a terminal, or tqdm.auto picked its notebook widget."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
    from tqdm.auto import tqdm

    return tqdm.__module__.startswith("tqdm.notebook")


class ListingProgress:
    """Pages and models of one listing, shown as a bar or as periodic log lines.

    ``add(models)`` counts one page; ``set_estimate(total)`` gives the expected number of
    models (the bar then shows a percentage and an ETA); ``close()`` ends it.  Thread-safe:
    the fetch workers call ``add`` concurrently.
    """

    def __init__(
        self,
        desc: str = "GET /models",
        *,
        interactive: bool | None = None,
        log_every_s: float = LOG_EVERY_S,
    ) -> None:
        self.desc = desc
        self.models = 0
        self.pages = 0
        self.estimate: int | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_log: float | None = None
        self._log_every_s = log_every_s
        self._bar: Any = None
        self._closed = False
        if interactive if interactive is not None else is_interactive():
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=desc, unit=" models", dynamic_ncols=True, leave=True)

    def set_estimate(self, total: float | None) -> None:
        """The expected number of models in the whole listing (an estimate, shown as one)."""
        if total is None or total <= 0:
            return
        with self._lock:
            self.estimate = max(int(round(total)), self.models)
            if self._bar is not None:
                _retotal(self._bar, self.estimate)
                self._bar.set_description(f"{self.desc} (total estimated)", refresh=False)
                self._bar.refresh()

    def add(self, models: int, pages: int = 1) -> None:
        """Count ``pages`` more pages holding ``models`` models."""
        with self._lock:
            self.models += models
            self.pages += pages
            if self.estimate is not None and self.models > self.estimate:
                self.estimate = self.models  # the estimate was low: never show over 100%
                if self._bar is not None:
                    _retotal(self._bar, self.estimate)
            if self._bar is not None:
                self._bar.set_postfix(pages=self.pages, refresh=False)
                self._bar.update(models)
                return
            now = time.monotonic()
            due = self._last_log is None or now - self._last_log >= self._log_every_s
            if due:
                self._last_log = now
                log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """One plain progress line: models (of the estimate), pages, time and the ETA."""
        elapsed = (time.monotonic() if now is None else now) - self._started
        text = f"{self.desc}: {self.models:,} models"
        eta = ""
        if self.estimate:
            share = min(self.models / self.estimate, 1.0)
            text += f" of about {self.estimate:,} (estimate, {share:.0%})"
            if 0 < share < 1:
                eta = f", ETA {elapsed * (1 - share) / share:.0f} s"
        return f"{text}, {self.pages:,} pages, {elapsed:.1f} s{eta}"

    def close(self) -> None:
        """End the bar (its total becomes the true count) or log the final line."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bar is not None:
                _retotal(self._bar, self.models)
                self._bar.set_description(self.desc, refresh=False)
                self._bar.refresh()
                self._bar.close()
                self._bar = None
                return
            if self._last_log is not None or self.pages:
                guess, self.estimate = self.estimate, None
                note = f"; its size was estimated at {guess:,}" if guess else ""
                log.info("%s (done%s)", self.line(), note)


def _retotal(bar: Any, total: int) -> None:
    """Give a live bar a new total; Jupyter's widget keeps its own maximum, updated too."""
    bar.total = total
    box = getattr(bar, "container", None)  # tqdm.notebook's HBox(text, IntProgress, text)
    if box is not None:
        meter = box.children[1]
        meter.max = max(total, 1)
        meter.bar_style = ""  # the unknown-total style is "info"
        meter.layout.width = None


def make_progress(enabled: bool, desc: str = "GET /models") -> ListingProgress | None:
    """A ``ListingProgress`` when ``enabled``, else None (callers test for None)."""
    return ListingProgress(desc) if enabled else None
