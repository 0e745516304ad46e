"""An ipywidgets filter panel over the models table, for people exploring in Jupyter.

People click their way to a subset of the catalog, then want that subset as data and as code
they can keep.  ``FilterPanel`` therefore exposes three views of the same selection:

* ``panel.filtered``   – the selected rows of the models table (same columns, same order);
* ``panel.expression`` – the single polars expression that selects them;
* ``panel.code()``     – a self-contained snippet that redoes the selection on a ``Catalog``.

Speed on large catalogs comes from doing the expensive work once, when the panel is built:
a narrow frame holds only the columns the filters read plus the derived per-model p50 cost
and latency, sort orders for the preview are computed once per column and cached, and each
filter change evaluates one boolean mask, counts it and gathers the first few rows of a
presorted order.  The full models table is only filtered when ``panel.filtered`` is read.

Per-model cost and latency: ``scenario_frames.costs.model_p50`` gives the one definition the
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
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import ipywidgets as W
import polars as pl

from .costs import P50_COST, P50_LATENCY, model_p50
from .query import to_utc

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
    "model_id", "name", "short_description", "type", "capabilities", "privacy", "status",
    "source", "tags", "created_at", "updated_at", "training_images_number",
)  # fmt: skip
_PREVIEW_COLUMNS: tuple[str, ...] = (
    "model_id", "name", "type", "privacy", "status", "source", "capabilities", "created_at",
    "updated_at", P50_COST, P50_LATENCY, "training_images_number",
)  # fmt: skip
_PREVIEW_HEADERS = {
    "model_id": "id", P50_COST: "p50 cost (CU)", P50_LATENCY: "p50 latency (s)",
    "training_images_number": "training images", "created_at": "created", "updated_at": "updated",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Clauses: each active filter is one polars expression plus the Python text that builds it.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One active filter: the expression the panel evaluates and its source text for code()."""

    expr: pl.Expr
    code: str


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
    code = f"pl.any_horizontal(pl.col(c).str.contains({_lit(pattern)}) for c in {_lit(TEXT_COLUMNS)})"
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


def _options(series: pl.Series) -> list[tuple[str, str]]:
    """(label, value) options for a multi-select, most frequent first, counts in the label."""
    counts = (
        series.drop_nulls().value_counts(sort=True, name="n")
        .sort(["n", series.name], descending=[True, False])
    )  # fmt: skip
    return [(f"{v}  ({n:,})", v) for v, n in counts.iter_rows()]


def _range_of(series: pl.Series) -> tuple[float, float] | None:
    s = series.drop_nulls()
    if s.is_empty():
        return None
    return float(s.min()), float(s.max())


