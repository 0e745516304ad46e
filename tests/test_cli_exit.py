"""Run as a program, the command line ends as soon as its work is done, losing nothing.

``python -m scenario_frames`` (and the console script) skip the interpreter's teardown once
``main`` returns: these tests check that what the command printed and wrote is all there, and
that its exit code is the process's, on success and on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No SCENARIO_ credentials, and stdout buffered as a user's pipe has it (no PYTHONUNBUFFERED).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCENARIO_") and k != "PYTHONUNBUFFERED"
    }
    return subprocess.run(
        [sys.executable, "-m", "scenario_frames", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_a_finished_command_has_printed_and_written_everything(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    done = _run(
        "snapshot", "--demo", "--demo-models", "300", "--no-progress", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "models" in done.stdout and done.stdout.endswith("\n")
    folders = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["tables"]["models"]["rows"] > 0


def test_a_failed_command_exits_with_its_code_and_says_why(tmp_path: Path) -> None:
    done = _run(
        "snapshot", "--base-url", "http://127.0.0.1:9/v1", "--privacy", "public",
        "--deadline", "5", "--no-progress", "--out", str(tmp_path / "snap"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.endswith("\n") and done.stderr.splitlines()[-1].startswith("error: ")
