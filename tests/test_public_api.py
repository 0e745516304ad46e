"""The public names: the type checkers' view (``TYPE_CHECKING`` block) matches the lazy loader's.

``scenario_frames/__init__.py`` loads its heavier names on first use (PEP 562) and lists the
same names in an ``if TYPE_CHECKING:`` block so that mypy and IDEs see their real types.  The
two lists are written by hand; these tests fail the moment they disagree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import scenario_frames as sf

INIT = Path(sf.__file__)


def _type_checking_block() -> ast.If:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node
    raise AssertionError("scenario_frames/__init__.py has no `if TYPE_CHECKING:` block")


def test_type_checking_block_names_every_lazy_name_and_nothing_else() -> None:
    block = _type_checking_block()
    bound = {
        alias.asname or alias.name
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert bound == set(sf._LAZY)


def test_type_checking_block_binds_the_objects_the_lazy_loader_returns() -> None:
    """Run the block's imports for real: each name must be the very object ``sf.<name>`` is."""
    block = _type_checking_block()
    code = compile(ast.Module(body=block.body, type_ignores=[]), str(INIT), "exec")
    ns: dict[str, object] = {"__name__": "scenario_frames", "__package__": "scenario_frames"}
    exec(code, ns)
    for name in sf._LAZY:
        assert ns[name] is getattr(sf, name), name


def test_all_and_dir_agree_with_what_resolves() -> None:
    listed = dir(sf)
    assert len(sf.__all__) == len(set(sf.__all__))
    for name in sf.__all__:
        assert name in listed, name
        assert getattr(sf, name) is not None
    for name in sf._LAZY:
        assert name in listed, name
    # __all__ holds the functions and classes; the module names stay out of `import *`
    assert {n for n, (_, attr) in sf._LAZY.items() if attr is not None} <= set(sf.__all__)
