"""Benchmark: how fast the demo server answers, the speed claims its tests no longer assert.

Two comparisons, each against a baseline measured in the same run:

* a million-model catalog: seconds from ``serve_demo(models=1_000_000)`` to the first
  private page, then to the first public page (sorted by score, which needs one pass over
  the catalog) and a second public page; baseline: the same steps on the default 2,000-model
  demo catalog;
* 16 public pages of 500 models fetched by 8 threads at once; baseline: the same 16 pages
  fetched one after the other.  The server runs in this process, so both share the GIL with
  it; the figure to read is the ratio, not the absolute seconds.

Writes its markdown section to ``bench/results/demo_server.md`` (``python bench/run.py
demo_server`` runs it; run.py's ORDER does not list it yet, so RESULTS.md leaves it out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from scenario_frames.demo import serve_demo

HERE = Path(__file__).resolve().parent
PUBLIC = {"Authorization": "public-auth-token"}


def _page(base: str, params: dict[str, str | int], public: bool) -> str | None:
    """Fetch one page; returns its next-page token."""
    r = requests.get(
        base + "/models",
        params=params,
        timeout=300,
        headers=PUBLIC if public else None,
        auth=None if public else ("demo", "demo"),
    )
    r.raise_for_status()
    return r.json().get("nextPaginationToken")


def startup(models: int) -> dict[str, float]:
    """Seconds to the first private page, the first public page and a second public page."""
    t0 = time.perf_counter()
    with serve_demo(models=models, seed=0) as srv:
        _page(srv.base_url, {"pageSize": 500}, public=False)
        t1 = time.perf_counter()
        token = _page(srv.base_url, {"privacy": "public", "pageSize": 500}, public=True)
        t2 = time.perf_counter()
        _page(
            srv.base_url,
            {"privacy": "public", "pageSize": 500, "paginationToken": token or ""},
            public=True,
        )
        t3 = time.perf_counter()
    return {
        "first private page": t1 - t0,
        "first public page (score)": t2 - t1,
        "second public page (score)": t3 - t2,
    }


def concurrency(repeats: int) -> tuple[list[float], list[float]]:
    """Seconds for 16 pages of 500: 8 threads at once, and one after the other (baseline)."""
    with serve_demo(models=4000, seed=1) as srv:

        def one(_: int) -> None:
            with requests.Session() as s:
                r = s.get(
                    srv.base_url + "/models",
                    params={"privacy": "public", "pageSize": 500},
                    headers={**PUBLIC, "Accept-Encoding": "gzip"},
                    timeout=300,
                )
                r.raise_for_status()

        one(0)  # build the score order once
        parallel, serial = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for k in range(16):
                one(k)
            serial.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, range(16)))
            parallel.append(time.perf_counter() - t0)
    return parallel, serial


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="rounds of the concurrency comparison")
    ap.add_argument("--models", type=int, default=1_000_000, help="size of the large catalog")
    args = ap.parse_args(argv)

    small = startup(2000)
    large = startup(args.models)
    parallel, serial = concurrency(args.repeats)
    lines = [
        "## Demo server",
        "",
        f"Startup and first pages, {args.models:,} models against the 2,000-model demo catalog (seconds):",
        "",
        f"| step | 2,000 models | {args.models:,} models |",
        "|---|---:|---:|",
        *(f"| {k} | {small[k]:.3f} | {large[k]:.3f} |" for k in small),
        "",
        f"16 public pages of 500, median of {args.repeats} rounds (seconds):",
        "",
        "| 8 threads at once | one after the other (baseline) | ratio |",
        "|---:|---:|---:|",
        f"| {statistics.median(parallel):.3f} | {statistics.median(serial):.3f} | "
        f"{statistics.median(parallel) / statistics.median(serial):.2f} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "demo_server.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
