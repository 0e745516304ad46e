"""``python -m scenario_frames`` runs the command line, like the ``scenario-frames`` script."""

import sys

from .cli import main

sys.exit(main())
