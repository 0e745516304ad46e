"""Run every benchmark in bench/ and assemble bench/RESULTS.md.

One command (``python bench/run.py``) runs each ``bench_*.py`` script in a fresh process; each
script compares itself against its named baseline in the same run and writes its own section
to ``bench/results/<name>.md``.  This file then stitches the sections together under a
description of the machine they ran on.  ``python bench/run.py fetch frames`` runs a subset; ``--assemble`` only rebuilds the file.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("fetch", "frames", "history", "panel", "demo_server")
# Sections kept from one-off comparisons that need an older checkout as their baseline
# (``python bench/bench_body.py --baseline PATH``): assembled, not run by default.
ONE_OFF = ("body",)


def machine() -> str:
    """A short description of the machine: CPU model, cores, memory, Python, key libraries."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    libs = []
    for name in ("polars", "pyarrow", "orjson", "requests"):
        try:
            mod = __import__(name)
            libs.append(f"{name} {mod.__version__}")
        except Exception:  # noqa: BLE001 - a missing library is reported, not fatal
            libs.append(f"{name} missing")
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; " + ", ".join(libs)
    )


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks (all by default) and rewrite RESULTS.md."""
    if argv == ["--assemble"]:  # only rebuild RESULTS.md from the latest sections
        argv = ["none"]
        names: list[str] = []
    else:
        names = argv or list(ORDER)
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        print(f"== bench {name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"== bench {name}: exit {rc} after {time.perf_counter() - t0:.1f} s", flush=True)
        if rc:
            failed.append(name)
    sections = []
    for name in ORDER + ONE_OFF:
        part = HERE / "results" / f"{name}.md"
        if part.exists():
            sections.append(part.read_text().strip())
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    text = (
        "# Benchmark results\n\n"
        f"Assembled {stamp} by `python bench/run.py`. Each section was measured in one run "
        "against its named baseline on the same machine and server.\n\n"
        f"**Machine:** {machine()}\n\n" + "\n\n".join(sections) + "\n"
    )
    (HERE / "RESULTS.md").write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
