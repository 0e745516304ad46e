"""Run a piece of a test with a hard bound on its time, without a plugin.

``bounded(fn, seconds)`` runs ``fn`` in a daemon thread and returns its result (or raises its
exception); when it has not returned after ``seconds`` the test fails, naming the bound, so
a hang in the code under test ends the test instead of the whole run.  The bound is a
safety net, never the assertion: the tests assert on what the code reports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def bounded(fn: Callable[[], T], seconds: float = 60.0) -> T:
    """``fn()``, failing the test if it takes longer than ``seconds``."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test's thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True, name="bounded-test-body")
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"still running after {seconds:g} s: the code under test hangs")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
