"""Builds the one compiled part, ``scenario_frames.tables._scan`` (everything else is in pyproject.toml).

The extension is optional: without a C compiler the package still installs, and the fast path
runs its numpy version of the same loops (``scenario_frames.tables.decode``), slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "scenario_frames.tables._scan",
            ["scenario_frames/tables/_scan.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
