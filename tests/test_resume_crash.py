"""Resume: a fetch killed with SIGKILL at a random instant, then run again on the same
checkpoint folder, ends with every model exactly once; a foreign checkpoint is refused.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from scenario_frames.client import ScenarioClient
from scenario_frames.demo import serve_demo
from scenario_frames.fetch import fetch_pages
from scenario_frames.pages import CheckpointMismatchError

CHILD = """
import sys
from scenario_frames.client import ScenarioClient
from scenario_frames.fetch import fetch_pages
client = ScenarioClient(sys.argv[1], "demo", "demo")
fetch_pages({"privacy": "private"}, client=client, workers=int(sys.argv[3]), page_size=5,
            checkpoint=sys.argv[2], progress=False)
print("finished", flush=True)
"""


def ids_of(pages: list[bytes]) -> list[str]:
    return [m["id"] for p in pages for m in orjson.loads(p)["models"]]


@pytest.fixture(scope="module")
def server():
    with serve_demo(models=500, seed=21, latency_ms=25) as srv:
        yield srv


def test_sigkill_at_random_points_then_resume(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    expected = sorted(ids_of(fetch_pages({"privacy": "private"}, client=client, workers=1,
                                         page_size=500, progress=False).pages))  # fmt: skip
    rnd = random.Random(1234)
    interrupted = 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    for run in range(20):
        folder = tmp_path / f"ckpt{run}"
        workers = rnd.randint(1, 6)
        child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(folder), str(workers)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        time.sleep(rnd.uniform(0.3, 1.3))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        finished = b"finished" in out
        states = list(folder.glob("part-?????.json")) if folder.exists() else []
        done = [orjson.loads(p.read_bytes())["done"] for p in states]  # state files are never torn
        if not finished and states and not all(done):
            interrupted += 1
        res = fetch_pages({"privacy": "private"}, client=client, workers=rnd.randint(1, 6),
                          page_size=5, checkpoint=folder, progress=False)  # fmt: skip
        got = ids_of(res.pages)
        assert len(got) == len(set(got)), f"run {run}: a model came twice after resume"
        assert sorted(got) == expected, f"run {run}: models lost or foreign after resume"
    assert interrupted >= 8, f"only {interrupted} of 20 kills landed mid-fetch"


def test_resume_continues_instead_of_restarting(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    first = fetch_pages({"privacy": "private"}, client=client, workers=3, page_size=5,
                        checkpoint=tmp_path, progress=False)  # fmt: skip
    before = server.stats.requests
    again = fetch_pages({"privacy": "private"}, client=client, workers=3, page_size=5,
                        checkpoint=tmp_path, progress=False)  # fmt: skip
    assert server.stats.requests == before, "a complete checkpoint was fetched again"
    assert ids_of(again.pages) == ids_of(first.pages)
    # Forget that the last window finished: the rerun fetches that window only.
    states = sorted(tmp_path.glob("part-?????.json"))
    last = max(states, key=lambda p: orjson.loads(p.read_bytes())["pages"])
    st = orjson.loads(last.read_bytes())
    pages = st["pages"]
    st.update(done=False, pages=0, models=0, token=None, first=None, pos=None)
    last.write_bytes(orjson.dumps(st))
    third = fetch_pages({"privacy": "private"}, client=client, workers=3, page_size=5,
                        checkpoint=tmp_path, progress=False)  # fmt: skip
    assert sorted(ids_of(third.pages)) == sorted(ids_of(first.pages))
    # That window's pages, plus the far-end probe and a partial page per split of it.
    assert 0 < server.stats.requests - before <= pages + 3 + 2
    assert server.stats.requests - before < first.stats.requests


def test_checkpoint_of_another_query_is_refused(server, tmp_path: Path) -> None:
    client = ScenarioClient(server.base_url, "demo", "demo")
    fetch_pages({"privacy": "private"}, client=client, workers=2, page_size=50,
                checkpoint=tmp_path, progress=False)  # fmt: skip
    before = server.stats.requests
    for query, size in (({"privacy": "public"}, 50), ({"privacy": "private"}, 20),
                        ({"privacy": "private", "status": "trained"}, 50)):  # fmt: skip
        with pytest.raises(CheckpointMismatchError, match="different fetch"):
            fetch_pages(query, client=client, page_size=size, checkpoint=tmp_path, progress=False)
    assert server.stats.requests == before
