"""The ``scenario-frames`` command line (the top layer: it may import every other part).

``run`` is the console script's entry point (``main`` then a prompt exit); ``build_parser`` assembles the subcommands of
``snapshot`` (snapshot, diff), ``usage`` and ``demo_server`` from one explicit list, and
``common`` holds the flags and checks they share.
"""

from __future__ import annotations

from .common import DEMO_CREDENTIALS, DEMO_MODELS, MAX_DEMO_MODELS, has_credentials
from .main import build_parser, error_text, main, run

__all__ = [
    "DEMO_CREDENTIALS",
    "DEMO_MODELS",
    "MAX_DEMO_MODELS",
    "build_parser",
    "error_text",
    "has_credentials",
    "main",
    "run",
]
