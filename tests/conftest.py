"""Shared fixtures: a small demo Scenario API per test module, and its credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scenario_frames.demo import DemoServer, serve_demo

DEMO_AUTH = ("demo", "demo")
PUBLIC_HEADERS = {"Authorization": "public-auth-token"}


@pytest.fixture(scope="module")
def demo_server() -> Iterator[DemoServer]:
    """A 300-model demo server (seed 0, no faults), shared by the tests of one module."""
    with serve_demo(models=300, seed=0) as server:
        yield server
