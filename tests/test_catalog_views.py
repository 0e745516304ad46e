"""``Catalog.describe()`` and ``Catalog.to_pandas()`` without a table name, and without pandas."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from scenario_frames import schema as S
from scenario_frames.demo.generator import make_records
from scenario_frames.tables.catalog import Catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_records(make_records(40, seed=9))


def test_describe_without_a_table_is_the_whole_dictionary(catalog: Catalog) -> None:
    every = catalog.describe()
    assert every.columns[0] == "table"
    assert every.get_column("table").unique(maintain_order=True).to_list() == list(catalog.tables)
    for name in catalog.tables:
        part = every.filter(pl.col("table") == name).drop("table")
        assert part.equals(catalog.describe(name)), name
    assert every.height == sum(len(S.TABLES[t].columns) for t in catalog.tables)


def test_to_pandas_defaults_to_models(catalog: Catalog) -> None:
    frame = catalog.to_pandas()
    assert list(frame.columns) == catalog.models.columns and len(frame) == catalog.models.height
    assert len(catalog.to_pandas("variants")) == catalog.variants.height


def test_to_pandas_without_pandas_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['pandas'] = None  # as on an install without pandas\n"
        "from scenario_frames.demo.generator import make_records\n"
        "from scenario_frames.tables.catalog import Catalog\n"
        "cat = Catalog.from_records(make_records(5, seed=1))\n"
        "try:\n"
        "    cat.to_pandas()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install pandas" in out.stdout and "to_pandas" in out.stdout
