"""Progress of a listing: an estimated total and ETA on a terminal, plain lines in log files.

The estimate comes from the window probes of a partitioned fetch; the tests read it from
what the progress display reports (its log lines or its terminal frames), never from timing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from scenario_frames.demo import serve_demo
from scenario_frames.fetch import fetch_pages
from scenario_frames.listing.progress import ListingProgress
from scenario_frames.transport.client import ScenarioClient

SCRIPT = shutil.which("scenario-frames", path=str(Path(sys.executable).parent)) or "scenario-frames"


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "scenario_frames.progress"]


def test_log_lines_first_page_then_at_most_every_interval_then_done(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="scenario_frames.progress"):
        quiet = ListingProgress(interactive=False, log_every_s=float("inf"))
        for _ in range(50):
            quiet.add(100)
        quiet.set_estimate(6000)
        quiet.close()
        quiet.close()  # a second close says nothing more
    lines = messages(caplog)
    assert len(lines) == 2, lines  # the first page, and the end
    assert lines[0].startswith("GET /models: 100 models, 1 pages")
    assert (
        lines[1].startswith("GET /models: 5,000 models, 50 pages")
        and "estimated at 6,000" in lines[1]
    )

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scenario_frames.progress"):
        chatty = ListingProgress(interactive=False, log_every_s=0.0)
        chatty.set_estimate(400)
        for _ in range(3):
            chatty.add(100)
    lines = messages(caplog)
    assert len(lines) == 3
    assert "300 models of about 400 (estimate, 75%)" in lines[-1] and "ETA" in lines[-1]


def test_estimate_is_never_below_the_count() -> None:
    p = ListingProgress(interactive=False)
    p.set_estimate(150)
    p.add(100)
    p.add(100)
    assert "200 models of about 200 (estimate, 100%)" in p.line()
    p.close()


def test_partitioned_fetch_estimates_the_listing_size(caplog) -> None:
    """The window probes see the catalog's extent; the estimate lands near the true size."""
    with serve_demo(models=6000, seed=4) as server, caplog.at_level(logging.INFO):
        res = fetch_pages(
            {"privacy": "public"},
            client=ScenarioClient(server.base_url),
            workers=4,
            page_size=100,
            progress=True,
        )
    assert res.stats.partitioned
    done = [m for m in messages(caplog) if "(done" in m]
    assert len(done) == 1
    estimate = int(done[0].rsplit("estimated at ", 1)[1].rstrip(")").replace(",", ""))
    # Deterministic (seeded catalog, fixed probes); a linear density model of a steady catalog.
    assert abs(estimate - res.stats.models) <= 0.15 * res.stats.models, (estimate, res.stats.models)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")} | {
        "COLUMNS": "120"
    }


def test_no_carriage_returns_when_stderr_is_a_file(tmp_path: Path) -> None:
    log_file = tmp_path / "stderr.log"
    with open(log_file, "w") as fh:
        res = subprocess.run(
            [SCRIPT, "snapshot", "--demo", "--demo-models", "3000", "--out", str(tmp_path / "s")],
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            env=_env(),
            timeout=300,
        )
    raw = log_file.read_bytes()  # bytes: text mode would turn each \r into a newline
    text = raw.decode()
    assert res.returncode == 0, text
    assert b"\r" not in raw
    lines = [line for line in text.splitlines() if "scenario_frames.progress" in line]
    assert lines and lines[0].startswith("INFO scenario_frames.progress: GET /models: ")
    assert "(done; its size was estimated at " in lines[-1]


def test_terminal_bar_shows_an_estimated_total_and_eta(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) tqdm draws a bar against the estimate, with an ETA."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))  # rows, columns
    proc = subprocess.Popen(
        [
            SCRIPT,
            "snapshot",
            "--demo",
            "--demo-models",
            "3000",
            "--workers",
            "2",
            "--page-size",
            "100",
            "--out",
            str(tmp_path / "s"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300  # a bound on the test, not a timing assertion
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    frames = text.replace("\r\n", "\n").split("\r")
    estimated = [f for f in frames if "GET /models (total estimated)" in f]
    assert estimated, text
    assert any("%|" in f and "<" in f for f in estimated), estimated  # percentage and ETA


def test_usage_writes_no_bar_frames_into_a_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "stderr.log"
    with open(log_file, "w") as fh:
        res = subprocess.run(
            [
                SCRIPT,
                "usage",
                "--demo",
                "--start",
                "2025-01-01",
                "--end",
                "2025-09-01",
                "--out",
                str(tmp_path / "u"),
            ],
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            env=_env(),
            timeout=300,
        )
    raw = log_file.read_bytes()  # bytes: text mode would turn each \r into a newline
    text = raw.decode()
    assert res.returncode == 0, text
    assert b"\r" not in raw
    assert "in 3 call(s)" in text  # the plain summary line stands in for the bar
