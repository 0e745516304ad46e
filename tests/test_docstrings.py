"""The public surface documents itself in one convention, numpydoc, with examples that run.

Issue 14 asked for docstrings on the public surface in the convention polars uses (numpydoc)
and for examples that run as doctests against the demo.  Writing them once is not enough:
these tests keep the convention in force.  Every public name (``scenario_frames.__all__``),
every public method of ``Catalog`` and every public function of ``notebook.charts`` must
have a one-line summary, well-formed sections (a known header, underlined with as many dashes,
in numpydoc's order), a ``Parameters`` section naming exactly the parameters of its signature,
a ``Returns`` or ``Yields`` section when it returns something, and an ``Examples`` section
with doctest lines.  The other public methods of the classes people call (``ModelQuery``,
``FilterPanel``) are held to the same rules but for ``Examples``.  A class that only reuses
the constructor of a checked parent (most error classes) names that parent under ``See Also``
instead of repeating its ``Parameters``, and shows ``Examples`` only where they help.

``python -m pytest`` runs those examples (``--doctest-modules`` over the package, see
``[tool.pytest.ini_options]``).  The last tests check that this stays configured, that the
examples which start a demo give the same answers with someone's own Scenario settings in
the environment (they pass the demo's key pair and URL), and that importing any module of
the package has no side effect, since collecting the doctests imports every one of them.

The checker itself is tested on hand-made docstrings, so that a check removed or loosened
shows up as a failing test here rather than as a convention silently no longer enforced.
"""

from __future__ import annotations

import doctest
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

import scenario_frames as sf
from scenario_frames.listing.query import ModelQuery
from scenario_frames.notebook import charts
from scenario_frames.notebook.panel import FilterPanel
from scenario_frames.tables.catalog import Catalog

ROOT = Path(__file__).resolve().parents[1]

# numpydoc's sections, in the order of its style guide (a class lists its Attributes and
# Methods right after its Parameters).
SECTION_ORDER = (
    "Parameters",
    "Attributes",
    "Methods",
    "Returns",
    "Yields",
    "Receives",
    "Other Parameters",
    "Raises",
    "Warns",
    "Warnings",
    "See Also",
    "Notes",
    "References",
    "Examples",
)
# Headers of other conventions (Google style and friends) that must not creep in.
FOREIGN_HEADER = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples|Example|Note|Notes"
    r"|Attributes|See Also):\s*$"
)
UNDERLINE = re.compile(r"^-{3,}$")

# Public names whose docstrings are held elsewhere: each with the reason.  Every entry must
# name a public object (checked below), so the list cannot quietly outlive its reason.
EXEMPT: dict[str, str] = {
    "__version__": "a version string, not a callable",
}


# ---------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------


