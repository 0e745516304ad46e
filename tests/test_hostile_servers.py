"""Hostile servers: one loopback server per misbehaviour of issue 11, and what we do about it.

Each case scripts a real HTTP server on 127.0.0.1 (``_scripted_server``) or drives the demo,
runs the fetcher (in this process, bounded by ``_bounded``, or as the ``scenario-frames``
command with a subprocess timeout) and asserts the outcome: a clear error and exit code, or
the exact rows.  Orders are checked on the server's own log (requests received, bodies cut
before they were done), not on the clock.

Rows of the issue's table, in order: Retry-After of ten hours; a dripped body; a gzip bomb;
the same models under new tokens forever; a numeric id next to its string twin; records
without id; a record nested 100,000 deep; credentials in the base URL; a finished
checkpoint replayed; duplicates lost on the way to the manifest.  Then the "also" list:
--out unusable, a failed write keeping the pages, history() over damaged folders, an
unreachable host, ``<name>.localhost``, and a resumed token the server has expired; and two
more bodies: one in an encoding we never asked for, one that never ends.

Rows 5 and 6 (a numeric id, records without id) pass here because pages are no longer
de-duplicated by ``str(id)`` before the table builder; row 7 (nesting) waits for the decode
engine of issue 10 and is marked as an expected failure until that branch is merged.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import orjson
import polars as pl
import pytest
from _bounded import bounded
from _scripted_server import scripted

from scenario_frames import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    RateLimitError,
    ServerError,
)
from scenario_frames import store as snap
from scenario_frames.demo import serve_demo
from scenario_frames.demo.generator import make_records
from scenario_frames.errors import ClientConfigError, PaginationError
from scenario_frames.fetch import fetch_catalog, fetch_pages
from scenario_frames.listing.paginate import NO_PROGRESS_PAGES
from scenario_frames.transport.client import CONNECT_ATTEMPTS, ScenarioClient

LAUNCH = "import sys; from scenario_frames.cli import main; sys.exit(main())"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "SCENARIO_API_KEY",
        "SCENARIO_API_SECRET",
        "SCENARIO_SDK_API_KEY",
        "SCENARIO_SDK_API_SECRET",
        "SCENARIO_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)


def cli(
    *args: str | Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``scenario-frames ARGS`` in a fresh interpreter, bounded in time."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *map(str, args)],
        capture_output=True,
        text=True,
        env=base | (env or {}),
        timeout=timeout,
    )


def page(records: list, token: str | None = None) -> bytes:
    body: dict = {"models": records}
    if token:
        body["nextPaginationToken"] = token
    return orjson.dumps(body)


def snapshots_in(out: Path) -> list[Path]:
    return snap.list_snapshots(out)


# ---------------------------------------------------------------------------------------------
# Row 1: 429 with Retry-After: 36000
# ---------------------------------------------------------------------------------------------

TEN_HOURS = (
    429,
    {"Retry-After": "36000", **JSON},
    b'{"message": "slow down", "reason": "rate-limited"}',
)


def test_retry_after_of_ten_hours_fails_at_once_naming_the_value_and_the_cap(
    tmp_path: Path,
) -> None:
    with scripted(lambda n, h: TEN_HOURS) as (base, log):
        with pytest.raises(RateLimitError) as err:
            bounded(lambda: ScenarioClient(base).get("/models"), 30)
        assert len(log) == 1, "a Retry-After over the cap must not be waited for nor retried"
    msg = str(err.value)
    assert (
        "36,000 s" in msg
        and "cap of 60 s" in msg
        and "max_retry_after" in msg
        and "slow down" in msg
    )
    assert err.value.status == 429

    with scripted(lambda n, h: TEN_HOURS) as (base, log):
        proc = cli(
            "snapshot",
            "--base-url",
            base,
            "--out",
            tmp_path / "out",
            "--no-progress",
            "--workers",
            "1",
            "--max-retry-after",
            "120",
        )
        assert len(log) == 1
    assert proc.returncode == 1
    assert (
        "36,000 s" in proc.stderr
        and "cap of 120 s" in proc.stderr
        and "--max-retry-after" in proc.stderr
    )
    assert not snapshots_in(tmp_path / "out")


def test_retry_after_within_the_cap_is_waited_for() -> None:
    ok = (200, JSON, page([{"id": "m1"}]))
    with scripted(lambda n, h: (429, {"Retry-After": "1"}, b"{}") if n == 0 else ok) as (base, log):
        _body, data = bounded(
            lambda: ScenarioClient(base, max_retry_after=1).get_json("/models"), 30
        )
    assert data["models"] == [{"id": "m1"}] and len(log) == 2
    assert log[1]["t"] - log[0]["t"] >= 1.0  # the wait happened (a lower bound, never an upper one)


# ---------------------------------------------------------------------------------------------
# Row 2: a 14-byte body dripped one byte at a time
# ---------------------------------------------------------------------------------------------

BODY_14 = b'{"models": []}'
assert len(BODY_14) == 14


def dripping(pause: float = 0.5):
    def answer(n: int, handler: object):
        def drip(wfile, entry: dict) -> None:
            entry["sent"] = 0
            for byte in BODY_14:
                wfile.write(bytes([byte]))
                wfile.flush()
                entry["sent"] += 1
                time.sleep(pause)

        return 200, {**JSON, "Content-Length": "14"}, drip

    return answer


@pytest.mark.parametrize("how", ["deadline", "read-timeout"])
def test_a_dripped_body_fails_within_the_deadline(how: str) -> None:
    """The deadline (or, without one, the read timeout) covers the whole body, not each byte."""
    kw = {"deadline": 2.0} if how == "deadline" else {"timeout": (1.0, 1.5), "max_attempts": 2}
    with scripted(dripping()) as (base, log):
        client = ScenarioClient(base, backoff=0.01, backoff_max=0.02, **kw)
        with pytest.raises(APITimeoutError) as err:
            bounded(lambda: client.get("/models"), 30)
        # The client gave up while the server was still dripping its first answer.
        assert log[0]["sent"] < len(BODY_14) and not log[0].get("done")
    assert err.value.reason == "slow-body" and not isinstance(err.value, ServerError)
    # The status line and headers came before the body stalled: the error keeps them.
    assert err.value.status is None and err.value.response is not None
    assert err.value.response.status == 200 and err.value.headers["content-length"] == "14"
    assert base.split("//")[1].split("/")[0] in str(err.value), "the error names the host"
    assert len(log) == (1 if how == "deadline" else 2)


def test_a_dripped_body_with_deadline_on_the_command_line_exits_1(tmp_path: Path) -> None:
    with scripted(dripping()) as (base, log):
        proc = cli(
            "snapshot",
            "--base-url",
            base,
            "--out",
            tmp_path / "out",
            "--no-progress",
            "--workers",
            "1",
            "--deadline",
            "2",
        )
        assert log and log[0]["sent"] < len(BODY_14) and not log[0].get("done")
    assert proc.returncode == 1 and "too slowly" in proc.stderr, proc.stderr[-2000:]
    assert not snapshots_in(tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# Row 3: a gzip bomb we did not ask for
# ---------------------------------------------------------------------------------------------

RSS_CHILD = """
import resource, sys
from scenario_frames.transport.client import ScenarioClient
client = ScenarioClient(sys.argv[1], max_page_bytes=8 << 20)
try:
    client.get("/models")
    print("result ok")
