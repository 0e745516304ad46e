"""Imports every module that registers a CLI subcommand (kept apart to avoid import cycles)."""

from __future__ import annotations

import contextlib

# Each module below defines ``@subcommand`` registrars.  They are imported lazily by the CLI
# only, so importing scenario_frames stays light.
for _name in ("demo.cli", "cli_snapshot", "cli_usage"):
    with contextlib.suppress(ModuleNotFoundError):
        __import__(f"scenario_frames.{_name}")