def _sections(lines: list[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """The section headers of a cleaned docstring (name, line index) and the problems seen."""
    problems: list[str] = []
    found: list[tuple[str, int]] = []
    for i, line in enumerate(lines):
        if FOREIGN_HEADER.match(line):
            problems.append(
                f"line {i + 1}: {line!r} is not a numpydoc header (those have no colon and an underline)"
            )
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if UNDERLINE.match(nxt.strip()) and line.strip():
            name = line.strip()
            if line != name:
                problems.append(f"line {i + 1}: header {name!r} is indented")
            if name not in SECTION_ORDER:
                problems.append(f"line {i + 1}: unknown section {name!r}")
            if len(nxt.strip()) != len(name):
                problems.append(f"line {i + 2}: underline of {name!r} is not {len(name)} dashes")
            if i > 0 and lines[i - 1].strip():
                problems.append(f"line {i + 1}: no blank line before {name!r}")
            found.append((name, i))
        elif line.strip() in SECTION_ORDER and not UNDERLINE.match(nxt.strip()):
            problems.append(f"line {i + 1}: header {line.strip()!r} has no underline")
    names = [n for n, _ in found]
    if len(set(names)) != len(names):
        problems.append(f"a section appears twice: {names}")
    known = [n for n in names if n in SECTION_ORDER]
    if known != sorted(known, key=SECTION_ORDER.index):
        problems.append(f"sections out of numpydoc's order: {known}")
    return found, problems


def _section_body(lines: list[str], found: list[tuple[str, int]], name: str) -> list[str]:
    """The lines of one section (empty when absent)."""
    for k, (section, start) in enumerate(found):
        if section == name:
            end = found[k + 1][1] if k + 1 < len(found) else len(lines)
            return lines[start + 2 : end]
    return []


def _documented_parameters(body: list[str]) -> tuple[list[str], list[str]]:
    """The names a Parameters section documents, and the problems of its entries."""
    names: list[str] = []
    problems: list[str] = []
    for i, line in enumerate(body):
        if not line.strip() or line.startswith(" "):
            continue
        head = line.split(" : ", 1)[0].strip()
        entry = [n.strip() for n in head.split(",")]
        if not all(re.fullmatch(r"\*{0,2}[A-Za-z_][A-Za-z0-9_]*", n) for n in entry):
            problems.append(f"Parameters: {line!r} is not `name : type`")
        following = body[i + 1] if i + 1 < len(body) else ""
        if not following.startswith("    ") or not following.strip():
            problems.append(f"Parameters: {head!r} has no indented description")
        names += entry
    return names, problems


def _signature_parameters(obj: Any) -> list[str] | None:
    """The parameters a caller passes (``*args``/``**kwargs`` spelled so), or None if unknown."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    names = []
    for p in signature.parameters.values():
        if p.name in ("self", "cls"):
            continue
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        names.append(prefix + p.name)
    return names


def _see_also_names(body: list[str]) -> list[str]:
    """The names a See Also section lists (``name : description`` or ``name1, name2``)."""
    names: list[str] = []
    for line in body:
        if not line.strip() or line.startswith(" "):
            continue  # a blank line or a description's continuation
        for entry in line.split(" : ", 1)[0].split(","):
            name = entry.strip().strip("`").lstrip("~")
            names.append(name.rsplit(".", 1)[-1])
    return names


def constructor_parent(obj: Any, checked: Collection[type]) -> type | None:
    """The checked parent class whose constructor ``obj`` reuses, or None.

    A class that defines no ``__init__`` of its own takes its parameters from its parent;
    when that parent's docstring is checked too, the parameters are documented there.
    """
    if not inspect.isclass(obj) or "__init__" in vars(obj):
        return None
    for base in obj.__bases__:
        if base.__init__ is obj.__init__:  # the direct base the constructor comes through
            return base if base in checked else None
    return None


def _returns_something(obj: Any) -> bool:
    if inspect.isclass(obj):
        return False
    annotation = inspect.signature(obj).return_annotation
    return annotation not in (inspect.Signature.empty, None, "None")


def check_docstring(
    obj: Any, *, examples: bool, kind: str = "callable", checked: Collection[type] = ()
) -> list[str]:
    """Everything wrong with ``obj``'s docstring under the convention (empty when fine).

    ``kind`` is ``"callable"`` (a function, method or class: its signature is checked) or
    ``"property"`` (a summary and well-formed sections only).  ``examples`` requires an
    ``Examples`` section holding doctest lines.  ``checked`` holds the classes whose
    docstrings are checked as well, for the rule on subclasses that follows.
    """
    raw = obj.__doc__  # a property's is its getter's unless given as ``doc=``
    if not raw or not raw.strip():
        return ["no docstring"]
    lines = inspect.cleandoc(raw).splitlines()
    problems: list[str] = []
    summary = lines[0]
    if not summary.strip() or summary != summary.strip():
        problems.append("the first line is not a summary")
    elif not summary.endswith("."):
        problems.append("the summary line does not end with a full stop")
    if len(lines) > 1 and lines[1].strip():
        problems.append("the summary is not one line followed by a blank line")
    found, section_problems = _sections(lines)
    problems += section_problems
    names = [n for n, _ in found]
    if kind == "property":
        return problems

    # A subclass that only reuses its parent's constructor (no ``__init__`` of its own),
    # when that parent is checked too, documents its parameters by pointing at the parent:
    # it must carry no Parameters section (seven copies of the same list would be noise
    # that drifts), must name the parent in a See Also section so the reader finds them,
    # and needs Examples only where they help.  Every other class and callable documents
    # its own parameters.
    parent = constructor_parent(obj, checked)
    if parent is not None:
        if "Parameters" in names:
            problems.append(
                f"a Parameters section, but the constructor is {parent.__name__}'s "
                "(point to it under See Also instead)"
            )
        see_also = _see_also_names(_section_body(lines, found, "See Also"))
        if parent.__name__ not in see_also:
            problems.append(f"no See Also naming the parent class {parent.__name__}")
        examples = False
    wanted = None if parent is not None else _signature_parameters(obj)
    if wanted:
        if "Parameters" not in names:
            problems.append(f"no Parameters section for {wanted}")
        else:
            documented, entry_problems = _documented_parameters(
                _section_body(lines, found, "Parameters")
            )
            problems += entry_problems
            missing = [n for n in wanted if n not in documented]
            unknown = [n for n in documented if n not in wanted]
            if missing:
                problems.append(f"Parameters does not document {missing}")
            if unknown:
                problems.append(f"Parameters documents {unknown}, which the signature lacks")
    elif wanted == [] and "Parameters" in names:
        problems.append("a Parameters section, but the signature takes none")
    if _returns_something(obj) and not {"Returns", "Yields"} & set(names):
        problems.append("no Returns (or Yields) section, but it returns a value")
    if examples and "Examples" not in names:
        problems.append("no Examples section")
    if "Examples" in names:
        body = "\n".join(_section_body(lines, found, "Examples"))
        if not doctest.DocTestParser().get_examples(body):
            problems.append("an Examples section without doctest lines (>>>)")
    return problems


# ---------------------------------------------------------------------------------------------
# What is checked
# ---------------------------------------------------------------------------------------------


def _public_members(cls: type) -> Iterator[tuple[str, Any, str]]:
    """(qualified name, object, kind) of a class's public methods and properties."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            yield f"{cls.__name__}.{name}", value, "property"
        elif isinstance(value, classmethod | staticmethod):
            yield f"{cls.__name__}.{name}", getattr(cls, name), "callable"
        elif inspect.isfunction(value):
            yield f"{cls.__name__}.{name}", value, "callable"


def _chart_functions() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(charts).items():
        if (
            not name.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == charts.__name__
        ):
            yield f"charts.{name}", value


# (name, object, kind, examples required)
TARGETS: list[tuple[str, Any, str, bool]] = [
    *[(name, getattr(sf, name), "callable", True) for name in sf.__all__ if name not in EXEMPT],
    *[(q, obj, kind, kind == "callable") for q, obj, kind in _public_members(Catalog)],
    *[(q, obj, kind, False) for q, obj, kind in _public_members(ModelQuery)],
    *[(q, obj, kind, False) for q, obj, kind in _public_members(FilterPanel)],
    *[(q, obj, "callable", True) for q, obj in _chart_functions()],
]


# The checked classes: a subclass of one of them that reuses its constructor points to it.
CHECKED_CLASSES = frozenset(t[1] for t in TARGETS if inspect.isclass(t[1]))


@pytest.mark.parametrize(("name", "obj", "kind", "examples"), TARGETS, ids=[t[0] for t in TARGETS])
def test_public_docstring_follows_numpydoc(name: str, obj: Any, kind: str, examples: bool) -> None:
    problems = check_docstring(obj, examples=examples, kind=kind, checked=CHECKED_CLASSES)
    assert not problems, f"{name}: " + "; ".join(problems)


def test_the_walk_covers_the_surface_the_issue_names() -> None:
    """The targets hold what issue 14 lists, so a broken walk cannot pass by checking nothing."""
    checked = {t[0] for t in TARGETS}
    for name in (
        "fetch_catalog",
        "fetch_pages",
        "Catalog",
        "write_snapshot",
        "read_snapshot",
        "latest_snapshot",
        "history",
        "diff",
        "fetch_model_usage",
        "load_usage",
        "join_usage",
        "join_usage_asof",
        "usage_summary",
        "FilterPanel",
        "serve_demo",
        "data_dictionary",
        "ModelQuery",
        "Catalog.describe",
        "Catalog.from_records",
        "Catalog.counts",
        "charts.cost_vs_latency",
        "charts.cu_per_job",
    ):
        assert name in checked, name
    assert sum(1 for t in TARGETS if t[3]) >= 35


def test_every_exemption_names_a_public_object() -> None:
    for name in EXEMPT:
        assert name in sf.__all__, f"{name} is exempt but not public: drop it from EXEMPT"


# ---------------------------------------------------------------------------------------------
# The checker catches what it should (each case breaks one rule)
# ---------------------------------------------------------------------------------------------


def _good(x: int, *, y: str = "") -> int:
    """Add nothing to a number.

    Parameters
    ----------
    x : int
        A number.
    y : str, optional
        Ignored.

    Returns
    -------
    int
        ``x``.

    Examples
    --------
    >>> _good(1)
    1
    """
    return x


def _with_doc(doc: str) -> Callable[..., int]:
    def f(x: int, *, y: str = "") -> int:
        return x

    f.__doc__ = doc
    return f


GOOD = inspect.getdoc(_good) or ""


def _broken(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("doc", "complaint"),
    [
        (_broken("Add nothing to a number.", "add nothing to a number"), "full stop"),
        (_broken("Add nothing to a number.\n", "Add nothing\nto a number.\n"), "one line"),
        (_broken("Parameters\n----------\n", "Parameters\n"), "no underline"),
        (_broken("Returns\n-------\n", "Returns\n---------\n"), "not 7 dashes"),
        (_broken("Returns\n-------\n", "Result\n------\n"), "unknown section"),
        (_broken("    Ignored.\n\nReturns", "    Ignored.\nReturns"), "no blank line"),
        (_broken("Parameters\n----------\n", "Args:\n"), "not a numpydoc header"),
        (_broken("y : str, optional\n    Ignored.\n", ""), "does not document ['y']"),
        (_broken("x : int\n", "x : int\nz : int\n    Extra.\n"), "signature lacks"),
        (_broken("x : int\n    A number.\n", "x : int\n"), "no indented description"),
        (_broken("Returns\n-------\nint\n    ``x``.\n\n", ""), "no Returns"),
        (_broken("Examples\n--------\n>>> _good(1)\n1", ""), "no Examples"),
        (_broken(">>> _good(1)\n1", "Call it with a number."), "without doctest lines"),
        (
            _broken(
                "Examples\n--------\n>>> _good(1)\n1",
                "Examples\n--------\n>>> _good(1)\n1\n\nNotes\n-----\nNone.",
            ),
            "out of numpydoc's order",
        ),
    ],
)
def test_checker_refuses_a_broken_docstring(doc: str, complaint: str) -> None:
    assert check_docstring(_with_doc(GOOD), examples=True) == []
    problems = check_docstring(_with_doc(doc), examples=True)
    assert any(complaint in p for p in problems), problems


class _Parent(Exception):
    """A parent class with a constructor of its own (its docstring is not what is tested)."""

    def __init__(self, message: str, *, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


CHILD = """A subclass that reuses its parent's constructor.

See Also
--------
_Parent : Where the parameters are documented.
"""
CHILD_PARAMETERS = """Parameters
----------
message : str
    What went wrong.
code : int, optional
    A number.
"""


def _child(doc: str, parent: type = _Parent) -> type:
    return type("_Child", (parent,), {"__doc__": doc})


def test_checker_lets_a_subclass_point_to_its_parents_constructor() -> None:
    """A subclass reusing a checked parent's constructor needs a See Also, not Parameters."""
    assert check_docstring(_child(CHILD), examples=True, checked={_Parent}) == []
    with_examples = CHILD + "\nExamples\n--------\n>>> 1 + 1\n2\n"
    assert check_docstring(_child(with_examples), examples=True, checked={_Parent}) == []
    # A qualified or cross-referenced name counts, and one See Also line may list several.
    qualified = CHILD.replace("_Parent :", "Exception, `tests._Parent` :")
    assert check_docstring(_child(qualified), examples=True, checked={_Parent}) == []


@pytest.mark.parametrize(
    ("doc", "complaint"),
    [
        (
            CHILD.replace("See Also", CHILD_PARAMETERS + "\nSee Also"),
            "a Parameters section, but the constructor is _Parent's",
        ),
        (CHILD.split("\n\nSee Also")[0] + "\n", "no See Also naming the parent class _Parent"),
        (
            CHILD.replace("_Parent : Where", "Exception : Where"),
            "no See Also naming the parent class _Parent",
        ),
        (
            CHILD.replace("_Parent : Where the", "Where the _Parent"),
            "no See Also naming the parent class _Parent",
        ),
        (CHILD + "\nExamples\n--------\nRaise it.\n", "without doctest lines"),
        (CHILD.replace("constructor.\n", "constructor\n"), "full stop"),
    ],
    ids=[
        "parameters-repeated",
        "no-see-also",
        "see-also-names-another-class",
        "parent-named-only-in-prose",
        "examples-without-doctest",
        "summary-without-full-stop",
    ],
)
def test_checker_refuses_a_broken_subclass_docstring(doc: str, complaint: str) -> None:
    problems = check_docstring(_child(doc), examples=True, checked={_Parent})
    assert any(complaint in p for p in problems), problems


def test_checker_holds_other_classes_to_their_own_parameters() -> None:
    """The subclass rule is narrow: an unchecked parent or an own constructor means the usual rules."""
    unchecked = check_docstring(_child(CHILD), examples=False, checked=())
    assert unchecked == ["no Parameters section for ['message', 'code']"], unchecked

    class _Own(_Parent):
        def __init__(self, message: str) -> None:
            super().__init__(message)

    _Own.__doc__ = CHILD
    own = check_docstring(_Own, examples=False, checked={_Parent})
    assert own == ["no Parameters section for ['message']"], own
    documented = CHILD.replace("See Also", CHILD_PARAMETERS + "\nSee Also")
    assert check_docstring(_child(documented), examples=False, checked=()) == []


def test_the_public_subclasses_are_held_to_the_subclass_rule() -> None:
    """The error classes that reuse a constructor are the ones the rule applies to."""
    reusing = {t[0] for t in TARGETS if constructor_parent(t[1], CHECKED_CLASSES) is not None}
    assert reusing == {
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "RateLimitError",
        "ServerError",
        "APIResponseValidationError",
        "APIConnectionError",
        "APITimeoutError",
        "PaginationError",
    }


def test_checker_refuses_a_missing_docstring_and_a_property_without_one() -> None:
    assert check_docstring(_with_doc(""), examples=False) == ["no docstring"]
    assert check_docstring(property(lambda self: 1), examples=False, kind="property") == [
        "no docstring"
    ]


# ---------------------------------------------------------------------------------------------
# The examples run with the suite
# ---------------------------------------------------------------------------------------------


def test_pytest_runs_the_package_doctests(pytestconfig: pytest.Config) -> None:
    """``python -m pytest`` collects the package's modules with their doctests."""
    assert pytestconfig.getoption("doctestmodules"), "--doctest-modules is off"
    assert "scenario_frames" in pytestconfig.getini("testpaths")


def _package_modules() -> Iterator[Any]:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(sf.__path__, "scenario_frames."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_examples_ignore_scenario_settings_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo examples pass the demo's key pair and URL: a user's own settings change nothing.

    People who use the toolkit tend to have ``SCENARIO_API_KEY`` set; an example relying on
    the environment would then send their key to the demo and fail.  Run every example that
    starts a demo with settings that would break such an example.
    """
    monkeypatch.setenv("SCENARIO_API_KEY", "someone-elses-key")
    monkeypatch.setenv("SCENARIO_API_SECRET", "someone-elses-secret")
    monkeypatch.setenv("SCENARIO_BASE_URL", "http://127.0.0.1:9/v1")
    runner = doctest.DocTestRunner()
    report: list[str] = []
    ran = 0
    for module in _package_modules():
        for test in doctest.DocTestFinder().find(module):
            if any("serve_demo(" in example.source for example in test.examples):
                runner.run(test, out=report.append)
                ran += 1
    assert ran >= 30, ran
    assert runner.failures == 0, "".join(report)


def test_importing_every_module_has_no_side_effect(tmp_path: Path) -> None:
    """Collecting the doctests imports every module: none may print, fail or write files."""
    script = (
        "import importlib, pkgutil, scenario_frames\n"
        "for m in pkgutil.walk_packages(scenario_frames.__path__, 'scenario_frames.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert list(tmp_path.iterdir()) == []
