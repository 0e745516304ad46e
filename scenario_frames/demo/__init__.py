"""The embedded demo Scenario API: a lazily generated catalog served over loopback HTTP.

``serve_demo()`` runs it in-process for tests and notebooks; ``scenario-frames demo-server``
runs it from the command line.  See ``server`` for the decisions it makes where the API
reference leaves room, and ``generator`` for how records are made.
"""

from __future__ import annotations

from .generator import DemoCatalog, make_records
from .server import ALL_FAULTS, DemoServer, Faults, RequestRecord, Stats, serve_demo

__all__ = [
    "ALL_FAULTS",
    "DemoCatalog",
    "DemoServer",
    "Faults",
    "RequestRecord",
    "Stats",
    "make_records",
    "serve_demo",
]
