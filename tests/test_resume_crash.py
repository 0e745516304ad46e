"""Resume: a fetch killed with SIGKILL mid-fetch, then run again on the same checkpoint
folder, ends with every model exactly once; a foreign checkpoint is refused.

The child reports each page it keeps on stdout; the parent kills it once it has reported a
random number of pages, never after a guessed delay.  In half of the runs the child holds
still after that page (its fetch cannot end), so the kill is known to land mid-fetch; in the
others it keeps going and the kill lands wherever the workers are at that moment.  The
snapshot command is also killed as soon as it reports its snapshot written, around the
moment it consumes its checkpoint.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from scenario_frames import store as snap
from scenario_frames.demo import serve_demo
from scenario_frames.errors import CheckpointMismatchError
from scenario_frames.fetch import fetch_pages
from scenario_frames.transport.client import ScenarioClient

CHILD = """
import sys, threading
from scenario_frames.transport.client import ScenarioClient
from scenario_frames.fetch import fetch_pages
client = ScenarioClient(sys.argv[1], "demo", "demo")
hold_at = int(sys.argv[4])
lock = threading.Lock()
kept = 0

def report(key, body):
    global kept
    with lock:
        kept += 1
        n = kept
    print("page", n, flush=True)
    if n == hold_at:
        threading.Event().wait()  # hold still: this window cannot finish, the parent kills us

fetch_pages({"privacy": "private"}, client=client, workers=int(sys.argv[3]), page_size=5,
            checkpoint=sys.argv[2], progress=False, sink=report)
