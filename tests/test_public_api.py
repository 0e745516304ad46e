"""The public names: the type checkers' view (``TYPE_CHECKING`` block) matches the lazy loader's.

``scenario_frames/__init__.py`` loads its heavier names on first use (PEP 562) and lists the
same names in an ``if TYPE_CHECKING:`` block so that mypy and IDEs see their real types.  The
two lists are written by hand; these tests fail the moment they disagree.
"""

from __future__ import annotations

import ast
import inspect
import typing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from _bounded import bounded

import scenario_frames as sf
from scenario_frames import fetch as fetch_module
from scenario_frames.fetch import fetch_catalog, fetch_pages
from scenario_frames.listing.query import API_NAMES, ModelQuery
from scenario_frames.schema import QUERY_PRIVACY, QUERY_SORT_BY, QUERY_SORT_DIRECTION, QUERY_STATUS
from scenario_frames.transport.client import ScenarioClient

INIT = Path(sf.__file__)


def _type_checking_block() -> ast.If:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
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


# ---------------------------------------------------------------------------------------------
# Explicit query keywords on the listing entry points
# ---------------------------------------------------------------------------------------------

# The arguments of each entry point that are not query parameters of GET /models.
_NOT_QUERY = {
    "fetch_catalog": {
        "base_url",
        "api_key",
        "api_secret",
        "workers",
        "checkpoint",
        "progress",
        "client",
        "max_retry_after",
        "max_page_bytes",
    },
    "fetch_catalog_pages": {
        "base_url",
        "api_key",
        "api_secret",
        "workers",
        "checkpoint",
        "progress",
        "client",
        "max_retry_after",
        "max_page_bytes",
    },
    "fetch_pages": {"query", "client", "workers", "checkpoint", "progress", "sink"},
}
# The paginator owns the pagination token: no caller sets it.
_QUERY_KEYWORDS = set(API_NAMES) - {"pagination_token"}
_ENUMS = {
    "privacy": QUERY_PRIVACY,
    "status": QUERY_STATUS,
    "sort_by": QUERY_SORT_BY,
    "sort_direction": QUERY_SORT_DIRECTION,
}


@pytest.mark.parametrize("name", sorted(_NOT_QUERY))
def test_signature_has_one_keyword_per_query_parameter(name: str) -> None:
    """A parameter added to (or dropped from) the query table must be added to the signature."""
    fn = getattr(fetch_module, name)
    params = inspect.signature(fn).parameters
    query_params = set(params) - _NOT_QUERY[name]
    assert query_params == _QUERY_KEYWORDS, (
        f"missing: {sorted(_QUERY_KEYWORDS - query_params)}, extra: {sorted(query_params - _QUERY_KEYWORDS)}"
    )
    for k in query_params - {"page_size"} if name == "fetch_pages" else query_params:
        assert params[k].kind is inspect.Parameter.KEYWORD_ONLY, k
        assert params[k].default is None, k
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@pytest.mark.parametrize("name", sorted(_NOT_QUERY))
def test_enum_keywords_are_typed_with_the_query_rules_values(name: str) -> None:
    # (the return type names Catalog, which fetch imports for type checkers only)
    hints = typing.get_type_hints(getattr(fetch_module, name), localns={"Catalog": sf.Catalog})
    for k, values in _ENUMS.items():
        literal, none = typing.get_args(hints[k])
        assert none is type(None), k
        assert typing.get_origin(literal) is typing.Literal, k
        assert set(typing.get_args(literal)) == set(values), k


_EVERY_PUBLIC = dict(
    privacy="public",
    types=["flux.1-lora", "sd-xl-lora"],
    tags="style,cat",
    collection_ids=["c1", "c2"],
    sort_by="updatedAt",
    sort_direction="asc",
    updated_after=date(2024, 1, 1),
    updated_before="2030-01-01T00:00:00Z",
    blacklisted=False,
    loaded_only=True,
    original_assets=True,
    page_size=50,
)
_EVERY_PRIVATE = dict(
    privacy="private",
    status="trained",
    collection_id="c1",
    sort_by="createdAt",
    created_after=datetime(2024, 1, 1, tzinfo=UTC),
    created_before=date(2030, 1, 1),
    page_size=20,
)
_ONE_TYPE = dict(privacy="public", type="flux.1-lora")


@pytest.mark.parametrize("query", [_EVERY_PUBLIC, _EVERY_PRIVATE, _ONE_TYPE])
def test_every_keyword_reaches_the_query(demo_server, query: dict[str, object]) -> None:
    """What ``fetch_catalog`` records as its query is what ``ModelQuery`` makes of the keywords."""
    sent = set(query)
    assert (set(_EVERY_PUBLIC) | set(_EVERY_PRIVATE) | set(_ONE_TYPE)) == _QUERY_KEYWORDS
    expected = ModelQuery.build(**query).params()
    with ScenarioClient(demo_server.base_url, "demo", "demo") as client:
        catalog = bounded(lambda: fetch_catalog(client=client, progress=False, **query), 60)  # type: ignore[arg-type]
        result = bounded(lambda: fetch_pages(client=client, progress=False, **query), 60)  # type: ignore[arg-type]
        by_query = bounded(
            lambda: fetch_pages(ModelQuery.build(**query), client=client, progress=False), 60
        )
    assert catalog.meta.query == expected
    assert len(expected) == len(sent)
    assert result.pages == by_query.pages
    assert result.stats.models == by_query.stats.models


def test_fetch_pages_refuses_a_query_given_two_ways() -> None:
    with pytest.raises(TypeError, match=r"not both.*privacy="):
        fetch_pages({"privacy": "public"}, client=None, privacy="public")  # type: ignore[arg-type]
