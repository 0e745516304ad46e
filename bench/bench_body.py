"""Bench: reading listing pages with the bounded body reader, against the previous reader.

Issue 11 made the client read each body piece by piece (one socket read at a time, the
socket timeout set to the time left before each read, gzip inflated here with a bound on
its output) instead of requests' ``iter_content``.  This measures what that costs on the
hot path: 500-model pages (several MB) from the demo over loopback, plain and gzip, read by
``ScenarioClient.get_read`` with the listing's own reader.

Each code version runs in its own process (``--baseline`` names a checkout whose
``scenario_frames`` is the previous version); the two alternate, same server, same pages,
same run.  Writes its markdown section to ``bench/results/body.md``.

    python bench/bench_body.py --baseline /path/to/previous/checkout [--pages 40] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import json, sys, time
from scenario_frames.transport.client import ScenarioClient
from scenario_frames.listing.paginate import read_models_body
base, pages, compress = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "gzip"
client = ScenarioClient(base, "demo", "demo", compress=compress)
params = {"privacy": "private", "pageSize": "500"}
size = len(client.get_read("/models", params, read=read_models_body)[0])  # warm-up, connection
times = []
for _ in range(pages):
    t = time.perf_counter()
    body, summary = client.get_read("/models", params, read=read_models_body)
    times.append(time.perf_counter() - t)
print(json.dumps({"size": size, "times": times}))
"""


def run(pythonpath: Path, base: str, pages: int, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")} | {
        "PYTHONPATH": str(pythonpath)
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD, base, str(pages), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--baseline", type=Path, required=True, help="checkout holding the previous scenario_frames"
    )
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from scenario_frames.demo import serve_demo

    rows = []
    with serve_demo(models=1500, seed=0) as srv:
        for mode in ("identity", "gzip"):
            per: dict[str, list[float]] = {"previous": [], "bounded": []}
            size = 0
            for _ in range(args.rounds):
                for label, path in (("previous", args.baseline), ("bounded", ROOT)):
                    got = run(path, srv.base_url, args.pages, mode)
                    per[label].append(statistics.median(got["times"]))
                    size = got["size"]
            prev, new = statistics.median(per["previous"]), statistics.median(per["bounded"])
            rows.append((mode, size, prev, new))
    lines = [
        "## Body reading: bounded reader against the previous one",
        "",
        f"Demo server in process, 500-model private pages, {args.pages} pages per process, {args.rounds} alternating "
        "rounds per version; median over rounds of each process's median time per page (request, read, "
        "listing summary).",
        "",
        "| encoding | page bytes (decoded) | previous reader (ms/page) | bounded reader (ms/page) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, size, prev, new in rows:
        lines.append(
            f"| {mode} | {size:,} | {prev * 1000:.2f} | {new * 1000:.2f} | {new / prev:.2f} |"
        )
    lines += [
        "",
        f"- Machine: {os.uname().machine}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
        "at the end (shared machine: compare the two columns, not across runs).",
    ]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "body.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
