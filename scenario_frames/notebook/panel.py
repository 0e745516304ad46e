"""An ipywidgets filter panel over the models table, for people exploring in Jupyter.

People click their way to a subset of the catalog, then want that subset as data and as code
they can keep.  ``FilterPanel`` therefore exposes three views of the same selection:

* ``panel.filtered``   – the selected rows of the models table (same columns, same order);
* ``panel.expression`` – the single polars expression that selects them;
* ``panel.code()``     – a self-contained snippet that redoes the selection on a ``Catalog``.

What a user sees follows every change: a count ("N of M models"), option counts that are
*faceted* (each option shows how many models choosing it would leave, given the other
filters), and a data grid of every selected row (scroll, sort by header, resize, copy).

Speed on large catalogs (budget: 50 ms median, 150 ms worst per change on 100,000 models,
``bench/bench_panel.py``) comes from doing the expensive work once, when the panel is built:
a narrow frame holds only the columns the filters read plus the derived per-model p50 cost
and latency; each facet's options get integer codes per row; sort orders are computed once
per column and cached; the grid's table is built once.  A filter change then evaluates one
boolean array per active clause, ANDs them, counts facets with ``numpy.bincount`` over the
codes under "every clause but the facet's own", and hands the grid the selected row numbers
in the chosen order.  The full models table is only filtered when ``panel.filtered`` is read.

Layout: nothing has a fixed total width; the filter groups are flex items that wrap, names
sit above their controls, slider readouts are wrapping text, so the panel reads the same in a
~600 px notebook column as at 1600 px (checked in a browser by ``tests/test_browser.py``).

Tags: a combobox suggests the catalog's tags and adds the typed one on Enter; chosen tags
are chips (click to remove); a tag no model has is shown in red with a note, not dropped
silently, since it may be a typo or a tag of models outside this catalog.

Per-model cost and latency: ``scenario_frames.tables.costs.model_p50`` gives the one definition the
whole toolkit uses (the default variant's figure, else the lowest across the model's
variants).  Models without any variant have no figure and drop out as soon as a cost or
latency bound is moved off its end.

Range semantics: a range or date bound that sits at the end of its slider (within half a
step, to absorb the browser slider's rounding) or is empty is not a filter at all, so rows
with missing values stay in until the user narrows that range.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import reduce
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import polars as pl

from ..listing.query import to_utc
from ..tables.costs import P50_COST, P50_LATENCY, model_p50

_PANEL_CSS = """<style>
.sf-filter-panel .widget-html-content { white-space: normal; overflow-wrap: anywhere;
  line-height: 1.35; }
