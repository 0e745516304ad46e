"""The CLI starts without importing what the snapshot command doesn't use."""

from __future__ import annotations

import subprocess
import sys

from scenario_frames.demo import ALL_FAULTS


def test_parser_does_not_import_demo_usage_or_ui() -> None:
    code = (
        "import sys\n"
        "from scenario_frames.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('scenario_frames.demo', 'scenario_frames.usage', 'scenario_frames.panel',\n"
        "         'scenario_frames.charts', 'altair', 'ipywidgets', 'tqdm')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_demo_server_help_lists_every_fault_kind() -> None:
    from scenario_frames.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command")
    faults = next(a for a in subs.choices["demo-server"]._actions if a.dest == "faults")
    listed = faults.help.split("all of them: ", 1)[1].rstrip(")").split(", ")
    assert tuple(listed) == ALL_FAULTS
    assert faults.type("500,reset") == ("500", "reset")
