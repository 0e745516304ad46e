"""The explore notebook in a real browser: JupyterLab, ipywidgets and Debian's Chromium.

What this proves that nbclient cannot: the panel's widgets render in JupyterLab's front end,
a change made by clicking reaches the kernel, and the kernel's new count comes back to the
page.  JupyterLab runs headless on loopback with a fixed token in a temporary copy of
``notebooks/``; Playwright drives ``/usr/bin/chromium`` (Playwright's own browser download
cannot work here).  A screenshot lands in ``tests/artifacts/`` (git-ignored) for a human look.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_explore_catalog.ipynb"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
TOKEN = "scenario-frames-browser-test"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium); "
        ".ci/run does this on CI",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quiet_lab_settings(settings: Path) -> None:
    """User settings that stop JupyterLab fetching news on a fresh profile (no network here)."""
    target = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server over a temporary copy of notebooks/: yields (base URL, root dir)."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    home = tmp_path / "jupyter"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    _quiet_lab_settings(home / "lab-settings")
    port = _free_port()
    log = (tmp_path / "jupyterlab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _errors_on_page(page) -> list[str]:
    """Text of error outputs (tracebacks) shown in the notebook."""
    found = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    return [t for t in found.all_text_contents() if "Traceback" in t or "Error" in t]


def _run_all_cells(page) -> None:
    """Run > Run All Cells, as a user would; retried when the click lands too early.

    Until the notebook is the tracked current widget the menu item is disabled and a click
    does nothing, so focus a cell first and check that the first cell really started.
    """
    from playwright.sync_api import expect

    started = re.compile(r"\[(\*|\d+)\]")
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    for _attempt in range(4):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled)", has_text="Run All Cells")
        item.first.click(timeout=15_000)
        try:
            expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(started,
                                                                          timeout=10_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    pytest.fail("Run All Cells never started the notebook")


COUNT_TEXT = re.compile(r"^([\d,]+) of ([\d,]+) models$")


def _wait_for_new_count(count, before: str, timeout: float = 30.0) -> str:
    """Poll the count label until it shows a well-formed count other than ``before``."""
    deadline = time.monotonic() + timeout
    text = before
    while time.monotonic() < deadline:
        text = (count.text_content() or "").strip()
        if text != before and COUNT_TEXT.match(text):
            return text
        time.sleep(0.1)
    pytest.fail(f"the count never changed from {before!r} (last seen {text!r})")


def test_panel_filters_in_jupyterlab(lab: tuple[str, Path]) -> None:
    """Run notebook 01, choose a model type in the panel, see the count change, screenshot."""
    from playwright.sync_api import expect, sync_playwright

    base, _root = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            # Wait for the kernel before running, or "Run All" can race its start.
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                   .first).to_be_attached(timeout=60_000)
            _run_all_cells(page)

            count = page.locator(".sf-filter-panel .sf-count").first
            try:
                expect(count).to_have_text(COUNT_TEXT, timeout=120_000)
                shown = True
            except AssertionError:
                shown = False
            if not shown:
                page.screenshot(path=str(ARTIFACTS / "browser_failure.png"))
                prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
                errors = _errors_on_page(page) + console_errors
                pytest.fail("the panel never showed its count (screenshot: tests/artifacts/"
                            f"browser_failure.png); prompts {prompts}; errors:\n"
                            + "\n---\n".join(errors), pytrace=False)
            # JupyterLab skips rendering cells out of view, so bring the panel into view.
            panel = page.locator(".sf-filter-panel").first
            panel.scroll_into_view_if_needed()
            before = (count.text_content() or "").strip()
            errors = _errors_on_page(page)
            assert not errors, "the notebook raised:\n" + "\n---\n".join(errors)

            # The first multi-select of the panel is the model type; pick its rarest type.
            types = page.locator(".sf-filter-panel .widget-select-multiple select").first
            options = types.locator("option")
            assert options.count() >= 2, "the type filter offers fewer than two types"
            types.select_option(index=options.count() - 1)
            after = _wait_for_new_count(count, before)
            (n_before, total), (n_after, total_after) = (
                [int(g.replace(",", "")) for g in COUNT_TEXT.match(t).groups()]
                for t in (before, after)
            )
            assert 0 < n_after < n_before <= total == total_after, (before, after)

            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(ARTIFACTS / "browser_panel.png"))
            page.screenshot(path=str(ARTIFACTS / "browser_notebook.png"))
        finally:
            browser.close()