.sf-filter-panel .sf-count { font-weight: 600; }
.sf-filter-panel .widget-select-multiple select { width: 100%; }
.sf-filter-panel .sf-tag-chips .jupyter-button { margin: 2px 4px 2px 0; }
.sf-filter-panel .sf-readout { color: #444; font-size: 12px; }
</style>"""

__all__ = [
    "FilterPanel",
    "model_p50",
    "P50_COST",
    "P50_LATENCY",
    "TEXT_COLUMNS",
]

TEXT_COLUMNS: tuple[str, ...] = ("name", "short_description", "model_id")

# Columns of the models table the filters and the preview read.
_FILTER_COLUMNS: tuple[str, ...] = (
    "model_id",
    "name",
    "short_description",
    "type",
    "capabilities",
    "privacy",
    "status",
    "source",
    "tags",
    "created_at",
    "updated_at",
    "training_images_number",
)
_PREVIEW_COLUMNS: tuple[str, ...] = (
    "model_id",
    "name",
    "type",
    "privacy",
    "status",
    "source",
    "capabilities",
    "created_at",
    "updated_at",
    P50_COST,
    P50_LATENCY,
    "training_images_number",
)
_PREVIEW_HEADERS = {
    "model_id": "id",
    P50_COST: "p50 cost (CU)",
    P50_LATENCY: "p50 latency (s)",
    "training_images_number": "training images",
    "created_at": "created",
    "updated_at": "updated",
}


# ---------------------------------------------------------------------------------------------
# Clauses: each active filter is one polars expression plus the Python text that builds it.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One active filter: the expression the panel evaluates and its source text for code()."""

    expr: pl.Expr
    code: str
    facet: str | None = None  # the facet column this clause filters on, if any


def _lit(value: Any) -> str:
    """Python source for a literal value (datetimes written with the names code() imports)."""
    if isinstance(value, _dt.datetime):
        return f"datetime({value.year}, {value.month}, {value.day}, tzinfo=timezone.utc)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, str) and "'" not in value and '"' not in value:
        return '"' + repr(value)[1:-1] + '"'  # same escapes, the quotes ruff format prefers
    return repr(value)


def _is_in(column: str, values: Sequence[str]) -> Clause:
    vals = list(values)
    return Clause(pl.col(column).is_in(vals), f"pl.col({_lit(column)}).is_in({_lit(vals)})")


def _list_has(column: str, values: Sequence[str], mode: str) -> Clause:
    """Rows whose list column holds any (or all) of the values."""
    vals = list(values)
    parts = [pl.col(column).list.contains(v) for v in vals]
    fn, name = (pl.all_horizontal, "all") if mode == "all" else (pl.any_horizontal, "any")
    code = f"pl.{name}_horizontal(pl.col({_lit(column)}).list.contains(v) for v in {_lit(vals)})"
    return Clause(fn(parts), code)


def _text(query: str) -> Clause:
    """Case-insensitive substring match over the name, short description and id."""
    pattern = "(?i)" + re.escape(query)
    expr = pl.any_horizontal([pl.col(c).str.contains(pattern) for c in TEXT_COLUMNS])
    code = (
        f"pl.any_horizontal(pl.col(c).str.contains({_lit(pattern)}) for c in {_lit(TEXT_COLUMNS)})"
    )
    return Clause(expr, code)


def _bound(column: str, op: str, value: Any) -> Clause:
    col = pl.col(column)
    expr = {">=": col >= value, "<=": col <= value, "<": col < value}[op]
    return Clause(expr, f"(pl.col({_lit(column)}) {op} {_lit(value)})")


def _combine(clauses: Sequence[Clause]) -> pl.Expr:
    if not clauses:
        return pl.lit(True)
    return reduce(lambda a, b: a & b, (c.expr for c in clauses))


# ---------------------------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------------------------


_FACET_COLUMNS = ("type", "privacy", "status", "source", "capabilities")
_MAX_TAG_SUGGESTIONS = 500


@dataclass(frozen=True)
class _Facet:
    """One facet's options (most frequent first) and each row's option codes, built once.

    Counting the options under a mask is then a ``numpy.bincount`` over the codes of the
    kept rows (for list columns, of the kept rows' items): well under a millisecond on
    100,000 models, where a polars ``value_counts`` per facet per change would cost more.
    """

    values: tuple[str, ...]
    codes: np.ndarray  # option index per row (per item for list columns); -1 when null
    rows: np.ndarray | None  # list columns: the row of each item

    @classmethod
    def of(cls, series: pl.Series) -> _Facet:
        items = series
        rows = None
        if isinstance(series.dtype, pl.List):
            exploded = pl.DataFrame({"row": np.arange(series.len()), "v": series}).explode("v")
            exploded = exploded.filter(pl.col("v").is_not_null())
            rows, items = exploded["row"].to_numpy(), exploded["v"]
        counts = (
            items.drop_nulls()
            .value_counts(name="n")
            .rename({items.name: "v"})
            .sort(["n", "v"], descending=[True, False])
        )
        values = tuple(counts["v"].to_list())
        index = pl.DataFrame({"v": list(values), "code": np.arange(len(values), dtype=np.int64)})
        codes = (
            pl.DataFrame({"v": items})
            .join(index, on="v", how="left", maintain_order="left")["code"]
            .fill_null(-1)
            .to_numpy()
        )
        return cls(values, codes, rows)

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """How many kept rows have each option."""
        keep = mask if self.rows is None else mask[self.rows]
        return np.bincount(self.codes[keep] + 1, minlength=len(self.values) + 1)[1:]


def _range_of(series: pl.Series) -> tuple[float, float] | None:
    s = series.drop_nulls()
    if s.is_empty():
        return None
    lo, hi = s.min(), s.max()
    if not isinstance(lo, int | float) or not isinstance(hi, int | float):
        raise TypeError(f"{series.name}: expected a numeric column, got {series.dtype}")
    return float(lo), float(hi)


class FilterPanel:
    """Filters with faceted counts, a live count, a data grid, export and reset over the models.

    Build it from a ``Catalog`` (anything with ``.models`` and, for the cost and latency
    filters, ``.variants``) or from a models ``DataFrame``.  Display it by leaving it as the
    last expression of a cell (or ``display(panel)``).  Filters can be set by hand through
    the widget attributes (``panel.types.value = ("flux.1-lora",)``) or several at once with
    ``panel.set(...)``; ``with panel.hold(): ...`` batches changes into a single refresh.

    Whatever is clicked can be taken away three ways: ``filtered`` (the selected rows),
    ``expression`` (one polars expression) and ``code()`` (a snippet that redoes the
    selection), so exploring ends in data and code rather than in a screenshot.

    Parameters
    ----------
    catalog_or_models : Catalog or polars.DataFrame
        The catalog (its ``models`` and ``variants``), or a models table.
    variants : polars.DataFrame, optional
        The variants behind the cost and latency filters, when a models table is given
        (without them those filters are disabled).
    preview_rows : int, default 10
        The rows ``preview_frame()`` returns.
    export_path : str or pathlib.Path, default "filtered_models.parquet"
        The file the export button writes first.

    Raises
    ------
    TypeError
        ``catalog_or_models`` is neither a catalog nor a DataFrame.
    ValueError
        The models table lacks columns the filters read.

    See Also
    --------
    FilterPanel.code : The selection as Python source.

    Examples
    --------
    >>> from scenario_frames import FilterPanel, fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
    >>> panel = FilterPanel(catalog)
    >>> panel
    FilterPanel(26 of 26 models, 0 active filters)
    >>> panel.set(types=["flux.1-lora"]).filtered.height
    4
    >>> print(panel.code())
    import polars as pl
    <BLANKLINE>
    models = catalog.models
    selected = models.filter(
        pl.col("type").is_in(["flux.1-lora"]),
    )
    <BLANKLINE>
    >>> panel.reset()
    FilterPanel(26 of 26 models, 0 active filters)
    """

    def __init__(
        self,
        catalog_or_models: Any,
        *,
        variants: pl.DataFrame | None = None,
        preview_rows: int = 10,
        export_path: str | Path = "filtered_models.parquet",
    ) -> None:
        if isinstance(catalog_or_models, pl.DataFrame):
            models = catalog_or_models
        elif hasattr(catalog_or_models, "models"):
            models = catalog_or_models.models
            if variants is None:
                variants = getattr(catalog_or_models, "variants", None)
        else:
            raise TypeError("FilterPanel wants a Catalog or a models DataFrame")
        missing = [c for c in _FILTER_COLUMNS if c not in models.columns]
        if missing:
            raise ValueError(f"models frame lacks columns: {', '.join(missing)}")
        if variants is not None and variants.is_empty():
            variants = None
        self._models = models
        self._work = self._prepare(models, variants)
        self._preview_rows = preview_rows
        self._orders: dict[tuple[str, bool], pl.Series] = {}
        self._observers: list[Callable[[FilterPanel], None]] = []
        self._held = 0
        self._quiet = 0  # > 0 while the panel itself rewrites option labels
        self._clause_masks: dict[str, np.ndarray] = {}
        self._clauses: list[Clause] = []
        self._mask = pl.repeat(True, models.height, dtype=pl.Boolean, eager=True)
        self._facets = {c: _Facet.of(self._work[c]) for c in _FACET_COLUMNS}
        tag_counts = _Facet.of(self._work["tags"])
        self._tag_suggestions: tuple[str, ...] = tag_counts.values[:_MAX_TAG_SUGGESTIONS]
        self._known_tags = frozenset(tag_counts.values)
        self._build_widgets(export_path)
        self._defaults = {name: w.value for name, w in self._filter_widgets().items()}
        for w in self._filter_widgets().values():
            w.observe(self._on_change, names="value")
        for w in (self.sort_by, self.descending):
            w.observe(self._on_sort, names="value")
        self._refresh()

    # -- preparation -----------------------------------------------------------------------

    @staticmethod
    def _prepare(models: pl.DataFrame, variants: pl.DataFrame | None) -> pl.DataFrame:
        """The narrow frame the filters run on: filter columns plus per-model p50 figures."""
        work = models.select(_FILTER_COLUMNS)
        if variants is not None:
            return work.join(model_p50(variants), on="model_id", how="left", maintain_order="left")
        return work.with_columns(
            pl.lit(None, pl.Float64).alias(P50_COST), pl.lit(None, pl.Float64).alias(P50_LATENCY)
        )

    def _build_widgets(self, export_path: str | Path) -> None:
        """Create every control and lay them out to reflow from ~600 px to ~1600 px wide.

        Layout rules (each one fixes a clipping seen at narrow widths): names sit above their
        control as wrapping text instead of in a fixed-width description column; the three
        groups of filters are flex items of at least 240 px that wrap onto new rows; slider
        readouts are our own wrapping text under the slider (the built-in readout box is a
        fixed width and cut long ranges); date pairs wrap; nothing has a fixed total width.
        """
        work = self._work
        full = W.Layout(width="100%", min_width="0")

        def heading(text: str) -> W.HTML:
            h = W.HTML(f"<b>{html.escape(text)}</b>", layout=W.Layout(margin="4px 0 0 0"))
            h.add_class("sf-heading")
            return h

        def multi(column: str, max_rows: int = 5) -> W.SelectMultiple:
            values = self._facets[column].values
            return W.SelectMultiple(
                options=[(v, v) for v in values],
                value=(),
                rows=min(max_rows, max(len(values), 2)),
                layout=full,
            )

        def match_mode(what: str) -> W.ToggleButtons:
            return W.ToggleButtons(
                options=["any", "all"],
                value="any",
                style={"button_width": "44px"},
                tooltips=[f"at least one chosen {what}", f"every chosen {what}"],
            )

        self.types = multi("type", max_rows=6)
        self.privacy = multi("privacy")
        self.status = multi("status")
        self.source = multi("source")
        self.capabilities = multi("capabilities", max_rows=6)
        self.capability_mode = match_mode("capability")

        # Tags: a combobox that suggests the catalog's tags (most used first) and adds the
        # typed tag on Enter; chosen tags show as removable chips, unknown ones in red.
        # ``self.tags`` holds the value (a hidden TagsInput keeps the widget-value API).
        self.tags = W.TagsInput(value=[], allow_duplicates=False, layout=W.Layout(display="none"))
        self.tag_entry = W.Combobox(
            value="",
            options=list(self._tag_suggestions),
            ensure_option=False,
            placeholder="type a tag, press Enter (e.g. "
            + ", ".join(self._tag_suggestions[:2])
            + ")",
            continuous_update=False,
            layout=full,
        )
        self.tag_entry.add_class("sf-tag-entry")
        self.tag_chips = W.HBox([], layout=W.Layout(flex_flow="row wrap", width="100%"))
        self.tag_chips.add_class("sf-tag-chips")
        self.tag_note = W.HTML("", layout=full)
        self.tag_note.add_class("sf-tag-note")
        self.tag_mode = match_mode("tag")
        self.tag_entry.observe(self._on_tag_entry, names="value")
        self.tags.observe(self._on_tags, names="value")  # before the refresh observer

        self.text = W.Text(
            value="", placeholder="name, description or id", continuous_update=True, layout=full
        )

        def date(tip: str) -> W.DatePicker:
            return W.DatePicker(value=None, tooltip=tip, layout=W.Layout(width="150px"))

        self.created_from, self.created_to = date("created on or after"), date("created up to")
        self.updated_from, self.updated_to = date("updated on or after"), date("updated up to")

        # The handles overhang the track by half their width: keep them inside the box.
        slider_box = W.Layout(width="100%", min_width="0", padding="0 10px 0 4px")

        def float_range(column: str) -> W.FloatRangeSlider:
            bounds = _range_of(work[column])
            lo, hi = bounds if bounds else (0.0, 1.0)
            hi = hi if hi > lo else lo + 1.0
            return W.FloatRangeSlider(
                value=(lo, hi),
                min=lo,
                max=hi,
                step=(hi - lo) / 200,
                readout=False,
                continuous_update=False,
                disabled=bounds is None,
                layout=slider_box,
            )

        self.cost = float_range(P50_COST)
        self.latency = float_range(P50_LATENCY)
        bounds = _range_of(work["training_images_number"])
        lo, hi = (int(bounds[0]), int(-(-bounds[1] // 1))) if bounds else (0, 1)
        hi = hi if hi > lo else lo + 1
        self.training_images = W.IntRangeSlider(
            value=(lo, hi),
            min=lo,
            max=hi,
            step=1,
            readout=False,
            continuous_update=False,
            disabled=bounds is None,
            layout=slider_box,
        )
        self.readouts: dict[str, W.HTML] = {}
        for name, unit in (("cost", "CU"), ("latency", "s"), ("training_images", "images")):
            r = W.HTML("", layout=full)
            r.add_class("sf-readout")
            self.readouts[name] = r
            getattr(self, name).observe(
                lambda _c, n=name, u=unit: self._show_range(n, u), names="value"
            )
            self._show_range(name, unit)

        self.count = W.Label(value="")
        self.count.add_class("sf-count")
        sortable = [c for c in _PREVIEW_COLUMNS if not isinstance(work.schema[c], pl.List)]
        self.sort_by = W.Dropdown(
            options=[(_PREVIEW_HEADERS.get(c, c), c) for c in sortable],
            value="created_at",
            layout=W.Layout(width="170px"),
        )
        self.descending = W.Checkbox(
            value=True, description="descending", indent=False, layout=W.Layout(width="auto")
        )
        self.export_format = W.Dropdown(
            options=["parquet", "csv"],
            value=_format_of(Path(export_path)) or "parquet",
            layout=W.Layout(width="90px"),
        )
        self.export_path = W.Text(
            value=str(export_path), layout=W.Layout(flex="1 1 180px", min_width="120px")
        )
        self.export_button = W.Button(
            description="Export", icon="download", layout=W.Layout(width="100px")
        )
        self.export_status = W.HTML("", layout=full)
        self.export_status.add_class("sf-export-status")
        self.reset_button = W.Button(
            description="Reset", icon="undo", layout=W.Layout(width="90px")
        )
        self.export_format.observe(self._on_format, names="value")
        self.export_button.on_click(lambda _b: self._export_clicked())
        self.reset_button.on_click(lambda _b: self.reset())
        self.grid = self._make_grid()

        def card(*children: W.Widget) -> W.VBox:
            box = W.VBox(
                list(children),
                layout=W.Layout(flex="1 1 250px", min_width="240px", padding="0 10px 6px 0"),
            )
            box.add_class("sf-card")
            return box

        def inline(*children: W.Widget) -> W.HBox:
            return W.HBox(
                list(children),
                layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%"),
            )

        kind = card(
            heading("type"),
            self.types,
            heading("capabilities"),
            self.capabilities,
            inline(W.HTML("match&nbsp;"), self.capability_mode),
        )
        facets = card(
            heading("privacy"),
            self.privacy,
            heading("status"),
            self.status,
            heading("source"),
            self.source,
        )
        other = card(
            heading("search"),
            self.text,
            heading("tags"),
            self.tag_entry,
            self.tag_chips,
            self.tag_note,
            inline(W.HTML("match&nbsp;"), self.tag_mode),
            self.tags,
            heading("created (from – to)"),
            inline(self.created_from, W.HTML("&nbsp;–&nbsp;"), self.created_to),
            heading("updated (from – to)"),
            inline(self.updated_from, W.HTML("&nbsp;–&nbsp;"), self.updated_to),
            heading("p50 cost per asset"),
            self.cost,
            self.readouts["cost"],
            heading("p50 latency"),
            self.latency,
            self.readouts["latency"],
            heading("training images"),
            self.training_images,
            self.readouts["training_images"],
        )
        header = inline(self.count, W.HTML("&nbsp;"), self.reset_button)
        header.layout.justify_content = "space-between"
        body = W.HBox([kind, facets, other], layout=W.Layout(flex_flow="row wrap", width="100%"))
        tools = inline(
            W.HTML("sort by&nbsp;"),
            self.sort_by,
            self.descending,
            W.HTML("&nbsp;export&nbsp;"),
            self.export_format,
            self.export_path,
            self.export_button,
            self.export_status,
        )
        style = W.HTML(_PANEL_CSS, layout=W.Layout(height="0px", margin="0"))
        self.widget = W.VBox(
            [style, header, body, tools, self.grid], layout=W.Layout(width="100%", min_width="0")
        )
        self.widget.add_class("sf-filter-panel")

    def _filter_widgets(self) -> dict[str, W.ValueWidget]:
        return {
            "types": self.types,
            "capabilities": self.capabilities,
            "capability_mode": self.capability_mode,
            "privacy": self.privacy,
            "status": self.status,
            "source": self.source,
            "tags": self.tags,
            "tag_mode": self.tag_mode,
            "text": self.text,
            "created_from": self.created_from,
            "created_to": self.created_to,
            "updated_from": self.updated_from,
            "updated_to": self.updated_to,
            "cost": self.cost,
            "latency": self.latency,
            "training_images": self.training_images,
        }

    # -- tags and readouts ------------------------------------------------------------------

    def _on_tag_entry(self, change: dict) -> None:
        """Enter (or leaving the box) in the tag box adds its text as a tag, then clears it."""
        tag = (change["new"] or "").strip()
        if not tag:
            return
        if tag not in self.tags.value:
            self.tags.value = [*self.tags.value, tag]
        self.tag_entry.value = ""

    def _on_tags(self, _change: dict | None = None) -> None:
        """Redraw the chips; flag tags no model has."""
        chips = []
        for tag in self.tags.value:
            unknown = tag not in self._known_tags
            b = W.Button(
                description=tag,
                icon="times",
                button_style="danger" if unknown else "",
                tooltip=(
                    "no model in the catalog has this tag; click to remove"
                    if unknown
                    else "click to remove"
                ),
                layout=W.Layout(width="auto", max_width="100%"),
            )
            b.add_class("sf-tag-unknown" if unknown else "sf-tag")
            b.on_click(lambda _b, t=tag: self._remove_tag(t))
            chips.append(b)
        self.tag_chips.children = chips
        missing = [t for t in self.tags.value if t not in self._known_tags]
        self.tag_note.value = (
            (
                '<span style="color:#b00020">no model has the tag'
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(f"“{html.escape(t)}”" for t in missing)
                + "</span>"
            )
            if missing
            else ""
        )

    def _remove_tag(self, tag: str) -> None:
        self.tags.value = [t for t in self.tags.value if t != tag]

    def unknown_tags(self) -> list[str]:
        """The chosen tags no model of the catalog has (shown in red in the panel).

        Returns
        -------
        list of str
            Those tags, in the order chosen.
        """
        return [t for t in self.tags.value if t not in self._known_tags]

    def _show_range(self, name: str, unit: str) -> None:
        w = getattr(self, name)
        if w.disabled:
            self.readouts[name].value = '<span style="color:#777">no figures</span>'
            return
        lo, hi = w.value
        fmt = (lambda v: f"{v:,.0f}") if name == "training_images" else (lambda v: f"{v:,.3g}")
        whole = lo <= w.min + w.step / 2 and hi >= w.max - w.step / 2
        note = " (all)" if whole else ""
        self.readouts[name].value = f"{fmt(lo)} – {fmt(hi)} {unit}{note}"

    # -- the filter ------------------------------------------------------------------------

    def clauses(self) -> list[Clause]:
        """The active filters, in a fixed order, each as expression and source text.

        Returns
        -------
        list of Clause
            One per active filter: ``expr``, ``code`` and the facet column it filters on.
        """
        out: list[Clause] = []
        for column, w in (
            ("type", self.types),
            ("privacy", self.privacy),
            ("status", self.status),
            ("source", self.source),
        ):
            if w.value:
                out.append(replace(_is_in(column, w.value), facet=column))
        if self.capabilities.value:
            out.append(
                replace(
                    _list_has("capabilities", self.capabilities.value, self.capability_mode.value),
                    facet="capabilities",
                )
            )
        if self.tags.value:
            out.append(_list_has("tags", self.tags.value, self.tag_mode.value))
        query = self.text.value.strip()
        if query:
            out.append(_text(query))
        for column, lo, hi in (
            ("created_at", self.created_from, self.created_to),
            ("updated_at", self.updated_from, self.updated_to),
        ):
            if lo.value is not None:
                out.append(_bound(column, ">=", to_utc(lo.value)))
            if hi.value is not None:
                out.append(_bound(column, "<", to_utc(hi.value + _dt.timedelta(days=1))))
        for column, w in (
            (P50_COST, self.cost),
            (P50_LATENCY, self.latency),
            ("training_images_number", self.training_images),
        ):
            if w.disabled:
                continue
            lo, hi = w.value
            slack = w.step / 2
            if lo > w.min + slack:
                out.append(_bound(column, ">=", lo))
            if hi < w.max - slack:
                out.append(_bound(column, "<=", hi))
        return out

    @property
    def expression(self) -> pl.Expr:
        """The polars expression selecting the current rows (``pl.lit(True)`` when no filter).

        It reads ``p50_cost_cu`` / ``p50_latency_sec`` when those filters are active: join
        ``model_p50(catalog.variants)`` onto the models first, as ``code()`` does.
        """
        return _combine(self._clauses)

    @property
    def filtered(self) -> pl.DataFrame:
        """The selected rows of the models table: its columns, in its row order."""
        return self._models.filter(self._mask)

    @property
    def mask(self) -> pl.Series:
        """One boolean per row of the models table: is it selected."""
        return self._mask

    @property
    def state(self) -> dict[str, Any]:
        """Every filter widget's value by name (what ``set()`` and ``reset()`` work with)."""
        return {name: w.value for name, w in self._filter_widgets().items()}

    def code(self, catalog: str = "catalog", result: str = "selected") -> str:
        """Python source that recomputes ``filtered`` from a Catalog named ``catalog``.

        The snippet binds the rows to ``result``; running it on the panel's catalog gives
        exactly ``panel.filtered``.

        Parameters
        ----------
        catalog : str, default "catalog"
            The variable name the snippet reads the catalog from.
        result : str, default "selected"
            The variable name the snippet binds the rows to.

        Returns
        -------
        str
            Self-contained source (its imports included), ending with a newline.
        """
        clauses = self._clauses
        uses_p50 = any(P50_COST in c.code or P50_LATENCY in c.code for c in clauses)
        lines = ["import polars as pl"]
        if any("datetime(" in c.code for c in clauses):
            lines.append("from datetime import datetime, timezone")
        if uses_p50:
            lines += [
                "from scenario_frames.tables.costs import model_p50",
                "",
                "# p50 cost / latency per model: its default variant's figure, else the lowest",
                f"models = {catalog}.models.join(",
                f'    model_p50({catalog}.variants), on="model_id", how="left", '
                'maintain_order="left"',
                ")",
            ]
        else:
            lines += ["", f"models = {catalog}.models"]
        if not clauses:
            lines.append(f"{result} = models")
            return "\n".join(lines) + "\n"
        lines.append(f"{result} = models.filter(")
        lines += [f"    {c.code}," for c in clauses]
        tail = f").select({catalog}.models.columns)" if uses_p50 else ")"
        lines.append(tail)
        return "\n".join(lines) + "\n"

    # -- changing filters ------------------------------------------------------------------

    @contextmanager
    def hold(self) -> Iterator[FilterPanel]:
        """Batch several filter changes into one refresh (and one round of observers).

        Yields
        ------
        FilterPanel
            This panel; it refreshes once when the outermost ``with`` block ends.
        """
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if not self._held:
                self._refresh()

    def set(self, **values: Any) -> FilterPanel:
        """Set several filters at once by widget name (``types=["sd-xl"], cost=(0, 2)``).

        Parameters
        ----------
        **values
            Widget names (the keys of ``state``) and their new values.

        Returns
        -------
        FilterPanel
            This panel, refreshed once.

        Raises
        ------
        KeyError
            An unknown widget name (the message lists the known ones).
        """
        widgets = self._filter_widgets()
        unknown = sorted(set(values) - set(widgets))
        if unknown:
            raise KeyError(f"unknown filters: {', '.join(unknown)}; known: {', '.join(widgets)}")
        with self.hold():
            for name, value in values.items():
                w = widgets[name]
                if isinstance(w, W.SelectMultiple):
                    value = tuple(value)
                elif isinstance(w, W.TagsInput):
                    value = list(value)
                w.value = value
        return self

    def reset(self) -> FilterPanel:
        """Put every filter back to 'no filter'.

        Returns
        -------
        FilterPanel
            This panel, refreshed once.
        """
        return self.set(**self._defaults)

    def observe(self, callback: Callable[[FilterPanel], None]) -> Callable[[FilterPanel], None]:
        """Call ``callback(panel)`` after every change of the selection.

        Parameters
        ----------
        callback : callable
            Called with the panel after each refresh.

        Returns
        -------
        callable
            ``callback`` itself (so this works as a decorator).
        """
        self._observers.append(callback)
        return callback

    def unobserve(self, callback: Callable[[FilterPanel], None]) -> None:
        """Stop calling ``callback``.

        Parameters
        ----------
        callback : callable
            A callback given to ``observe``.

        Raises
        ------
        ValueError
            ``callback`` was not observing.
        """
        self._observers.remove(callback)

    def _on_change(self, _change: dict) -> None:
        if not self._held and not self._quiet:
            self._refresh()

    def _on_sort(self, _change: dict) -> None:
        self._update_grid()

    def _refresh(self) -> None:
        """Recompute the mask, count, facet counts and grid, then tell the observers.

        Each active clause is evaluated once into its own boolean array; the selection is
        their AND, and each facet's counts use the AND of the *other* clauses (prefix and
        suffix products, so n clauses cost O(n) array ANDs, not O(n^2)).
        """
        self._clauses = self.clauses()
        n_rows = self._work.height
        # A clause's source text names its column, operator and values exactly, so it keys
        # a cache of boolean arrays: a change re-evaluates only the clause that changed.
        cache = self._clause_masks
        todo = [c for c in self._clauses if c.code not in cache]
        if todo:
            masks = self._work.select(
                c.expr.fill_null(False).alias(f"c{i}") for i, c in enumerate(todo)
            )
            for i, c in enumerate(todo):
                cache[c.code] = masks.to_series(i).to_numpy()
        arrays = [cache[c.code] for c in self._clauses]
        self._clause_masks = {c.code: cache[c.code] for c in self._clauses}
        everything = np.ones(n_rows, dtype=bool)
        prefix = [everything]
        for a in arrays:
            prefix.append(prefix[-1] & a)
        mask = prefix[-1]
        self._mask = pl.Series("keep", mask, dtype=pl.Boolean)
        n = int(mask.sum())
        self.count.value = f"{n:,} of {n_rows:,} models"
        self._update_facets(arrays, mask)
        self._update_grid()
        for callback in list(self._observers):
            callback(self)

    def _update_facets(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        """Option labels show how many models each option would leave, given the other filters."""
        owners = [c.facet for c in self._clauses]
        for column, widget in self._facet_widgets().items():
            own = [i for i, o in enumerate(owners) if o == column]
            if column == "capabilities" and self.capability_mode.value == "all":
                base = mask  # "all": a further capability narrows the current selection
            elif not own:
                base = mask
            else:
                base = np.ones(len(mask), dtype=bool)
                for i, a in enumerate(arrays):
                    if i not in own:
                        base &= a
            counts = self._facets[column].counts(base)
            labels = tuple(
                f"{v}  ({c:,})" for v, c in zip(self._facets[column].values, counts, strict=True)
            )
            if labels != widget._options_labels:
                chosen = widget.value
                self._quiet += 1
                try:
                    widget.options = list(zip(labels, self._facets[column].values, strict=True))
                    widget.value = chosen
                finally:
                    self._quiet -= 1

    def _facet_widgets(self) -> dict[str, W.SelectMultiple]:
        return {
            "type": self.types,
            "privacy": self.privacy,
            "status": self.status,
            "source": self.source,
            "capabilities": self.capabilities,
        }

    # -- the grid ------------------------------------------------------------------------------

    def _make_grid(self) -> Any:
        """A streaming data grid over the selected rows (ipydatagrid; see ``_selection_grid``).

        Why this widget (measured on 100,000 models, see README "The result grid"): the
        streaming grid sends the browser only the rows in view and fetches more as the user
        scrolls, so every selected row stays reachable at a cost that does not grow with the
        selection; it sorts on a header click, resizes columns by dragging and copies a
        selected block with Ctrl+C.  Its source is built once (text for lists and dates); a
        filter change hands it only the new row numbers.
        """
        shown = self._work.select(_PREVIEW_COLUMNS)
        table = shown.with_columns(
            [pl.col(c).list.join(", ") for c, t in shown.schema.items() if isinstance(t, pl.List)]
            + [
                pl.col(c).dt.strftime("%Y-%m-%d %H:%M")
                for c, t in shown.schema.items()
                if isinstance(t, pl.Datetime)
            ]
        ).rename({c: _PREVIEW_HEADERS.get(c, c) for c in shown.columns})
        from ipydatagrid import TextRenderer, VegaExpr

        # Figures with three significant digits.  A model without a figure shows the grid's
        # own italic "NaN" (ipydatagrid draws NaN itself, before any text expression).
        figure = TextRenderer(
            text_value=VegaExpr(
                "isValid(cell.value) && !isNaN(cell.value) ? format(cell.value, ',.3~g') : ''"
            )
        )
        numeric = [_PREVIEW_HEADERS.get(c, c) for c in (P50_COST, P50_LATENCY)]
        grid = _selection_grid()(
            table.to_pandas(),
            selection_mode="cell",
            base_row_size=22,
            base_column_size=110,
            renderers=dict.fromkeys(numeric, figure),
            column_widths={"id": 240, "name": 220, "capabilities": 200},
            header_visibility="column",
            layout=W.Layout(height="340px", width="100%"),
        )
        grid.add_class("sf-grid")
        return grid

    def _selected_order(self) -> np.ndarray:
        order = self._order(self.sort_by.value, self.descending.value)
        return order.filter(self._mask.gather(order)).to_numpy()

    def _update_grid(self) -> None:
        self.grid.show(self._selected_order())

    def grid_frame(self) -> pl.DataFrame:
        """Every selected row handed to the grid, in the chosen order (preview columns).

        Returns
        -------
        polars.DataFrame
            The preview columns (with per-model p50 cost and latency) of the selected rows.
        """
        return self._work.select(_PREVIEW_COLUMNS)[self._selected_order()]

    # -- preview -----------------------------------------------------------------------------

    def _order(self, column: str, descending: bool) -> pl.Series:
        """Row numbers of the work frame sorted by one column (nulls last), computed once."""
        key = (column, descending)
        if key not in self._orders:
            self._orders[key] = (
                self._work.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"), column)
                .sort(column, descending=descending, nulls_last=True, maintain_order=True)
                .get_column("i")
            )
        return self._orders[key]

    def preview_frame(self) -> pl.DataFrame:
        """The first ``preview_rows`` rows the grid shows, in the chosen sort order.

        Returns
        -------
        polars.DataFrame
            At most ``preview_rows`` rows of the preview columns.
        """
        order = self._order(self.sort_by.value, self.descending.value)
        rows = order.filter(self._mask.gather(order)).head(self._preview_rows)
        return self._work.select(_PREVIEW_COLUMNS)[rows]

    # -- export ------------------------------------------------------------------------------

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the selected rows to parquet or CSV (format from the suffix unless given).

        CSV has no list type, so list columns are written as ``;``-joined text there.

        Parameters
        ----------
        path : str or pathlib.Path
            The file to write (its folder is created when missing).
        format : {"parquet", "csv"}, optional
            The file format; default from the suffix (``.parquet``, ``.pq``, ``.csv``).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ValueError
            The format is neither given nor told by the suffix.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> scratch = tempfile.TemporaryDirectory()
        >>> workdir = Path(scratch.name)
        >>> from scenario_frames import FilterPanel, fetch_catalog, serve_demo
        >>> with serve_demo(models=40, seed=1) as demo:
        ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
        ...     catalog = fetch_catalog(**account, privacy="public", progress=False)
        >>> panel = FilterPanel(catalog).set(privacy=["public"], types=["flux.1-lora"])
        >>> path = panel.export(workdir / "flux.csv")
        >>> path.name, len(path.read_text().splitlines())
        ('flux.csv', 5)
        >>> scratch.cleanup()
        """
        path = Path(path)
        fmt = format or _format_of(path)
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"cannot tell the format of {path}; use .parquet or .csv")
        rows = self.filtered
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            rows.write_parquet(path)
        else:
            lists = [n for n, t in rows.schema.items() if isinstance(t, pl.List)]
            rows.with_columns(pl.col(n).list.join(";") for n in lists).write_csv(path)
        return path

    def _on_format(self, change: dict) -> None:
        self.export_path.value = str(Path(self.export_path.value).with_suffix("." + change["new"]))

    def _export_clicked(self) -> None:
        try:
            path = self.export(self.export_path.value, self.export_format.value)
        except Exception as exc:  # noqa: BLE001 - shown to the user in the panel
            self.export_status.value = f"export failed: {exc}"
        else:
            self.export_status.value = f"wrote {int(self._mask.sum()):,} rows to {path}"

    # -- display -------------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"FilterPanel({self.count.value}, {len(self._clauses)} active filters)"


def _format_of(path: Path) -> str | None:
    return {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(path.suffix.lower())


_GRID_CLASS: type | None = None


def _selection_grid() -> type:
    """The grid class, made on first use so that importing the panel stays light.

    A ``StreamingDataGrid`` already serves the browser only the rows in view, on request.
    This subclass keeps the whole table it was built with and shows a list of row
    numbers into it: ``show(rows)`` swaps the list and tells the browser the new row count
    (one small message), instead of handing the grid a new pandas frame per filter change,
    which copies and re-describes every selected row (about 3x the panel's whole refresh
    on 100,000 models).  Header sorts and filters the user clicks run on the shown rows.
    """
    global _GRID_CLASS
    if _GRID_CLASS is not None:
        return _GRID_CLASS
    from ipydatagrid import StreamingDataGrid
    from traitlets import observe

    class SelectionGrid(StreamingDataGrid):
        def __init__(self, table: Any, **kwargs: Any) -> None:
            super().__init__(table.iloc[:0].copy(), **kwargs)
            self._table = table.reset_index(drop=True)
            self._rows = np.arange(0)
            self._view = self._rows

        def show(self, rows: np.ndarray) -> None:
            """Show these rows of the table, in this order (header sorts apply on top)."""
            self._rows = np.asarray(rows)
            self._apply()

        @property
        def shown_rows(self) -> np.ndarray:
            """Row numbers of the table as the browser lists them (after header sorts)."""
            return self._view

        def _apply(self) -> None:
            view = self._rows
            if self._transforms:
                picked = self._table.iloc[view]  # index = table row numbers
                view = self._apply_frontend_transforms(self._transforms, picked).index.to_numpy()
            self._view = view
            self._row_count = len(view)
            self.tick()

        @observe("_transforms")
        def _on_transforms_changed(self, _change: Any) -> None:
            self._apply()

        def _handle_comm_msg(self, _widget: Any, content: dict, _buffers: Any) -> None:
            kind = content.get("type", "")
            if kind == "data-request":
                r1, r2, c1, c2 = (int(content.get(k, 0)) for k in ("r1", "r2", "c1", "c2"))
                part = self._table.iloc[self._view[r1 : r2 + 1], c1 : c2 + 1]
                serialized, buffers = self._serialize_helper(part.reset_index(drop=True))
                self.send(
                    {
                        "event_type": "data-reply",
                        "value": serialized,
                        "r1": r1,
                        "r2": r2,
                        "c1": c1,
                        "c2": c2,
                    },
                    buffers,
                )
            elif kind == "unique-values-request":
                column = content.get("column")
                values = self._table[column].iloc[self._view].drop_duplicates().to_frame()
                serialized, buffers = self._serialize_helper(values.reset_index(drop=True))
                self.send(
                    {"event_type": "unique-values-reply", "column": column, "value": serialized},
                    buffers,
                )

    _GRID_CLASS = SelectionGrid
    return SelectionGrid