except Exception as exc:
    print("result", type(exc).__name__, exc)
print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """A gzip body of about 1 MiB that inflates to 1 GiB of zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([comp.compress(zeros) for _ in range(1024)] + [comp.flush()])


def peak_rss(base: str) -> tuple[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, base], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = next(line for line in proc.stdout.splitlines() if line.startswith("result"))
    kb = int(
        next(line for line in proc.stdout.splitlines() if line.startswith("maxrss_kb")).split()[1]
    )
    return result, kb * 1024


def test_a_gzip_bomb_is_not_inflated_past_the_page_limit(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 2 << 20
    small = (200, JSON, page([{"id": f"m{i}"} for i in range(100)]))
    bomb = (200, {**JSON, "Content-Encoding": "gzip"}, gzip_bomb)
    with scripted(lambda n, h: small) as (base, _log):
        ok, baseline = peak_rss(base)
    with scripted(lambda n, h: bomb) as (base, log):
        refused, peak = peak_rss(base)
        assert log[0]["headers"]["Accept-Encoding"] == "identity"  # we never asked for gzip
        assert len(log) == 1, "an oversized body is not retried"
    assert ok == "result ok"
    assert (
        refused.startswith("result APIResponseValidationError")
        and "8,388,608 bytes" in refused
        and "max_page_bytes" in refused
    )
    # The page limit is 8 MiB; inflating the bomb would cost 1 GiB.
    assert peak - baseline < 64 << 20, f"peak RSS grew by {(peak - baseline) >> 20} MiB"


def test_an_announced_oversized_body_is_refused_before_reading() -> None:
    big = (200, JSON, b" " * (3 << 20) + page([]))
    with scripted(lambda n, h: big) as (base, log):
        with pytest.raises(
            APIResponseValidationError, match="announced a 3,145,741-byte body"
        ) as err:
            bounded(lambda: ScenarioClient(base, max_page_bytes=1 << 20).get("/models"), 30)
    assert err.value.reason == "body-too-large" and len(log) == 1


# ---------------------------------------------------------------------------------------------
# Row 4: the same ten models under a new token on every page
# ---------------------------------------------------------------------------------------------

TEN = make_records(10, seed=3)


@pytest.mark.parametrize("workers", [1, 4])
def test_the_same_models_under_new_tokens_end_with_no_progress(workers: int) -> None:
    with scripted(lambda n, h: (200, JSON, page(TEN, f"token-{n}"))) as (base, log):
        client = ScenarioClient(base)
        with pytest.raises(PaginationError) as err:
            bounded(lambda: fetch_pages({}, client=client, workers=workers, progress=False), 60)
        sent = len(log)
    assert err.value.reason == "no-progress"
    assert f"{NO_PROGRESS_PAGES} pages in a row" in str(err.value) and "no progress" in str(
        err.value
    )
    if workers == 1:
        assert sent == NO_PROGRESS_PAGES + 1  # the first page brought the ten models
    else:  # every window stops the same way; the probe and the first page come on top
        assert sent <= workers * (NO_PROGRESS_PAGES + 1) + 2


def test_no_progress_on_the_command_line_exits_1(tmp_path: Path) -> None:
    with scripted(lambda n, h: (200, JSON, page(TEN, f"token-{n}"))) as (base, log):
        proc = cli(
            "snapshot",
            "--base-url",
            base,
            "--out",
            tmp_path / "out",
            "--no-progress",
            "--workers",
            "1",
        )
        assert len(log) == NO_PROGRESS_PAGES + 1
    assert proc.returncode == 1 and "no progress" in proc.stderr
    assert not snapshots_in(tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# Rows 5-7: records that used to vanish (decode engine: issue 10 branch)
# ---------------------------------------------------------------------------------------------


def fetch_one_page(body: bytes):
    with scripted(lambda n, h: (200, JSON, body)) as (base, _log):
        return bounded(lambda: fetch_catalog(base_url=base, workers=1, progress=False), 60)


def accounted(cat, sent: int) -> None:
    assert cat.models.height + cat.rejects.height + cat.meta.duplicates == sent
    assert cat.rejects["reason"].drop_nulls().len() == cat.rejects.height


def test_a_numeric_id_next_to_its_string_twin_is_its_own_reject() -> None:
    records = make_records(60, seed=4)
    records[3]["id"], records[4]["id"] = 12345, "12345"
    cat = fetch_one_page(page(records))
    accounted(cat, 60)
    assert cat.models["model_id"].to_list().count("12345") == 1
    assert cat.rejects.height == 1 and cat.meta.duplicates == 0
    assert cat.models.height == 59


def test_two_records_without_id_are_two_rejects() -> None:
    records = make_records(60, seed=5)
    del records[10]["id"], records[20]["id"]
    cat = fetch_one_page(page(records))
    accounted(cat, 60)
    assert cat.rejects.height == 2 and cat.models.height == 58 and cat.meta.duplicates == 0


def test_a_record_nested_100000_deep_costs_one_record() -> None:
    records = make_records(59, seed=6)
    deep = b'{"id": "deep", "nest": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    head, tail = page(records[:30]), page(records[30:])
    body = head[:-2] + b"," + deep + b"," + tail[len(b'{"models":[') :]
    cat = fetch_one_page(body)
    accounted(cat, 60)
    assert cat.models.height == 59 and cat.rejects.height == 1


# ---------------------------------------------------------------------------------------------
# Row 8: credentials in the base URL
# ---------------------------------------------------------------------------------------------

PASSWORD = "pw-Hunter2-XyZZy"


def test_credentials_in_the_base_url_are_refused_everywhere(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    with scripted(lambda n, h: (200, JSON, page([]))) as (base, log):
        url = base.replace("http://", f"http://alice:{PASSWORD}@")
        errors = []
        for attempt in (
            lambda: ScenarioClient(url),
            lambda: fetch_catalog(base_url=url, progress=False),
        ):
            with pytest.raises(ClientConfigError) as err:
                attempt()
            errors.append(err.value)
        monkeypatch.setenv("SCENARIO_BASE_URL", url)
        with pytest.raises(ClientConfigError) as err:
            ScenarioClient()
        errors.append(err.value)
        monkeypatch.delenv("SCENARIO_BASE_URL")
        proc = cli(
            "--debug",
            "snapshot",
            "--base-url",
            url,
            "--out",
            tmp_path / "out",
            "--checkpoint",
            tmp_path / "ck",
            "--no-progress",
        )
        assert log == [], "a request went out"
    for e in errors:
        text = str(e) + repr(e)
        assert "SCENARIO_API_KEY" in text and "environment" in text
        assert PASSWORD not in text and "alice" not in text
    assert proc.returncode != 0 and "SCENARIO_API_KEY" in proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    for rec in caplog.records:
        assert PASSWORD not in rec.getMessage()
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes()


# ---------------------------------------------------------------------------------------------
# Row 9: a finished checkpoint rerun after the catalog changed
# ---------------------------------------------------------------------------------------------


def test_a_checkpoint_written_as_a_snapshot_is_not_replayed(tmp_path: Path) -> None:
    out, ck = tmp_path / "out", tmp_path / "ck"
    with serve_demo(models=80, seed=12) as srv:
        args = (
            "snapshot",
            "--base-url",
            srv.base_url,
            "--privacy",
            "public",
            "--out",
            out,
            "--checkpoint",
            ck,
            "--no-progress",
            "--page-size",
            "20",
        )
        first = cli(*args)
        assert first.returncode == 0, first.stderr[-2000:]
        assert sorted(p.name for p in ck.iterdir()) == ["checkpoint.json"], (
            "pages left in a used checkpoint"
        )
        assert (
            orjson.loads((ck / "checkpoint.json").read_bytes())["consumed"]
            == snapshots_in(out)[0].name
        )
        added = srv.catalog.add_models(30)
        before = srv.stats.requests
        second = cli(*args)
        assert second.returncode == 0, second.stderr[-2000:]
        assert srv.stats.requests > before, "the rerun replayed the checkpoint instead of fetching"
        want = sorted(r["id"] for r in srv.catalog.records() if r["privacy"] == "public")
    assert {a for a in added} & set(want), "the demo added no public model"
    old, new = snapshots_in(out)
    got = pl.read_parquet(new / "models.parquet")["model_id"].sort().to_list()
    assert got == want
    m_old, m_new = snap.read_manifest(old), snap.read_manifest(new)
    assert m_new["fetched_at"] > m_old["fetched_at"]


def test_a_complete_checkpoint_reused_in_python_keeps_its_own_fetch_time(tmp_path: Path) -> None:
    with serve_demo(models=50, seed=13) as srv:
        first = fetch_catalog(
            base_url=srv.base_url, checkpoint=tmp_path, progress=False, page_size=20
        )
        before = srv.stats.requests
        again = fetch_catalog(
            base_url=srv.base_url, checkpoint=tmp_path, progress=False, page_size=20
        )
        assert srv.stats.requests == before
    assert again.meta.fetched_at == first.meta.fetched_at  # the pages' time, not the replay's
    assert again.models.equals(first.models)


# ---------------------------------------------------------------------------------------------
# Row 10: duplicates reach the manifest
# ---------------------------------------------------------------------------------------------


def test_duplicates_are_counted_once_and_reach_the_manifest(tmp_path: Path) -> None:
    records = make_records(140, seed=14)
    # Four pages of 50 records, each repeating the last 20 of the page before: 60 duplicates.
    pages = [
        page(records[s : s + 50], f"t{i + 1}" if i < 3 else None)
        for i, s in enumerate((0, 30, 60, 90))
    ]
    with scripted(lambda n, h: (200, JSON, pages[min(n, 3)])) as (base, log):
        proc = cli(
            "snapshot",
            "--base-url",
            base,
            "--out",
            tmp_path / "out",
            "--no-progress",
            "--workers",
            "1",
        )
        assert len(log) == 4
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = snap.read_manifest(snapshots_in(tmp_path / "out")[0])
    assert m["duplicates"] == 60 and m["rows"]["models"] == 140 and m["rows"].get("rejects", 0) == 0
    assert (
        m["rows"]["models"] + m["rows"].get("rejects", 0) + m["duplicates"] == 200
    )  # records sent


# ---------------------------------------------------------------------------------------------
# Also: --out unusable, a write failing after the fetch, history(), unreachable hosts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["a-file", "missing-filesystem", "read-only"])
def test_unusable_out_fails_before_any_request(case: str, tmp_path: Path) -> None:
    ro: Path | None = None
    if case == "a-file":
        out = tmp_path / "out"
        out.write_text("not a folder")
        expect = "is not a folder"
    elif case == "missing-filesystem":
        out = tmp_path / "unmounted" / "drive" / "snapshots"
        expect = "does not exist"
    else:
        ro = tmp_path / "read-only"
        ro.mkdir()
        out = ro / "snapshots"
        # root ignores permission bits; the immutable flag stops even root from adding files.
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(ro)], check=True, timeout=30)
        else:
            ro.chmod(0o555)
        expect = "cannot write snapshots to"
    try:
        with serve_demo(models=20, seed=15) as srv:
            proc = cli("snapshot", "--base-url", srv.base_url, "--out", out, "--no-progress")
            assert srv.stats.requests == 0, "the fetch ran before --out was checked"
    finally:
        if ro is not None:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(ro)], check=True, timeout=30)
            ro.chmod(0o755)
    assert proc.returncode == 1, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert str(out) in line and expect in line, line
    assert not out.exists() or not out.is_dir() or not snapshots_in(out)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["no-checkpoint", "checkpoint"])
def test_a_write_failing_after_the_fetch_keeps_the_pages_for_a_rerun_without_requests(
    checkpoint: bool, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    records = make_records(30, seed=16)

    def answer(n: int, handler: object):
        # While the fetch runs, something breaks the output folder: .staging becomes a file.
        if n == 0:
            shutil.rmtree(out / snap.STAGING, ignore_errors=True)
            (out / snap.STAGING).write_text("in the way")
        return 200, JSON, page(records)

    with scripted(answer) as (base, log):
        args: tuple = (
            "snapshot",
            "--base-url",
            base,
            "--out",
            out,
            "--no-progress",
            "--workers",
            "1",
        )
        if checkpoint:
            args += ("--checkpoint", tmp_path / "ck")
        proc = cli(*args)
        assert proc.returncode == 1 and len(log) == 1
        assert f"could not write the snapshot under {out}" in proc.stderr
        if checkpoint:
            assert f"kept in the checkpoint folder {tmp_path / 'ck'}" in proc.stderr, proc.stderr[
                -2000:
            ]
            folder = None
        else:
            kept = re.search(r"--checkpoint (\S+) to write them without requests", proc.stderr)
            assert kept and "fetched pages were kept in" in proc.stderr, proc.stderr[-2000:]
            folder = Path(kept.group(1))
            args += ("--checkpoint", folder)
        try:
            (out / snap.STAGING).unlink()
            again = cli(*args)
            assert again.returncode == 0, again.stderr[-2000:]
            assert len(log) == 1, "the rerun sent requests"
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    written = snapshots_in(out)
    assert len(written) == 1
    assert pl.read_parquet(written[0] / "models.parquet")["model_id"].sort().to_list() == sorted(
        r["id"] for r in records
    )


def _two_snapshots(out: Path) -> list[Path]:
    from datetime import UTC, datetime

    from scenario_frames.tables.catalog import Catalog, CatalogMeta

    for day in (1, 2):
        meta = CatalogMeta(
            fetched_at=datetime(2026, 1, day, tzinfo=UTC),
            query={},
            base_url=None,
            pages=1,
            requests=1,
            retries=0,
            duration_s=0.1,
            duplicates=0,
            incremental_from=None,
        )
        snap.write_snapshot(Catalog.from_records(make_records(10, seed=day), meta=meta), out)
    return snapshots_in(out)


def test_history_skips_folders_without_manifest_and_names_a_damaged_snapshot(
    tmp_path: Path, caplog
) -> None:
    good, bad = _two_snapshots(tmp_path)
    # Work in progress or foreign: a snapshot_at= folder without manifest is not read at all.
    foreign = tmp_path / "snapshot_at=2026-01-03T00-00-00Z"
    foreign.mkdir()
    (foreign / "models.parquet").write_bytes(b"not parquet")
    assert (
        bounded(lambda: snap.history(tmp_path)["models"].collect(), 60)["snapshot_at"].n_unique()
        == 2
    )
    # A damaged snapshot: its models file cut short.
    path = bad / "models.parquet"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(snap.SnapshotError) as err:
        snap.history(tmp_path)
    assert (
        str(bad) in str(err.value)
        and "models.parquet" in str(err.value)
        and "damaged='skip'" in str(err.value)
    )
    models = snap.history(tmp_path, damaged="skip")["models"].collect()
    assert models["snapshot_at"].unique().to_list() == [good.name.removeprefix(snap.PREFIX)]
    assert any(bad.name in r.getMessage() for r in caplog.records)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("where", ["refused", "dns"])
def test_an_unreachable_host_fails_fast_and_is_named(where: str) -> None:
    url = (
        f"http://127.0.0.1:{_closed_port()}/v1"
        if where == "refused"
        else "https://no-such-host.invalid/v1"
    )
    client = ScenarioClient(url, backoff=0.01, backoff_max=0.02)
    with pytest.raises(APIConnectionError) as err:
        bounded(lambda: client.get("/models"), 60)
    assert type(err.value) is APIConnectionError, "not a timeout, not a server error"
    assert err.value.status is None and err.value.response is None
    assert err.value.request.url == url + "/models"
    host = url.split("//")[1].split("/")[0]
    assert host in str(err.value) and f"{CONNECT_ATTEMPTS} attempts" in str(err.value)
    assert client.stats()["requests"] == CONNECT_ATTEMPTS < client.max_attempts
    assert ("DNS" in str(err.value)) == (where == "dns")


def test_only_literal_loopback_and_localhost_may_use_plain_http() -> None:
    for url in (
        "http://evil.localhost:8080/v1",
        "http://localhost.evil.test/v1",
        "http://127.0.0.1.nip.io/v1",
    ):
        with pytest.raises(ClientConfigError, match="plain http"):
            ScenarioClient(url)
    for url in ("http://localhost:1/v1", "http://127.0.0.2:1/v1", "http://[::1]:1/v1"):
        assert ScenarioClient(url).base_url == url


@pytest.mark.parametrize(
    "query",
    [{"privacy": "private"}, {"privacy": "public", "sort_by": "updatedAt"}],
    ids=["partitioned", "sequential"],
)
def test_a_resumed_window_whose_token_expired_restarts_from_its_last_position(
    query: dict, tmp_path: Path
) -> None:
    with serve_demo(models=120, seed=17) as srv:
        client = ScenarioClient(srv.base_url, "demo", "demo")
        want = sorted(
            fetch_catalog(client=client, workers=1, progress=False, page_size=500, **query).models[
                "model_id"
            ]
        )
        stop_after = 3

        class Interrupted(Exception):
            pass

        seen = []

        def interrupt(key, body) -> None:  # stop the fetch after a few pages, as a crash would
            seen.append(key)
            if len(seen) == stop_after:
                raise Interrupted

        with pytest.raises(Interrupted):
            bounded(
                lambda: fetch_pages(
                    query,
                    client=client,
                    workers=3,
                    page_size=10,
                    checkpoint=tmp_path,
                    progress=False,
                    sink=interrupt,
                ),
                60,
            )
        # The server forgets its tokens: every stored one is now refused.
        expired = 0
        for state in tmp_path.glob("part-?????.json"):
            st = orjson.loads(state.read_bytes())
            if st["token"] and not st["done"]:
                st["token"] = "expired." + st["token"][::-1]
                state.write_bytes(orjson.dumps(st))
                expired += 1
        assert expired
        before = srv.stats.requests
        cat = bounded(
            lambda: fetch_catalog(
                client=client, workers=3, checkpoint=tmp_path, progress=False, page_size=10, **query
            ),
            60,
        )
        refused = [r for r in srv.stats.log[before:] if r.status == 400]
    assert len(refused) == expired
    assert sorted(cat.models["model_id"]) == want
    assert cat.rejects.height == 0
    assert cat.models.height + cat.meta.duplicates == sum(
        len(orjson.loads(p.read_bytes())["models"]) for p in tmp_path.glob("part-?????-??????.json")
    )


def test_a_body_in_an_encoding_we_did_not_ask_for_is_refused_by_name() -> None:
    brotli = (200, {**JSON, "Content-Encoding": "br"}, b"\x8b\x03\x80hello\x03")
    with scripted(lambda n, h: brotli) as (base, log):
        with pytest.raises(
            APIResponseValidationError,
            match=r"encoding we did not ask for \(Content-Encoding: br\)",
        ) as err:
            bounded(lambda: ScenarioClient(base).get("/models"), 30)
    assert err.value.reason == "unsupported-encoding" and len(log) == 1


def test_an_endless_body_without_length_ends_at_the_page_limit() -> None:
    """No Content-Length, no end: the body is cut at max_page_bytes, not read forever."""

    def endless(n: int, handler):
        handler.close_connection = True

        def write(wfile, entry: dict) -> None:
            entry["sent"] = 0
            chunk = b'{"models": [' + b" " * 65_000
            while True:  # until the client hangs up
                wfile.write(chunk)
                entry["sent"] += len(chunk)

        return 200, {**JSON, "Connection": "close"}, write

    with scripted(endless) as (base, log):
        with pytest.raises(APIResponseValidationError) as err:
            bounded(lambda: ScenarioClient(base, max_page_bytes=1 << 20).get("/models"), 30)
    assert err.value.reason == "body-too-large" and "1,048,576 bytes" in str(err.value)
    assert len(log) == 1
