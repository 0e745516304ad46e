"""The CLI starts without importing what the snapshot command doesn't use."""

from __future__ import annotations

import subprocess
import sys

from scenario_frames.demo import ALL_FAULTS


def loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter; which of ``modules`` did it import?"""
    probe = code + f"\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_parser_does_not_import_demo_usage_or_ui() -> None:
    heavy = (
        "scenario_frames.demo",
        "scenario_frames.usage",
        "scenario_frames.notebook.panel",
        "scenario_frames.notebook.charts",
        "altair",
        "ipywidgets",
        "tqdm",
    )
    assert loaded_after("from scenario_frames.cli import build_parser\nbuild_parser()", heavy) == []


def test_demo_server_help_lists_every_fault_kind() -> None:
    from scenario_frames.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command")
    faults = next(a for a in subs.choices["demo-server"]._actions if a.dest == "faults")
    listed = faults.help.split("all of them: ", 1)[1].rstrip(")").split(", ")
    assert tuple(listed) == ALL_FAULTS
    assert faults.type("500,reset") == ("500", "reset")


def test_building_tables_does_not_pull_in_pandas() -> None:
    """pyarrow's to_numpy/fill_null load pandas when it is installed (~0.1 s per command run);
    the fetch-and-build path avoids them, so the snapshot command does not pay for pandas."""
    code = (
        "from scenario_frames.demo import serve_demo\n"
        "from scenario_frames.fetch import fetch_catalog\n"
        "with serve_demo(models=400, seed=5) as server:\n"
        "    cat = fetch_catalog(base_url=server.base_url, privacy='public', progress=False)\n"
        "assert cat.counts['models'] > 0 and cat.counts['variants'] > 0\n"
    )
    assert loaded_after(code, ("pandas",)) == []
