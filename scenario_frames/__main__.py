"""``python -m scenario_frames`` runs the command line, like the ``scenario-frames`` script."""

from .cli import run

run()
