"""The embedded demo Scenario API: a lazily generated catalog served over loopback HTTP.

``serve_demo()`` runs it in-process for tests and notebooks; ``scenario-frames demo-server``
runs it from the command line.  Without arguments both serve the one demo catalog (2,000
models, seed 0) that every ``--demo`` of the CLI uses; the key pair ``demo``/``demo`` lists its
private and unlisted models and its usage, the public token its public models.  See ``server`` for the decisions it makes where the API
reference leaves room, ``engine`` for how a ``GET /models`` query is answered (rules, filters,
order, pagination tokens), and ``generator`` for how records are made.
"""

from __future__ import annotations

from .generator import DemoCatalog, make_records
from .server import (
    ALL_FAULTS,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_MODELS,
    DEMO_SEED,
    DemoServer,
    Faults,
    PortInUseError,
    PrivacySplit,
    RequestRecord,
    Stats,
    serve_demo,
)

__all__ = [
    "ALL_FAULTS",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "DEMO_MODELS",
    "DEMO_SEED",
    "PortInUseError",
    "PrivacySplit",
    "DemoCatalog",
    "DemoServer",
    "Faults",
    "RequestRecord",
    "Stats",
    "make_records",
    "serve_demo",
]