print("finished", flush=True)
"""


def kill_after_pages(child: subprocess.Popen, pages: int, timeout: float = 60.0) -> bool:
    """SIGKILL the child as soon as it has reported ``pages`` pages; True if it got there."""
    sel = selectors.DefaultSelector()
    sel.register(child.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    reached = False
    try:
        while not reached:
            left = end - time.monotonic()
            if left <= 0:
                pytest.fail(f"the child reported fewer than {pages} pages in {timeout:g} s")
            if not sel.select(left):
                continue
            line = child.stdout.readline()
            if not line:  # the child ended before reporting that many pages
                break
            reached = line.startswith(b"page") and int(line.split()[1]) >= pages
    finally:
        sel.close()
        child.send_signal(signal.SIGKILL)
    return reached


def ids_of(pages: list[bytes]) -> list[str]:
    return [m["id"] for p in pages for m in orjson.loads(p)["models"]]


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=500, seed=21, latency_ms=25) as srv:
        yield srv


def test_sigkill_after_reported_pages_then_resume(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    expected = sorted(
        ids_of(
            fetch_pages(
                {"privacy": "private"}, client=client, workers=1, page_size=500, progress=False
            ).pages
        )
    )
    total_pages = -(-len(expected) // 5)
    rnd = random.Random(1234)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    held = 0
    for run in range(20):
        folder = tmp_path / f"ckpt{run}"
        workers = rnd.randint(1, 6)
        kill_at = rnd.randint(1, total_pages - 10)
        hold = run % 2 == 0
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                server.base_url,
                str(folder),
                str(workers),
                str(kill_at if hold else 0),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        reached = kill_after_pages(child, kill_at)
        out, _ = child.communicate(timeout=60)
        assert reached, f"run {run}: the child ended before reporting page {kill_at}"
        # A holding child cannot finish; a running one may, rarely, end before the signal lands.
        assert not hold or b"finished" not in out
        states = list(folder.glob("part-?????.json"))
        done = [orjson.loads(p.read_bytes())["done"] for p in states]  # state files are never torn
        assert states, f"run {run}: nothing was checkpointed after {kill_at} reported pages"
        if hold:
            assert not all(done), (
                f"run {run}: killed while holding a window, yet every window is done"
            )
            held += 1
        res = fetch_pages(
            {"privacy": "private"},
            client=client,
            workers=rnd.randint(1, 6),
            page_size=5,
            checkpoint=folder,
            progress=False,
        )
        got = ids_of(res.pages)
        assert len(got) == len(set(got)), f"run {run}: a model came twice after resume"
        assert sorted(got) == expected, f"run {run}: models lost or foreign after resume"
    assert held == 10


def test_resume_continues_instead_of_restarting(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    first = fetch_pages(
        {"privacy": "private"},
        client=client,
        workers=3,
        page_size=5,
        checkpoint=tmp_path,
        progress=False,
    )
    before = server.stats.requests
    again = fetch_pages(
        {"privacy": "private"},
        client=client,
        workers=3,
        page_size=5,
        checkpoint=tmp_path,
        progress=False,
    )
    assert server.stats.requests == before, "a complete checkpoint was fetched again"
    assert ids_of(again.pages) == ids_of(first.pages)
    # Forget that the last window finished: the rerun fetches that window only.
    states = sorted(tmp_path.glob("part-?????.json"))
    last = max(states, key=lambda p: orjson.loads(p.read_bytes())["pages"])
    st = orjson.loads(last.read_bytes())
    pages = st["pages"]
    st.update(done=False, pages=0, models=0, token=None, first=None, pos=None)
    last.write_bytes(orjson.dumps(st))
    third = fetch_pages(
        {"privacy": "private"},
        client=client,
        workers=3,
        page_size=5,
        checkpoint=tmp_path,
        progress=False,
    )
    assert sorted(ids_of(third.pages)) == sorted(ids_of(first.pages))
    # That window's pages, plus the far-end probe and a partial page per split of it.
    assert 0 < server.stats.requests - before <= pages + 3 + 2
    assert server.stats.requests - before < first.stats.requests


def test_checkpoint_of_another_query_is_refused(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    fetch_pages(
        {"privacy": "private"},
        client=client,
        workers=2,
        page_size=50,
        checkpoint=tmp_path,
        progress=False,
    )
    before = server.stats.requests
    for query, size in (
        ({"privacy": "public"}, 50),
        ({"privacy": "private"}, 20),
        ({"privacy": "private", "status": "trained"}, 50),
    ):
        with pytest.raises(CheckpointMismatchError, match="different fetch"):
            fetch_pages(query, client=client, page_size=size, checkpoint=tmp_path, progress=False)
    assert server.stats.requests == before


def test_killed_right_after_writing_the_snapshot_the_checkpoint_is_never_replayed_as_new(
    server, tmp_path: Path
) -> None:
    """The snapshot command consumes its checkpoint after writing the snapshot.  Killed as soon
    as it reports the snapshot written (before, during or after the consumption), a rerun with
    the same checkpoint either fetches afresh or, if the consumption had not begun, rewrites
    the same pages with their own fetch time: never old pages under a new time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    launch = "import sys; from scenario_frames.cli import main; sys.exit(main())"
    for run in range(4):
        out, ck = tmp_path / f"out{run}", tmp_path / f"ck{run}"
        cmd = [
            sys.executable,
            "-c",
            launch,
            "snapshot",
            "--base-url",
            server.base_url,
            "--privacy",
            "public",
            "--out",
            str(out),
            "--checkpoint",
            str(ck),
            "--no-progress",
            "--page-size",
            "50",
        ]
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        sel = selectors.DefaultSelector()
        sel.register(child.stderr, selectors.EVENT_READ)
        end = time.monotonic() + 120
        try:
            while True:
                assert sel.select(max(0.0, end - time.monotonic())), (
                    "no 'wrote snapshot' line in time"
                )
                line = child.stderr.readline()
                assert line, "the command ended without writing its snapshot"
                if b"wrote snapshot" in line:
                    break
        finally:
            sel.close()
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=60)
        first = snap.list_snapshots(out)
        assert len(first) == 1
        before = server.stats.requests
        again = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        assert again.returncode == 0, again.stderr.decode()[-2000:]
        old, new = (snap.read_manifest(p) for p in snap.list_snapshots(out))
        if server.stats.requests == before:  # replayed: the pages keep the time they were fetched
            assert new["fetched_at"] == old["fetched_at"]
        else:
            assert new["fetched_at"] > old["fetched_at"]
        assert (
            orjson.loads((ck / "checkpoint.json").read_bytes()).get("consumed")
            == snap.list_snapshots(out)[-1].name
        )
