"""One demo catalog behind every ``--demo``: the outputs of the demo commands join completely.

``snapshot --demo`` and ``usage --demo`` run as real processes, each starting its own
in-process demo server; their files are then joined as a user would join them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from scenario_frames.store import read_snapshot
from scenario_frames.usage import join_usage, usage_summary

SCRIPT = shutil.which("scenario-frames", path=str(Path(sys.executable).parent)) or "scenario-frames"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    res = subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr
    return res


def test_demo_snapshot_and_demo_usage_join_completely(tmp_path: Path) -> None:
    run("snapshot", "--demo", "--no-progress", cwd=tmp_path)
    run(
        "usage",
        "--demo",
        "--start",
        "2025-01-01",
        "--end",
        "2025-03-01",
        "--no-progress",
        cwd=tmp_path,
    )
    catalog = read_snapshot(tmp_path / "snapshots")
    usage = pl.read_parquet(tmp_path / "usage" / "model_usage.parquet")
    assert usage.height > 0 and usage.get_column("model_id").n_unique() > 50

    joined = join_usage(catalog, usage)
    assert joined.height == usage.height
    assert joined.get_column("in_catalog").all()  # every usage row found its model
    assert joined.get_column("type").null_count() == 0
    assert usage_summary(joined).unmatched.height == 0


def test_serve_demo_defaults_are_the_cli_demo() -> None:
    """Notebooks calling serve_demo() get the same catalog as the CLI's --demo."""
    import inspect

    from scenario_frames import cli
    from scenario_frames.demo import DEMO_MODELS, DEMO_SEED, serve_demo

    params = inspect.signature(serve_demo).parameters
    assert params["models"].default == DEMO_MODELS == cli.DEMO_MODELS
    assert params["seed"].default == DEMO_SEED == 0
    # Its options are visible to help() and IDEs, not hidden behind **kwargs.
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name in ("faults", "latency_ms", "drift", "api_key", "api_secret", "host", "port"):
        assert name in params and name in (serve_demo.__doc__ or "")
    import scenario_frames as sf

    assert sf.serve_demo is serve_demo


def test_privacy_split_counts_what_the_listings_return() -> None:
    """The split printed at start equals what the public and private listings hold."""
    from scenario_frames.demo import DemoServer, serve_demo
    from scenario_frames.fetch import fetch_catalog

    with serve_demo(models=300, seed=5) as server:
        server.catalog.remove(server.catalog.ids()[:7])
        split = server.privacy_split()
        public = fetch_catalog(base_url=server.base_url, privacy="public", progress=False)
        private = fetch_catalog(
            base_url=server.base_url,
            api_key="demo",
            api_secret="demo",
            privacy="private",
            progress=False,
        )
    assert split.exact and split.total == 293
    assert split.public == public.models.height
    assert split.private + split.unlisted == private.models.height
    assert split.unlisted == private.models.filter(pl.col("privacy") == "unlisted").height
    big = DemoServer(models=80_000).privacy_split()  # sampled above 50,000 models
    assert (
        not big.exact and big.total == 80_000 and big.describe().startswith("80,000 models: about ")
    )
    assert abs(big.public / big.total - 0.6) < 0.02


def test_readme_states_the_demo_split_and_credentials() -> None:
    from scenario_frames.demo import DemoServer

    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    s = DemoServer().privacy_split()
    assert (
        f"{s.total:,} models (seed 0), of which {s.public:,} public, {s.private:,} private and "
        f"{s.unlisted:,} unlisted"
    ) in text
    assert "credentials are `demo` / `demo`" in text
    assert (
        f"lists the {s.public:,} public models (`--privacy private` the other {s.private + s.unlisted:,})"
        in text
    )
