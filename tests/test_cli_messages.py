"""What a new user reads: every message of the command line names the flag to change.

Each test runs the installed ``scenario-frames`` console script in a subprocess, the way a
user types it, with no Scenario credentials in its environment unless the test sets some.
Errors must be one line (no traceback, no Python source line) and use the command's flags,
never the library's keywords.  Where a message promises "before any request", the command is
pointed at a scripted loopback server whose request log must stay empty.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _scripted_server import scripted

SCRIPT = shutil.which("scenario-frames", path=str(Path(sys.executable).parent)) or "scenario-frames"
TIMEOUT = 120  # seconds; every command here ends in a few seconds unless something hangs

# Python spellings a shell user must never be told to type.
PYTHON_WORDS = re.compile(
    r"\b(page_size|sort_by|created_after|created_before|updated_after|"
    r"updated_before|collection_ids?|api_key|api_secret|privacy=|sort_by=)\b|"
    r"\b(pageSize|sortBy|createdAfter|createdBefore|updatedAfter)\b"
)


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run the console script without any SCENARIO_* variable (plus ``env``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=timeout,
    )


def assert_clean(stderr: str) -> None:
    """No traceback and no Python source location anywhere in what the user reads."""
    assert "Traceback" not in stderr, stderr
    assert not re.search(r'\.py:\d+|File "', stderr), stderr


def one_error(res: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a failed command (after any log lines)."""
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert_clean(res.stderr)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    assert not PYTHON_WORDS.search(errors[0]), errors[0]
    return errors[0]


@pytest.fixture()
def silent_api():
    """A loopback server that must receive nothing; yields (base URL, request log)."""
    with scripted(lambda n, h: (500, {}, b'{"message": "no request was expected"}')) as (url, log):
        yield url, log


# ---------------------------------------------------------------------------------------------
# Query rules, in flag names, before any request
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "wanted"),
    [
        (["--page-size", "0"], "error: --page-size must be between 1 and 500"),
        (["--page-size", "501"], "error: --page-size must be between 1 and 500"),
        (["--created-after", "2025-01-01"], "add --sort-by createdAt"),
        (
            ["--created-after", "2025-02-30", "--sort-by", "createdAt"],
            "error: --created-after: '2025-02-30'",
        ),
        (
            ["--type", "flux.1-lora", "--types", "sd-xl"],
            "--type and --types cannot be used together",
        ),
        (["--workers", "0"], "error: --workers must be at least 1"),
        (["--max-attempts", "0"], "error: --max-attempts must be at least 1"),
    ],
)
def test_query_errors_name_flags_before_any_request(silent_api, flags, wanted) -> None:
    url, log = silent_api
    res = run("snapshot", "--base-url", url, "--no-progress", *flags)
    assert wanted in one_error(res)
    assert log == []


@pytest.mark.parametrize(
    "command", [["snapshot"], ["usage", "--start", "2025-01-01", "--end", "2025-01-02"]]
)
def test_unusable_base_url_names_the_flag(command) -> None:
    creds = {"SCENARIO_API_KEY": "k-1", "SCENARIO_API_SECRET": "s-1"}
    line = one_error(run(*command, "--base-url", "http://example.invalid/v1", env=creds))
    assert line.startswith("error: --base-url: refusing plain http to 'example.invalid'")


def test_status_hint_fits_the_cli_default_privacy(silent_api) -> None:
    """Without credentials the CLI lists public models, so --status needs credentials too."""
    url, log = silent_api
    line = one_error(run("snapshot", "--base-url", url, "--status", "trained"))
    assert "--status" in line and "--privacy private" in line
    assert "the default here is public" in line
    assert "SCENARIO_API_KEY and SCENARIO_API_SECRET" in line
    # With credentials the default is private, and --type is the flag out of place.
    creds = {"SCENARIO_API_KEY": "k-123", "SCENARIO_API_SECRET": "s-456"}
    line = one_error(run("snapshot", "--base-url", url, "--type", "flux.1-lora", env=creds))
    assert "add --privacy public (the default here is private)" in line
    assert "k-123" not in line and "s-456" not in line
    assert log == []


def test_private_listing_without_credentials_is_refused_at_once(silent_api) -> None:
    url, log = silent_api
    line = one_error(run("snapshot", "--base-url", url, "--privacy", "private"))
    assert "--privacy private" in line and "SCENARIO_API_KEY and SCENARIO_API_SECRET" in line
    assert "--privacy public" in line
    assert log == []


