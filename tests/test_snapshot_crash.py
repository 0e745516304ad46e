"""Crash safety: a snapshot writer killed with SIGKILL at random moments, 50 times.

Each run starts a fresh ``python -c`` process that writes snapshots of a small catalog in a
loop into the same OUT folder; the test kills it after a random delay.  After every kill
the folder must hold only complete snapshots (every file present and matching its
manifest's sha256, nothing extra), snapshots seen before must be byte-for-byte unchanged,
and leftovers may exist only in the staging area, which the next writer cleans up.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from scenario_frames import snapshot as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.frames import Catalog

RUNS = 50

WRITER = """
import sys
from scenario_frames import snapshot as snap
seed = snap.read_snapshot(sys.argv[2])
print("ready", flush=True)
while True:
    snap.write_snapshot(seed, sys.argv[1])
"""


def _folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _check_complete(folder: Path) -> None:
    """The folder is a whole snapshot: manifest, exactly its files, every sha256 right."""
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {info["file"]: info["sha256"] for info in manifest["tables"].values()}
    assert {p.name for p in folder.iterdir()} == set(listed) | {"manifest.json"}, folder
    for name, digest in listed.items():
        assert snap.sha256_file(folder / name) == digest, (folder, name)
    assert manifest["snapshot_at"] == folder.name.removeprefix(snap.PREFIX)


def test_sigkill_never_leaves_a_partial_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    seed_dir = tmp_path / "seed"
    catalog = Catalog.from_records(make_records(25, seed=5))
    seed_path = snap.write_snapshot(catalog, seed_dir)
    first = snap.write_snapshot(catalog, out)
    seen: dict[Path, dict[str, str]] = {first: _folder_digest(first)}

    rng = random.Random(20261126)
    killed_mid_write = 0
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(RUNS):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(out), str(seed_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready", proc.stderr.read() if proc.stderr else b""
            time.sleep(rng.uniform(0.0, 0.12))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL

        staging = out / snap.STAGING
        if staging.is_dir() and any(staging.iterdir()):
            killed_mid_write += 1
        current = snap.list_snapshots(out)
        assert {p.name for p in out.iterdir()} <= {p.name for p in current} | {snap.STAGING}
        for folder in out.glob(f"{snap.PREFIX}*"):
            _check_complete(folder)  # every snapshot_at=* folder is whole
        for folder, digest in seen.items():
            assert _folder_digest(folder) == digest, f"{folder} changed after a crash"
        for folder in current:
            seen.setdefault(folder, _folder_digest(folder))

    print(f"{RUNS} kills: {killed_mid_write} inside a write, {len(seen)} complete snapshots")
    # The random kills did land inside writes (leaving staging leftovers), not only between them,
    # and the loop kept producing snapshots.
    assert killed_mid_write >= 5, killed_mid_write
    assert len(seen) > RUNS // 2
    # A normal write afterwards cleans up every dead writer's staging folder.
    last = snap.write_snapshot(catalog, out)
    assert not (out / snap.STAGING).exists()
    assert snap.read_snapshot(last).models.equals(catalog.models)
    assert time.monotonic() - started < 120
