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
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

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
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
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
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (tmp_path / "jupyterlab.log").read_text()[-3000:]
                    )
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
            expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(
                started, timeout=10_000
            )
            return
        except AssertionError:
            page.keyboard.press("Escape")
    pytest.fail("Run All Cells never started the notebook")


COUNT_TEXT = re.compile(r"^([\d,]+) of ([\d,]+) models$")
# Window widths: the laptop / split view (1100 px: a ~670 px notebook column) and
# wide screen (1600 px), plus the ends of the range the panel promises: ~570 px and ~1560 px
# notebook columns next to JupyterLab's file browser.
WIDTHS = (1100, 1600, 1000, 2000)

# Every element of the panel whose text must show whole: labels, readouts, HTML text,
# buttons (chips included) and inline rows; plus every option of every multi-select
# (measured with the select's own font against its inner width) and the panel itself
# against the output area that holds it.  Returns one line per clipped element.
CLIPPED_JS = """
(panel) => {
  const bad = [];
  const what = (el) => (el.className || el.tagName) + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const sel = '.widget-label, .widget-label-basic, .widget-readout, .widget-html-content, '
            + '.jupyter-button, .widget-inline-hbox, .widget-inline-vbox, .sf-count';
  for (const el of panel.querySelectorAll(sel)) {
    if (!el.offsetParent || el.closest('.sf-grid')) continue;
    if (el.scrollWidth > el.clientWidth + 1) bad.push(what(el) + ` ${el.scrollWidth}>${el.clientWidth}`);
  }
  const ctx = document.createElement('canvas').getContext('2d');
  for (const s of panel.querySelectorAll('select')) {
    if (!s.offsetParent) continue;
    const st = getComputedStyle(s);
    ctx.font = `${st.fontStyle} ${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
    const room = s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) - 4;
    for (const o of s.options) {
      const w = ctx.measureText(o.text).width;
      if (w > room) bad.push(`option "${o.text}" ${Math.ceil(w)}>${Math.floor(room)}`);
    }
  }
  const out = panel.closest('.jp-OutputArea-output') || panel.parentElement;
  const r = panel.getBoundingClientRect(), o = out.getBoundingClientRect();
  if (r.right > o.right + 1) bad.push(`panel right edge ${r.right} beyond its output ${o.right}`);
  if (panel.scrollWidth > panel.clientWidth + 1) bad.push(`panel scrolls sideways ${panel.scrollWidth}>${panel.clientWidth}`);
  return bad;
}
"""


def _counts(text: str) -> tuple[int, int]:
    match = COUNT_TEXT.match(text)
    assert match, text
    return tuple(int(g.replace(",", "")) for g in match.groups())  # type: ignore[return-value]


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


# Resolves once the element's size has not changed for three animation frames in a row.
_SETTLED_JS = """(sel) => new Promise(done => {
    let last = null, same = 0;
    const tick = () => {
        const r = document.querySelector(sel).getBoundingClientRect();
        const now = r.width + "x" + r.height;
        same = now === last ? same + 1 : 0;
        last = now;
        if (same >= 3) done(now); else requestAnimationFrame(tick);
    };
    tick();
})"""


def _layout_settled(page, selector: str) -> None:
    """Wait for the browser's own signal that layout is done (stable size over frames)."""
    page.evaluate(_SETTLED_JS, selector)


