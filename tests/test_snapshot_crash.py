"""Crash safety: a snapshot writer killed with SIGKILL before each of its file-system steps.

The writer runs in a ``python -c`` child whose file-system calls under OUT are instrumented
(not mocked: every call still happens for real).  Before each step that changes OUT (making
a folder, creating a parquet or manifest file, an fsync, a rename, an unlink or rmdir of a
dead writer's leftovers) the child prints one ``step`` line and waits for the parent's
``go`` on stdin.  A first run answers every step and records the whole sequence; then, for
every step k from the first to the last, a fresh child is killed with SIGKILL while it waits
at step k (a full crash-point sweep; no sleeps, the kill lands where the child says it is).

Each write starts with a dead writer's full staging folder under ``OUT/.staging`` so the
sweep also kills the clean-up of leftovers half way.  After every kill: OUT holds only
complete snapshots (every file listed in its manifest and matching its sha256, nothing
extra) plus staging; snapshots seen before are byte-for-byte unchanged; a new snapshot
exists exactly when the kill came after the rename; and a normal write afterwards removes
every leftover and leaves no ``.staging``.  Reads from the child have a timeout, so a hung
child fails the test instead of hanging it.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.files import sha256_file
from scenario_frames.tables.catalog import Catalog

pytestmark = pytest.mark.slow

# Hang guard only: how long the parent waits for the child's next line.  A child that
# imports polars on a loaded machine takes seconds; one that says nothing for this long hangs.
LINE_TIMEOUT_S = 120.0
# A process id above Linux's PID_MAX_LIMIT (2**22): no process can have it, so a staging
# folder named with it always belongs to a dead writer on this host.
DEAD_PID = 2**22 + 1

# The child: read the seed catalog, instrument the file-system calls that write_snapshot
# makes under OUT (read store/write.py: Path.mkdir -> os.mkdir, polars' DataFrame.write_parquet,
# open(..., "w") for the manifest, os.fsync, os.rename, and shutil.rmtree / Path.rmdir ->
# os.unlink / os.rmdir for leftovers), then write one snapshot.  Each gated call prints
# "step N OP PATH" (PATH relative to OUT, the staging token shown as <tmp>) and waits for a
# "go" line.  The gate is one lock, so parallel table writes pass it one at a time.
WRITER = r"""
import builtins, os, sys, threading
import polars as pl
from scenario_frames import store as snap

out, seed_path = os.path.realpath(sys.argv[1]), sys.argv[2]
catalog = snap.read_snapshot(seed_path)
gate = threading.Lock()
steps = 0
mine = "%d." % os.getpid()

def where(path, dir_fd=None):
    if isinstance(path, int):
        path = os.readlink("/proc/self/fd/%d" % path)
    path = os.fsdecode(path)
    if dir_fd is not None:
        path = os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), path)
    path = os.path.realpath(path)  # out is a real path too, so symlinked temp folders match
    if path != out and not path.startswith(out + os.sep):
        return None
    parts = os.path.relpath(path, out).split(os.sep)
    return "/".join("<tmp>" if p.startswith(mine) else p for p in parts)

def step(op, *paths):
    global steps
    with gate:
        steps += 1
        print("step", steps, op, *paths, flush=True)
        if sys.stdin.readline().strip() != "go":
            os._exit(3)

def gated(op, real, npaths=1):
    def call(*args, **kw):
        paths = [where(a, kw.get("dir_fd")) for a in args[:npaths]]
        if all(p is not None for p in paths):
            step(op, *paths)
        return real(*args, **kw)
    return call

os.mkdir = gated("mkdir", os.mkdir)
os.rename = gated("rename", os.rename, 2)
os.replace = gated("rename", os.replace, 2)
os.unlink = gated("unlink", os.unlink)
os.remove = gated("unlink", os.remove)
os.rmdir = gated("rmdir", os.rmdir)
os.fsync = gated("fsync", os.fsync)
real_write_parquet = pl.DataFrame.write_parquet
def write_parquet(self, where_, *a, **kw):  # store/write.py: df.write_parquet(path, ...)
    p = where(where_) if isinstance(where_, (str, bytes, os.PathLike)) else None
    if p is not None:
        step("create", p)
    return real_write_parquet(self, where_, *a, **kw)
