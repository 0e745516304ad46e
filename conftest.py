"""Set-up for the examples in the package's docstrings, run as doctests by ``python -m pytest``.

Each example gets ``tmp_path``, a fresh folder to write snapshots and files to, and runs with
no Scenario credentials or base URL in the environment: examples talk only to the embedded
demo they start, and a real key pair must never be sent to it (nor an example's outcome
depend on whose machine runs it).
"""

from __future__ import annotations

import pytest
from _pytest.doctest import DoctestItem

_ENVIRONMENT = (
    "SCENARIO_BASE_URL",
    "SCENARIO_API_KEY",
    "SCENARIO_API_SECRET",
    "SCENARIO_SDK_API_KEY",
    "SCENARIO_SDK_API_SECRET",
)


@pytest.fixture(autouse=True)
def _doctest_setup(request: pytest.FixtureRequest) -> None:
    """Give a doctest its own ``tmp_path`` and an environment without Scenario settings."""
    if not isinstance(request.node, DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace["tmp_path"] = request.getfixturevalue("tmp_path")
    monkeypatch = request.getfixturevalue("monkeypatch")
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
