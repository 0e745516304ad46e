"""Benchmark: listing 10,000 public models at 100 ms per request, ours against scenario-sdk.

The demo server runs as a separate process (as the real service would be remote), with a
catalog sized so that exactly N models are public and 100 ms of latency on every request.
Both clients list ``privacy=public`` from the same server in the same run, alternating,
after one untimed warm-up listing (the demo builds records lazily and caches them):

* ours: ``fetch_catalog(privacy="public")`` at its default workers, i.e. what
  ``scenario-frames snapshot`` does before writing files (fetch + typed tables, the pages
  turned into tables while the others are still in flight);
* scenario-sdk: ``list(client.models.list(privacy="public"))`` at its defaults (page size
  100, sequential pages).

Writes its markdown section to ``bench/results/fetch.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def catalog_size_for_public(n_public: int, seed: int) -> int:
    """Smallest demo catalog size holding exactly ``n_public`` public models."""
    from scenario_frames.demo.generator import privacy_of

    count = i = 0
    while count < n_public:
        if privacy_of(seed, i) == "public":
            count += 1
        i += 1
    return i


def start_server(models: int, seed: int, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    launcher = "import sys; from scenario_frames.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", launcher, "demo-server", "--models", str(models),
           "--seed", str(seed), "--latency-ms", str(latency_ms)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"demo server did not start: {url!r}")
    return proc, url


def run_ours(url: str, workers: int) -> tuple[float, int, int, str, float]:
    """(seconds, models, requests, what ran, seconds of fetching alone)."""
    from scenario_frames.client import ScenarioClient
    from scenario_frames.fetch import fetch_pages

    try:
        from scenario_frames.frames import Catalog  # noqa: F401

        have_frames = True
    except ImportError:
        have_frames = False
    client = ScenarioClient(url, pool_size=workers + 2)
    t = time.perf_counter()
    if have_frames:
        from scenario_frames.fetch import fetch_catalog

        cat = fetch_catalog(privacy="public", client=client, workers=workers, progress=False)
        elapsed = time.perf_counter() - t
        models = cat.meta and cat.counts.get("models", 0)
        requests = cat.meta.requests
        fetch_only = cat.meta.duration_s
        what = "fetch_catalog (fetch + typed tables)"
    else:
        res = fetch_pages({"privacy": "public"}, client=client, workers=workers, progress=False)
        elapsed = time.perf_counter() - t
        models, requests = res.stats.models, res.stats.requests
        fetch_only = res.stats.duration_s
        what = "fetch_pages (frames not available yet)"
    client.close()
    return elapsed, int(models), requests, what, fetch_only


def run_sdk(url: str) -> tuple[float, int, int]:
    from scenario_sdk import DefaultHttpxClient, Scenario

    sent = [0]

    def count(_request: object) -> None:
        sent[0] += 1

    sdk = Scenario(base_url=url, default_headers={"Authorization": "public-auth-token"},
                   http_client=DefaultHttpxClient(event_hooks={"request": [count]}))  # fmt: skip
    t = time.perf_counter()
    n = sum(1 for _ in sdk.models.list(privacy="public"))
    elapsed = time.perf_counter() - t
    sdk.close()
    return elapsed, n, sent[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000, help="public models (default 10,000)")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    from scenario_frames.fetch import DEFAULT_WORKERS

    ap.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                    help=f"our concurrent requests (default: the library's, {DEFAULT_WORKERS})")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs of each client")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for var in ("SCENARIO_API_KEY", "SCENARIO_API_SECRET", "SCENARIO_SDK_API_KEY",
                "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):  # fmt: skip
        os.environ.pop(var, None)

    size = catalog_size_for_public(args.models, args.seed)
    proc, url = start_server(size, args.seed, args.latency_ms)
    try:
        run_ours(url, args.workers)  # warm-up: the demo builds and caches each record once
        ours, sdk = [], []
        for _ in range(args.rounds):
            sdk.append(run_sdk(url))
            ours.append(run_ours(url, args.workers))
            print(f"sdk {sdk[-1][0]:.2f} s   ours {ours[-1][0]:.2f} s (fetch {ours[-1][4]:.2f} s)",
                  file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    ours_t = statistics.median(r[0] for r in ours)
    fetch_t = statistics.median(r[4] for r in ours)
    sdk_t = statistics.median(r[0] for r in sdk)
    ours_best, sdk_best = min(r[0] for r in ours), min(r[0] for r in sdk)
    load = os.getloadavg()
    o_models, o_requests, what = ours[0][1], ours[0][2], ours[0][3]
    s_models, s_requests = sdk[0][1], sdk[0][2]
    pages = math.ceil(args.models / 500)
    floor_rounds = math.ceil(pages / args.workers)
    lat = args.latency_ms / 1000
    speedup = sdk_t / ours_t
    lines = [
        "## Fetch: 10,000 public models at 100 ms per request",
        "",
        f"Demo server in its own process ({size:,} models, {args.models:,} public, seed {args.seed}, "
        f"{args.latency_ms:g} ms per request), one untimed warm-up listing, then {args.rounds} "
        "alternating timed runs of each client; medians (best in brackets).  The server shares "
        f"the machine's CPUs with the client (load average at the end {load[0]:.2f}).",
        "",
        "| client | wall time (s) | models | requests |",
        "|---|---:|---:|---:|",
        f"| scenario-sdk `models.list(privacy=\"public\")`, defaults (100/page, sequential) "
        f"| {sdk_t:.2f} ({sdk_best:.2f}) | {s_models:,} | {s_requests} |",
        f"| scenario-frames `{what}`, {args.workers} workers, 500/page | {ours_t:.2f} ({ours_best:.2f}) "
        f"| {o_models:,} | {o_requests} |",
        f"| of which fetching (`fetch_pages`: probes, windows, retries) | {fetch_t:.2f} | | |",
        "",
        f"- Speed-up, snapshot-equivalent (fetch + tables), median over median: **{speedup:.1f}x** "
        f"(best over best {sdk_best / ours_best:.1f}x, worst pair "
        f"{min(r[0] for r in sdk) / max(r[0] for r in ours):.1f}x); fetching alone: "
        f"**{sdk_t / fetch_t:.1f}x** (goal: at least 12x).",
        f"- Floor for us: ceil({args.models:,}/500) = {pages} pages over {args.workers} workers = "
        f"{floor_rounds} round trips = {floor_rounds * lat:.2f} s of pure latency, plus the one "
        f"round that finds where the listing starts and ends (first page and far-end probe, "
        f"together) = {(floor_rounds + 1) * lat:.2f} s "
        f"(sequential SDK floor: {math.ceil(args.models / 100)} round trips = "
        f"{math.ceil(args.models / 100) * lat:.1f} s).",
        f"- Our requests include the two probes (first page and far end, sent together) and "
        f"each window's last, partial page; "
        f"runs: ours {', '.join(f'{r[0]:.2f}' for r in ours)} s "
        f"(fetching {', '.join(f'{r[4]:.2f}' for r in ours)} s); sdk {', '.join(f'{r[0]:.2f}' for r in sdk)} s.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
    ]
    out = HERE / "results" / "fetch.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if speedup >= 12 else 1


if __name__ == "__main__":
    sys.exit(main())