pl.DataFrame.write_parquet = write_parquet
real_open = builtins.open
def open_(file, mode="r", *a, **kw):
    if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+"):
        p = where(file)
        if p is not None:
            step("create", p)
    return real_open(file, mode, *a, **kw)
builtins.open = open_

print("ready", flush=True)
target = snap.write_snapshot(catalog, out)
print("done", target.name, flush=True)
"""


def _folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _check_complete(folder: Path) -> None:
    """The folder is a whole snapshot: manifest, exactly its files, every sha256 right."""
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {info["file"]: info["sha256"] for info in manifest["tables"].values()}
    assert {p.name for p in folder.iterdir()} == set(listed) | {"manifest.json"}, folder
    for name, digest in listed.items():
        assert sha256_file(folder / name) == digest, (folder, name)
    assert manifest["snapshot_at"] == folder.name.removeprefix(snap.PREFIX)


class Child:
    """One instrumented writer; its stdout lines arrive through a queue read with a timeout."""

    def __init__(self, out: Path, seed_path: Path, err_path: Path) -> None:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        self.err_path = err_path
        self._err = open(err_path, "wb")  # noqa: SIM115  (closed in kill/finish)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(out), str(seed_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode().rstrip("\n"))
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            self.kill()
            pytest.fail(f"writer said nothing for {LINE_TIMEOUT_S:.0f} s (hung)")
        if line is None:
            self.proc.wait(timeout=LINE_TIMEOUT_S)
            self._err.close()
            pytest.fail(
                f"writer ended early ({self.proc.returncode}): {self.err_path.read_text()[-3000:]}"
            )
        return line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)  # does nothing once the process was waited for
        rc = self.proc.wait(timeout=LINE_TIMEOUT_S)
        self._err.close()
        return rc

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=LINE_TIMEOUT_S)
        self._err.close()
        return rc


def _steps_until(child: Child, stop_at: int | None) -> tuple[list[str], str | None]:
    """Answer ``go`` to every step before ``stop_at`` (all when None); returns the step labels
    seen (the last one is where the child now waits) and the ``done`` line, if it came."""
    assert child.next_line() == "ready"
    labels: list[str] = []
    while True:
        line = child.next_line()
        if line.startswith("done "):
            return labels, line
        word, number, label = line.split(" ", 2)
        assert word == "step" and int(number) == len(labels) + 1, line
        labels.append(label)
        if stop_at is not None and len(labels) == stop_at:
            return labels, None
        child.go()


def _plant_dead_writer(out: Path, template: Path) -> Path:
    """A dead writer's staging folder, complete but never renamed (killed just before)."""
    leftover = out / snap.STAGING / f"{DEAD_PID}.deadbeef.{socket.gethostname()}"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, leftover)
    return leftover


def _same_step(a: str, b: str) -> bool:
    """Two runs are at the same step: the same operation on the same path, up to what may
    legitimately vary between runs: the new snapshot's name (its ``-NNN`` suffix grows run
    by run), which table file the parallel writes are at, and which leftover file the
    clean-up unlinks (directory listing order)."""

    def norm(label: str) -> str:
        label = re.sub(r"snapshot_at=\S+", "snapshot_at=*", label)
        if _is_table_step(label):
            return "table step"
        return re.sub(
            rf"^unlink ({re.escape(snap.STAGING)}/{DEAD_PID}\.[^/ ]+)/\S+$", r"unlink \1/*", label
        )

    return norm(a) == norm(b)


def _is_table_step(label: str) -> bool:
    # Parquet files are written by a thread pool, so their steps interleave differently
    # from run to run; every other step has a fixed position in the sequence.
    return "/<tmp>/" in label and label.endswith(".parquet")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child reads /proc/self/fd")
