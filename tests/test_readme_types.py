"""The README's Python code type-checks against the package (mypy, the project's settings).

Every ```python block of README.md is written to a file of its own and mypy checks them all in
one run, with the project's ``[tool.mypy]`` settings.  A canary file that misuses the public
API goes along: mypy must flag exactly its lines, which proves the check sees the package's
real types (a lazy ``__getattr__`` without the ``TYPE_CHECKING`` block would make every
``sf.<name>`` an ``object`` and the canary would report something else).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MYPY_BOUND_S = 600  # a cold mypy cache reads polars' and pyarrow's hints; the bound is a safety net

# Blocks that are deliberately not type-checked, by their first line, with the reason.
NOT_CHECKED: dict[str, str] = {}

CANARY = """\
import scenario_frames as sf

sf.fetch_catalog(privacy="secret")  # canary: privacy
sf.fetch_catalog(sort_by="name")  # canary: sort_by
sf.fetch_catalog(page_size="ten")  # canary: page_size
n: int = sf.fetch_catalog()  # canary: return type
"""


def _python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the opening fence, code) of each ```python block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            blocks.append((i + 1, "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return blocks


def test_readme_has_python_blocks() -> None:
    assert len(_python_blocks(README.read_text(encoding="utf-8"))) >= 2


@pytest.mark.slow
def test_readme_python_blocks_type_check(tmp_path: Path) -> None:
    files = []
    for line, code in _python_blocks(README.read_text(encoding="utf-8")):
        first = code.splitlines()[0] if code.strip() else ""
        if first in NOT_CHECKED:
            continue
        f = tmp_path / f"readme_line_{line}.py"
        f.write_text(code, encoding="utf-8")
        files.append(f)
    canary = tmp_path / "canary.py"
    canary.write_text(CANARY, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--no-error-summary",
            "--show-error-codes",
            *map(str, files),
            str(canary),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=MYPY_BOUND_S,
        env={**os.environ, "MYPYPATH": str(ROOT)},  # this checkout's package, not an installed one
    )
    errors = [ln for ln in proc.stdout.splitlines() if ": error:" in ln]
    # (the package's own errors are the CI's mypy step; here only the README's code counts)
    readme_errors = [ln for ln in errors if ln.startswith("readme_line_")]
    assert not readme_errors, "README code fails to type-check:\n" + "\n".join(readme_errors)
    canary_lines = {int(m.group(1)) for ln in errors if (m := re.match(r"canary\.py:(\d+):", ln))}
    expected = {n for n, text in enumerate(CANARY.splitlines(), 1) if "# canary:" in text}
    assert canary_lines == expected, proc.stdout + proc.stderr