class FilterPanel:
    """Filters, a live count, a sortable preview, export and reset over the models table.

    Build it from a ``Catalog`` (anything with ``.models`` and, for the cost and latency
    filters, ``.variants``) or from a models ``DataFrame``.  Display it by leaving it as the
    last expression of a cell (or ``display(panel)``).  Filters can be set by hand through
    the widget attributes (``panel.types.value = ("flux.1-lora",)``) or several at once with
    ``panel.set(...)``; ``with panel.hold(): ...`` batches changes into a single refresh.
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
        self._clauses: list[Clause] = []
        self._mask = pl.repeat(True, models.height, dtype=pl.Boolean, eager=True)
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
        work = self._work
        wide = W.Layout(width="100%")
        desc = {"description_width": "90px"}

        def options(column: str) -> list[tuple[str, str]]:
            series = work[column]
            return _options(series.explode() if isinstance(series.dtype, pl.List) else series)

        def multi(column: str, label: str, max_rows: int = 5) -> W.SelectMultiple:
            opts = options(column)
            return W.SelectMultiple(
                options=opts, value=(), rows=min(max_rows, max(len(opts), 2)), description=label,
                style=desc, layout=wide,
            )  # fmt: skip

        def match_mode(what: str) -> W.ToggleButtons:
            return W.ToggleButtons(
                options=["any", "all"], value="any", style={"button_width": "44px"},
                tooltips=[f"at least one chosen {what}", f"every chosen {what}"],
            )  # fmt: skip

        self.types = multi("type", "type")
        self.privacy = multi("privacy", "privacy")
        self.status = multi("status", "status")
        self.source = multi("source", "source")
        self.capabilities = multi("capabilities", "capabilities", max_rows=6)
        self.capability_mode = match_mode("capability")
        self.tags = W.TagsInput(
            value=[], allowed_tags=[v for _, v in options("tags")], allow_duplicates=False,
            layout=W.Layout(width="70%", min_height="28px"),
        )  # fmt: skip
        self.tag_mode = match_mode("tag")
        self.text = W.Text(
            value="", placeholder="name, description or id", description="search",
            continuous_update=True, style=desc, layout=wide,
        )  # fmt: skip

        def date(tip: str) -> W.DatePicker:
            return W.DatePicker(value=None, tooltip=tip,
                                layout=W.Layout(width="150px"))

        self.created_from, self.created_to = date("created on or after"), date("created up to")
        self.updated_from, self.updated_to = date("updated on or after"), date("updated up to")

        def float_range(column: str, label: str, fmt: str) -> W.FloatRangeSlider:
            bounds = _range_of(work[column])
            lo, hi = bounds if bounds else (0.0, 1.0)
            hi = hi if hi > lo else lo + 1.0
            return W.FloatRangeSlider(
                value=(lo, hi), min=lo, max=hi, step=(hi - lo) / 200, description=label,
                readout_format=fmt, continuous_update=False, disabled=bounds is None,
                style=desc, layout=W.Layout(width="94%"),
            )  # fmt: skip

        self.cost = float_range(P50_COST, "p50 cost", ".3g")
        self.latency = float_range(P50_LATENCY, "p50 latency", ".3g")
        bounds = _range_of(work["training_images_number"])
        lo, hi = (int(bounds[0]), int(-(-bounds[1] // 1))) if bounds else (0, 1)
        hi = hi if hi > lo else lo + 1
        self.training_images = W.IntRangeSlider(
            value=(lo, hi), min=lo, max=hi, step=1, description="train images",
            continuous_update=False, disabled=bounds is None, style=desc,
            layout=W.Layout(width="94%"),
        )  # fmt: skip

        self.count = W.Label(value="", layout=W.Layout(margin="0 0 0 4px"))
        self.count.add_class("sf-count")
        sortable = [c for c in _PREVIEW_COLUMNS if not isinstance(work.schema[c], pl.List)]
        self.sort_by = W.Dropdown(
            options=[(_PREVIEW_HEADERS.get(c, c), c) for c in sortable], value="created_at",
            description="sort by", style={"description_width": "52px"},
            layout=W.Layout(width="220px"),
        )  # fmt: skip
        self.descending = W.Checkbox(value=True, description="descending", indent=False,
                                     layout=W.Layout(width="110px"))
        self.preview = W.HTML(value="")
        self.preview.add_class("sf-preview")
        self.export_format = W.Dropdown(options=["parquet", "csv"],
                                        value=_format_of(Path(export_path)) or "parquet",
                                        layout=W.Layout(width="90px"))
        self.export_path = W.Text(value=str(export_path), layout=W.Layout(width="260px"))
        self.export_button = W.Button(description="Export", icon="download",
                                      layout=W.Layout(width="100px"))
        self.export_status = W.Label(value="")
        self.reset_button = W.Button(description="Reset", icon="undo",
                                     layout=W.Layout(width="90px"))
        self.export_format.observe(self._on_format, names="value")
        self.export_button.on_click(lambda _b: self._export_clicked())
        self.reset_button.on_click(lambda _b: self.reset())

        def col(width: str, children: list[W.Widget]) -> W.VBox:
            return W.VBox(children, layout=W.Layout(width=width, padding="0 8px 0 0"))

        def row(label: str, *children: W.Widget) -> W.HBox:
            name = W.Label(label, layout=W.Layout(width="90px", justify_content="flex-end"))
            return W.HBox([name, *children], layout=W.Layout(align_items="center"))

        dash = W.Label("–", layout=W.Layout(width="12px"))
        kind = col("31%", [self.types, self.capabilities, row("match", self.capability_mode)])
        facets = col("25%", [self.privacy, self.status, self.source])
        other = col("44%", [
            self.text, row("tags", self.tags), row("match", self.tag_mode),
            row("created", self.created_from, dash, self.created_to),
            row("updated", self.updated_from, dash, self.updated_to),
            self.cost, self.latency, self.training_images,
        ])  # fmt: skip
        header = W.HBox([self.count, self.reset_button],
                        layout=W.Layout(justify_content="space-between", align_items="center"))
        tools = W.HBox([self.sort_by, self.descending, W.HTML("&nbsp;&nbsp;export"),
                        self.export_format, self.export_path, self.export_button,
                        self.export_status], layout=W.Layout(align_items="center"))
        self.widget = W.VBox([header, W.HBox([kind, facets, other]), tools, self.preview])
        self.widget.add_class("sf-filter-panel")

    def _filter_widgets(self) -> dict[str, W.ValueWidget]:
        return {
            "types": self.types, "capabilities": self.capabilities,
            "capability_mode": self.capability_mode, "privacy": self.privacy,
            "status": self.status, "source": self.source, "tags": self.tags,
            "tag_mode": self.tag_mode, "text": self.text, "created_from": self.created_from,
            "created_to": self.created_to, "updated_from": self.updated_from,
            "updated_to": self.updated_to, "cost": self.cost, "latency": self.latency,
            "training_images": self.training_images,
        }  # fmt: skip

    # -- the filter ------------------------------------------------------------------------

    def clauses(self) -> list[Clause]:
        """The active filters, in a fixed order, each as expression and source text."""
        out: list[Clause] = []
        for column, w in (("type", self.types), ("privacy", self.privacy),
                          ("status", self.status), ("source", self.source)):
            if w.value:
                out.append(_is_in(column, w.value))
        if self.capabilities.value:
            out.append(_list_has("capabilities", self.capabilities.value,
                                 self.capability_mode.value))
        if self.tags.value:
            out.append(_list_has("tags", self.tags.value, self.tag_mode.value))
        query = self.text.value.strip()
        if query:
            out.append(_text(query))
        for column, lo, hi in (("created_at", self.created_from, self.created_to),
                               ("updated_at", self.updated_from, self.updated_to)):
            if lo.value is not None:
                out.append(_bound(column, ">=", to_utc(lo.value)))
            if hi.value is not None:
                out.append(_bound(column, "<", to_utc(hi.value + _dt.timedelta(days=1))))
        for column, w in ((P50_COST, self.cost), (P50_LATENCY, self.latency),
                          ("training_images_number", self.training_images)):
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
        """
        clauses = self._clauses
        uses_p50 = any(P50_COST in c.code or P50_LATENCY in c.code for c in clauses)
        lines = ["import polars as pl"]
        if any("datetime(" in c.code for c in clauses):
            lines.append("from datetime import datetime, timezone")
        if uses_p50:
            lines += [
                "from scenario_frames.costs import model_p50",
                "",
                "# p50 cost / latency per model: its default variant's figure, else the lowest",
                f"models = {catalog}.models.join(",
                f"    model_p50({catalog}.variants), on=\"model_id\", how=\"left\", "
                "maintain_order=\"left\"",
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
        """Batch several filter changes into one refresh (and one round of observers)."""
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if not self._held:
                self._refresh()

    def set(self, **values: Any) -> FilterPanel:
        """Set several filters at once by widget name (``types=["sd-xl"], cost=(0, 2)``)."""
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
        """Put every filter back to 'no filter'."""
        return self.set(**self._defaults)

    def observe(self, callback: Callable[[FilterPanel], None]) -> Callable[[FilterPanel], None]:
        """Call ``callback(panel)`` after every change of the selection; returns the callback."""
        self._observers.append(callback)
        return callback

    def unobserve(self, callback: Callable[[FilterPanel], None]) -> None:
        """Stop calling ``callback``."""
        self._observers.remove(callback)

    def _on_change(self, _change: dict) -> None:
        if not self._held:
            self._refresh()

    def _on_sort(self, _change: dict) -> None:
        self._render_preview()

    def _refresh(self) -> None:
        """Recompute the mask, count and preview, then tell the observers."""
        self._clauses = self.clauses()
        if self._clauses:
            mask = self._work.select(self.expression.fill_null(False)).to_series()
        else:
            mask = pl.repeat(True, self._work.height, dtype=pl.Boolean, eager=True)
        self._mask = mask.rename("keep")
        n = int(mask.sum())
        self.count.value = f"{n:,} of {self._work.height:,} models"
        self._render_preview()
        for callback in list(self._observers):
            callback(self)

    # -- preview -----------------------------------------------------------------------------

    def _order(self, column: str, descending: bool) -> pl.Series:
        """Row numbers of the work frame sorted by one column (nulls last), computed once."""
        key = (column, descending)
        if key not in self._orders:
            self._orders[key] = (
                self._work.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"), column)
                .sort(column, descending=descending, nulls_last=True, maintain_order=True)
                .get_column("i")
            )  # fmt: skip
        return self._orders[key]

    def preview_frame(self) -> pl.DataFrame:
        """The preview rows: the first selected rows in the chosen sort order."""
        order = self._order(self.sort_by.value, self.descending.value)
        rows = order.filter(self._mask.gather(order)).head(self._preview_rows)
        return self._work.select(_PREVIEW_COLUMNS)[rows]

    def _render_preview(self) -> None:
        self.preview.value = _html_table(self.preview_frame(), self.sort_by.value,
                                         self.descending.value)

    # -- export ------------------------------------------------------------------------------

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the selected rows to parquet or CSV (format from the suffix unless given).

        CSV has no list type, so list columns are written as ``;``-joined text there.
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


def _cell(value: Any, column: str) -> str:
    if value is None:
        return '<span style="color:#999">–</span>'
    if isinstance(value, _dt.datetime):
        text = value.strftime("%Y-%m-%d")
    elif isinstance(value, list):
        text = ", ".join(value[:4]) + (f" +{len(value) - 4}" if len(value) > 4 else "")
    elif isinstance(value, float):
        text = f"{value:,.0f}" if column == "training_images_number" else f"{value:.3g}"
    else:
        text = str(value)
        if len(text) > 40:
            text = text[:39] + "…"
    return html.escape(text)


def _html_table(frame: pl.DataFrame, sort_column: str | None = None,
                descending: bool = False) -> str:
    """A compact HTML table of the preview rows: escaped, one line per row, sort column marked."""
    cell = "padding:1px 8px;white-space:nowrap;text-align:left"
    arrow = " ▼" if descending else " ▲"
    head = "".join(
        f'<th style="{cell}">{html.escape(_PREVIEW_HEADERS.get(c, c))}'
        f"{arrow if c == sort_column else ''}</th>"
        for c in frame.columns
    )
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{_cell(v, c)}</td>'
                         for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.iter_rows()
    )
    if frame.is_empty():
        body = f'<tr><td colspan="{len(frame.columns)}" style="{cell}">no model matches</td></tr>'
    return (
        '<div style="overflow-x:auto"><table style="border-collapse:collapse;font-size:12px;'
        'line-height:1.4">'
        f'<thead><tr style="border-bottom:1px solid #bbb">{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