def test_sigkill_at_every_step_never_leaves_a_partial_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    catalog = Catalog.from_records(make_records(25, seed=5))
    seed_path = snap.write_snapshot(catalog, tmp_path / "seed")
    template = tmp_path / "template"
    shutil.copytree(seed_path, template)  # what a writer killed before its rename leaves
    first = snap.write_snapshot(catalog, out)
    seen: dict[Path, dict[str, str]] = {first: _folder_digest(first)}
    logs = tmp_path / "stderr"
    logs.mkdir()

    # The whole sequence, every step answered.
    _plant_dead_writer(out, template)
    child = Child(out, seed_path, logs / "full.txt")
    try:
        sequence, done = _steps_until(child, None)
        assert child.finish() == 0 and done is not None
    finally:
        child.kill()  # no-op once it has ended; ends it if the checks above failed
    written = out / done.removeprefix("done ")
    _check_complete(written)
    assert not (out / snap.STAGING).exists()
    seen[written] = _folder_digest(written)

    # The instrumentation sees what the writer does: every file of the snapshot was
    # announced when created in staging, the snapshot appeared by one rename, and the dead
    # writer's leftovers were removed step by step before the new staging folder was made.
    created = {
        lab.split(" ")[1].rsplit("/", 1)[-1] for lab in sequence if lab.startswith("create ")
    }
    assert created == {p.name for p in written.iterdir()}, sequence
    renames = [i for i, lab in enumerate(sequence, 1) if lab.startswith("rename ")]
    assert len(renames) == 1, sequence
    rename_at = renames[0]
    assert sequence[rename_at - 1] == f"rename {snap.STAGING}/<tmp> {written.name}"
    dead = f"{snap.STAGING}/{DEAD_PID}."
    assert any(lab.startswith(f"unlink {dead}") for lab in sequence)
    assert any(lab.startswith(f"rmdir {dead}") for lab in sequence)
    assert rename_at < len(sequence)  # steps after the rename are swept too

    for k in range(1, len(sequence) + 1):
        before = set(snap.list_snapshots(out))
        leftover = _plant_dead_writer(out, template)
        child = Child(out, seed_path, logs / f"kill-{k}.txt")
        try:
            labels, done = _steps_until(child, k)
        finally:
            rc = child.kill()
        assert done is None and rc == -signal.SIGKILL, (k, done, rc)
        where = labels[-1]
        assert _same_step(where, sequence[k - 1]), (k, where, sequence[k - 1])

        current = snap.list_snapshots(out)
        # Nothing but complete snapshots and staging in OUT.
        assert {p.name for p in out.iterdir()} <= {p.name for p in current} | {snap.STAGING}, k
        for folder in out.glob(f"{snap.PREFIX}*"):
            _check_complete(folder)
        # Earlier snapshots untouched.
        for folder, digest in seen.items():
            assert _folder_digest(folder) == digest, (
                f"{folder} changed after a kill at step {k} ({where})"
            )
        # A kill before the rename adds no snapshot; after it, exactly the new one.
        new = set(current) - before
        assert len(new) == (1 if k > rename_at else 0), (k, where, new)
        for folder in new:
            seen[folder] = _folder_digest(folder)
        # Before the dead writer's leftovers are touched they are still whole.
        if k <= min(i for i, lab in enumerate(sequence, 1) if lab.startswith(f"unlink {dead}")):
            assert _folder_digest(leftover) == _folder_digest(template)

        # A normal write afterwards cleans every dead writer's staging folder.
        last = snap.write_snapshot(catalog, out)
        assert not (out / snap.STAGING).exists(), (k, where, list((out / snap.STAGING).rglob("*")))
        _check_complete(last)
        seen[last] = _folder_digest(last)

    assert snap.read_snapshot(snap.latest_snapshot(out)).models.equals(catalog.models)
    print(
        f"{len(sequence)} kill points swept; rename at step {rename_at}; {len(seen)} complete snapshots"
    )