def _render_every_output(page) -> None:
    """Scroll every cell into view once: JupyterLab renders outputs lazily."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    for i in range(cells.count()):
        cells.nth(i).scroll_into_view_if_needed()  # Playwright waits for the cell to be stable


def test_panel_fits_filters_and_tags_in_jupyterlab(lab: tuple[str, Path]) -> None:
    """Run notebook 01 in JupyterLab; at 1000 to 2000 px nothing in the panel is clipped,
    a type click and a tag typed with Enter change the count, unknown tags are flagged,
    Reset clears them, and the charts draw without Vega-Lite version warnings."""
    from playwright.sync_api import expect, sync_playwright

    base, _root = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS[0], "height": 1000})
            console: list[tuple[str, str]] = []
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            # Wait for the kernel before running, or "Run All" can race its start.
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first
            ).to_be_attached(timeout=60_000)
            _run_all_cells(page)

            count = page.locator(".sf-filter-panel .sf-count").first
            try:
                expect(count).to_have_text(COUNT_TEXT, timeout=120_000)
                # The last cell ran (it closes the demo): every chart cell has run too.
                expect(
                    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first
                ).to_be_attached(timeout=120_000)
                shown = True
            except AssertionError:
                shown = False
            if not shown:
                page.screenshot(path=str(ARTIFACTS / "browser_failure.png"))
                prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
                # The cell that stopped "Run All" may be out of view (not rendered): scroll.
                page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "browser_failure_top.png"))
                outputs = page.locator(".jp-OutputArea-output").all_text_contents()
                errors = (
                    _errors_on_page(page)
                    + [t for k, t in console if k == "error"]
                    + [t[-1500:] for t in outputs if "Error" in t]
                )
                pytest.fail(
                    "the panel never showed its count (screenshot: tests/artifacts/"
                    f"browser_failure.png); prompts {prompts}; errors:\n" + "\n---\n".join(errors),
                    pytrace=False,
                )
            errors = _errors_on_page(page)
            assert not errors, "the notebook raised:\n" + "\n---\n".join(errors)
            _render_every_output(page)
            charts = page.locator(".vega-embed")
            assert charts.count() >= 5
            for i in range(charts.count()):  # for a human look at axes, colours and stacks
                charts.nth(i).scroll_into_view_if_needed()
                charts.nth(i).screenshot(path=str(ARTIFACTS / f"browser_chart_{i}.png"))
            vega_warnings = [t for _k, t in console if "Vega-Lite" in t or "vega-lite" in t]
            assert not vega_warnings, vega_warnings

            panel = page.locator(".sf-filter-panel").first
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1900})  # the whole panel
                panel.scroll_into_view_if_needed()
                _layout_settled(page, ".sf-filter-panel")
                clipped = panel.evaluate(CLIPPED_JS)
                panel.screenshot(path=str(ARTIFACTS / f"browser_panel_{width}.png"))
                column = panel.evaluate("p => p.getBoundingClientRect().width")
                print(f"window {width} px: panel {column:.0f} px wide")
                assert not clipped, f"clipped at {width} px:\n" + "\n".join(clipped)
                assert panel.locator(".sf-grid").first.bounding_box()["height"] > 200

            # The grid scrolls through the selection: rows further down are fetched and drawn.
            grid = panel.locator(".sf-grid").first
            grid.scroll_into_view_if_needed()
            top = grid.screenshot()
            box = grid.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            deadline = time.monotonic() + 20
            while True:
                page.mouse.wheel(0, 1500)
                time.sleep(0.3)
                if grid.screenshot() != top:
                    break
                assert time.monotonic() < deadline, "the grid did not scroll"
            grid.screenshot(path=str(ARTIFACTS / "browser_grid_scrolled.png"))

            # Click the rarest type: the count changes.
            page.set_viewport_size({"width": WIDTHS[0], "height": 1000})
            panel.scroll_into_view_if_needed()
            _shown, total = _counts((count.text_content() or "").strip())
            page.locator(".sf-filter-panel button", has_text="Reset").first.click()
            before = f"{total:,} of {total:,} models"
            expect(count).to_have_text(before, timeout=30_000)
            n_all = total
            types = page.locator(".sf-filter-panel .widget-select-multiple select").first
            options = types.locator("option")
            assert options.count() >= 2, "the type filter offers fewer than two types"
            types.select_option(index=options.count() - 1)
            after = _wait_for_new_count(count, before)
            n_type, total_after = _counts(after)
            assert 0 < n_type < n_all == total == total_after, (before, after)

            # A tag typed in the tag box and Enter: filters at once (no need to leave the box).
            entry = page.locator(".sf-filter-panel .sf-tag-entry input").first
            tag = page.locator(
                ".sf-filter-panel .sf-tag-entry datalist option"
            ).first.get_attribute("value")
            assert tag, "the tag box suggests no tag"
            assert entry.get_attribute("placeholder"), "the tag box has no placeholder"
            entry.click()
            entry.fill(tag)
            entry.press("Enter")
            with_tag = _wait_for_new_count(count, after)
            assert _counts(with_tag)[0] < n_type, (after, with_tag)
            expect(page.locator(".sf-filter-panel .sf-tag-chips .sf-tag")).to_have_count(1)
            # The kernel clears the box after taking a tag; typing before that clear has
            # arrived would be overwritten by it, so wait for the empty box first.
            expect(entry).to_have_value("", timeout=30_000)
            # An unknown tag is flagged in red, visibly.
            entry.fill("no-such-tag-anywhere")
            entry.press("Enter")
            unknown = page.locator(".sf-filter-panel .sf-tag-chips .sf-tag-unknown")
            expect(unknown).to_have_count(1, timeout=30_000)
            expect(page.locator(".sf-filter-panel .sf-tag-note")).to_contain_text(
                "no-such-tag-anywhere"
            )
            # Export: the status line (with the file's path) shows whole.
            page.locator(".sf-filter-panel button", has_text="Export").first.click()
            expect(page.locator(".sf-filter-panel .sf-export-status")).to_contain_text(
                "wrote", timeout=30_000
            )
            clipped = panel.evaluate(CLIPPED_JS)
            assert not clipped, "clipped with tags and export status:\n" + "\n".join(clipped)
            panel.screenshot(path=str(ARTIFACTS / "browser_panel_tags.png"))
            # Reset clears the tags, the chips and the flag.
            page.locator(".sf-filter-panel button", has_text="Reset").first.click()
            expect(count).to_have_text(f"{total:,} of {total:,} models", timeout=30_000)
            expect(page.locator(".sf-filter-panel .sf-tag-chips .jupyter-button")).to_have_count(0)
            expect(page.locator(".sf-filter-panel .sf-tag-note")).to_have_text("")
            page.screenshot(path=str(ARTIFACTS / "browser_notebook.png"))
        finally:
            browser.close()
