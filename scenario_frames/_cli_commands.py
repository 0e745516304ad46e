"""Imports every module that registers a CLI subcommand (kept apart to avoid import cycles).

The CLI imports this lazily, so ``import scenario_frames`` stays light.
"""

from __future__ import annotations

from . import cli_snapshot, cli_usage  # noqa: F401  (they register subcommands)
from .demo import cli as demo_cli  # noqa: F401
