"""``scenario-frames demo-server``: prints its URL first, serves, and stops on a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from scenario_frames.cli import build_parser


@contextmanager
def demo_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    script = Path(sys.executable).with_name("scenario-frames")
    if script.exists():  # the installed console script, as a user runs it
        cmd = [str(script), "demo-server", *args]
    else:
        cmd = [
            sys.executable,
            "-c",
            "import sys; from scenario_frames.cli import main; sys.exit(main())",
            "demo-server",
            *args,
        ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        yield proc, first
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_prints_url_first_then_serves_until_sigterm() -> None:
    with demo_process("--models", "120", "--seed", "3") as (proc, url):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        r = requests.get(
            url + "/models", params={"pageSize": 500}, auth=("demo", "demo"), timeout=10
        )
        pub = requests.get(
            url + "/models",
            params={"pageSize": 500, "privacy": "public"},
            headers={"Authorization": "public-auth-token"},
            timeout=10,
        )
        assert r.status_code == 200 and pub.status_code == 200
        assert len(r.json()["models"]) + len(pub.json()["models"]) == 120
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_sigint_stops_and_options_apply() -> None:
    with demo_process(
        "--models",
        "30",
        "--api-key",
        "k",
        "--api-secret",
        "s",
        "--fault-rate",
        "1",
        "--faults",
        "503",
        "--drift",
    ) as (proc, url):
        r = requests.get(url + "/models", auth=("k", "s"), timeout=10)
        assert r.status_code == 503
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["demo-server"])
    assert (args.host, args.port, args.models, args.seed) == ("127.0.0.1", 0, 2000, 0)
    assert args.fault_rate == 0.0 and args.drift is False and args.api_key == "demo"


def test_a_client_hanging_up_leaves_no_traceback_on_stderr(tmp_path: Path) -> None:
    """The client refuses a page over --max-page-bytes and drops the connection mid-body."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from scenario_frames.cli import main; sys.exit(main())",
        "snapshot",
        "--demo",
        "--max-page-bytes",
        "10",
        "--no-progress",
        "--out",
        str(tmp_path / "x"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--max-page-bytes" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception occurred" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