def test_usage_without_credentials_names_the_environment_variables(silent_api, tmp_path) -> None:
    url, log = silent_api
    line = one_error(
        run(
            "usage",
            "--base-url",
            url,
            "--start",
            "2025-01-01",
            "--end",
            "2025-02-01",
            "--out",
            str(tmp_path / "u"),
        )
    )
    assert "SCENARIO_API_KEY and SCENARIO_API_SECRET" in line and "--demo" in line
    assert log == [] and not (tmp_path / "u").exists()


@pytest.mark.parametrize(
    ("flags", "wanted"),
    [
        (
            ["--start", "2025-02-01", "--end", "2025-01-01"],
            "error: --end (2025-01-01T00:00:00.000Z) must be after --start",
        ),
        (
            ["--start", "2025-13-01", "--end", "2025-01-01"],
            "error: --start: '2025-13-01' is not an ISO 8601 date",
        ),
    ],
)
def test_usage_range_errors_name_flags(tmp_path, flags, wanted) -> None:
    assert wanted in one_error(run("usage", "--demo", *flags, "--out", str(tmp_path / "u")))


# ---------------------------------------------------------------------------------------------
# Warnings, global flags
# ---------------------------------------------------------------------------------------------


def test_unknown_type_warns_in_one_line_without_source(tmp_path) -> None:
    res = run(
        "snapshot",
        "--demo",
        "--demo-models",
        "50",
        "--type",
        "banana",
        "--no-progress",
        "--out",
        str(tmp_path),
    )
    assert_clean(res.stderr)
    warned = [line for line in res.stderr.splitlines() if "banana" in line and "WARNING" in line]
    assert len(warned) == 1, res.stderr
    assert "q = ModelQuery" not in res.stderr and "UnknownEnumWarning" not in res.stderr
    # The demo refuses the type (a real API might know it): one error line, after the warning.
    assert "banana" in one_error(res)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_and_quiet_work_before_and_after_the_subcommand(tmp_path, where) -> None:
    def cmd(flag: str, *rest: str) -> list[str]:
        return [flag, *rest] if where == "before" else [*rest[:1], flag, *rest[1:]]

    missing = str(tmp_path / "nothing-here")
    debug = run(*cmd("--debug", "diff", missing, missing))
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # --debug shows it
    plain = run(*cmd("-q", "diff", missing, missing))
    assert one_error(plain) == f"error: no such snapshot: {missing}"
    quiet = run(
        *cmd(
            "-q",
            "snapshot",
            "--demo",
            "--demo-models",
            "40",
            "--no-progress",
            "--out",
            str(tmp_path / "s"),
        )
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr  # the demo's start line and the fetch summary are INFO


# ---------------------------------------------------------------------------------------------
# snapshot --demo
# ---------------------------------------------------------------------------------------------


def test_snapshot_demo_says_what_it_lists_and_leaves_no_staging(tmp_path) -> None:
    from scenario_frames.demo import DemoServer

    split = DemoServer().privacy_split()  # the one demo catalog: 2,000 models
    hidden = split.private + split.unlisted
    res = run("snapshot", "--demo", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert_clean(res.stderr)
    assert f"2,000 models, of which {split.public:,} public (listed here)" in res.stdout
    assert f"--privacy private lists the {hidden:,} private and unlisted ones" in res.stdout
    assert "demo/demo" in res.stdout
    assert f"models    {split.public:,} in " in res.stdout
    out = tmp_path / "snapshots"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("snapshot_at=")) == []
    # The demo carries its own credentials: --privacy private needs none in the environment.
    private = run("snapshot", "--demo", "--privacy", "private", "--no-progress", cwd=tmp_path)
    assert private.returncode == 0, private.stderr
    assert f"2,000 models, of which {hidden:,} private or unlisted (listed here" in private.stdout
    narrowed = run(
        "snapshot",
        "--demo",
        "--type",
        "flux.1-lora",
        "--no-progress",
        "--out",
        "narrow",
        cwd=tmp_path,
    )
    assert narrowed.returncode == 0, narrowed.stderr
    listed = re.search(r"public \(([\d,]+) of them match this query\)", narrowed.stdout)
    assert listed, narrowed.stdout
    folder = next((tmp_path / "narrow").glob("snapshot_at=*"))
    rows = json.loads((folder / "manifest.json").read_text())["rows"]["models"]
    assert int(listed.group(1).replace(",", "")) == rows < split.public


def test_missing_manifest_is_named(tmp_path) -> None:
    res = run("snapshot", "--demo", "--demo-models", "30", "--no-progress", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    folder = next(tmp_path.glob("snapshot_at=*"))
    copy = tmp_path / "copy" / folder.name
    shutil.copytree(folder, copy)
    (copy / "manifest.json").unlink()
    line = one_error(run("diff", str(folder), str(copy)))
    assert f"{copy / 'manifest.json'} is missing" in line
    line = one_error(run("diff", str(folder), str(tmp_path / "copy")))
    assert "manifest.json is missing from " + folder.name in line


# ---------------------------------------------------------------------------------------------
# demo-server
# ---------------------------------------------------------------------------------------------


def test_demo_server_help_and_limit_agree() -> None:
    from scenario_frames.cli import MAX_DEMO_MODELS
    from scenario_frames.demo.generator import DemoCatalog

    helptext = run("demo-server", "--help").stdout
    assert "demo/demo" in helptext and "public-auth-token" in helptext
    assert f"up to {MAX_DEMO_MODELS:,}" in helptext and "--allow-remote" in helptext
    res = run("demo-server", "--models", str(MAX_DEMO_MODELS + 1))
    assert res.returncode == 2 and f"between 0 and {MAX_DEMO_MODELS:,}" in res.stderr
    assert_clean(res.stderr)
    with pytest.raises(ValueError, match=f"{MAX_DEMO_MODELS:,}"):
        DemoCatalog(MAX_DEMO_MODELS + 1)
    assert len(DemoCatalog(MAX_DEMO_MODELS)) == MAX_DEMO_MODELS  # the generator's own bound


def test_demo_server_refuses_other_hosts_without_allow_remote() -> None:
    line = one_error(run("demo-server", "--host", "0.0.0.0"))
    assert "--host 0.0.0.0" in line and "--allow-remote" in line


def test_demo_server_names_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = one_error(run("demo-server", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_demo_server_prints_url_split_and_credentials() -> None:
    proc = subprocess.Popen(
        [SCRIPT, "demo-server", "--models", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    from scenario_frames.demo import DemoServer

    split = DemoServer(models=100).privacy_split()
    assert lines[0].startswith("http://127.0.0.1:") and lines[0].endswith("/v1")
    assert lines[1] == (
        f"catalog: 100 models: {split.public} public, {split.private} private, "
        f"{split.unlisted} unlisted (seed 0)"
    )
    assert lines[2].startswith("credentials: HTTP Basic demo/demo lists the private and unlisted")
    assert "public-auth-token" in lines[2]
    assert_clean(err)


def test_custom_demo_secret_is_never_printed() -> None:
    proc = subprocess.Popen(
        [SCRIPT, "demo-server", "--models", "10", "--api-key", "k9", "--api-secret", "hush-77e1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "the configured key pair" in printed[2]
    assert "hush-77e1" not in "".join(printed) + err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--deadline", "nan"),
        ("--deadline", "inf"),
        ("--deadline", "0"),
        ("--deadline", "-1"),
        ("--max-retry-after", "nan"),
        ("--max-retry-after", "inf"),
        ("--max-retry-after", "-1"),
        ("--max-retry-after", "soon"),
    ],
)
def test_wait_bounds_are_checked_by_flag_before_anything_starts(silent_api, flag, value) -> None:
    url, log = silent_api
    for where in (["--base-url", url], ["--demo"]):
        res = run("snapshot", *where, "--no-progress", flag, value)
        assert res.returncode == 2, res.stderr
        assert_clean(res.stderr)
        assert (
            f"error: argument {flag}: expected a number of seconds" in res.stderr.splitlines()[-1]
        ), res.stderr
        assert "demo Scenario API at" not in res.stderr, "the demo server started first"
    assert log == []


def test_unusable_checkpoint_is_named_before_any_request(silent_api, tmp_path) -> None:
    url, log = silent_api
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for folder, wanted in (
        (a_file, "it exists and is not a folder"),
        (tmp_path / "missing" / "ck", "its parent folder"),
    ):
        for where in (["--base-url", url], ["--demo"]):
            line = one_error(
                run(
                    "snapshot",
                    *where,
                    "--no-progress",
                    "--out",
                    str(tmp_path / "out"),
                    "--checkpoint",
                    str(folder),
                )
            )
            assert line.startswith(f"error: --checkpoint {folder}: ") and wanted in line, line
            assert "Errno" not in line
    assert (
        log == [] and a_file.read_text() == "not a folder" and not (tmp_path / "missing").exists()
    )
