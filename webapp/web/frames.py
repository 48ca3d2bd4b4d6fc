"""Pages for tables: the CSV upload form, and the table on an artifact's page (a page of
rows in some order, and a chart of each column) with their htmx fragments.

The table's state lives in the artifact page's query string (table_page, table_sort,
table_order), so every page and sort is a link that works without JavaScript; htmx only
swaps the table in place and pushes that same URL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, SelectField

from webapp.http import allow_upload_body
from webapp.artifacts import ArtifactOut
from webapp.artifacts.errors import ArtifactError, UnknownHierarchyError
from webapp.frames import FramePage, LoadedFrame
from webapp.frames.columns import CHARTED_COLUMNS, ColumnChart, Histogram, ValueCounts
from webapp.search.charts import counts_chart, histogram
from webapp.extensions import csrf
from webapp.store import get_store
from webapp.web.forms import offer_hierarchies
from webapp.web.htmx import is_fragment_request

bp = Blueprint("frames", __name__)

TABLE_PAGE_SIZE = 50
MAX_TABLE_PAGE = 1_000_000_000


class CSVUploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])
    parent_id = HiddenField()
    hierarchy = SelectField("Hierarchy", choices=[], validate_choice=False)  # a new root's


@dataclass(frozen=True)
class ColumnFigure:
    """One column's chart, with the same counts as text (frames/_columns.html)."""

    column: str
    dtype: str
    kind: str  # "histogram" or "counts"
    svg: Markup | None  # None: nothing to draw (no values, or none finite)
    counts: list[tuple[str, int]]  # (bin or value, rows): the text fallback
    note: str  # what the chart leaves out: missing values, NaN, infinities, rarer values


@dataclass(frozen=True)
class ChartsView:
    """Context of frames/_columns.html: the column charts, or where to fetch them."""

    artifact_id: str
    figures: list[ColumnFigure] | None  # None: a big table's, not computed yet (htmx fetches them)
    columns: int  # in the table (only the first CHARTED_COLUMNS are charted)

    @property
    def element_id(self) -> str:
        return f"frame-{self.artifact_id}-columns"

    @property
    def charted(self) -> int:
        return min(self.columns, CHARTED_COLUMNS)

    def fragment_url(self) -> str:
        return url_for("frames.frame_columns", artifact_id=self.artifact_id)

    def page_url(self) -> str:
        """The artifact's page with the charts drawn in it (for a browser without JavaScript)."""
        return url_for("web.artifact_detail", artifact_id=self.artifact_id, table_charts=1, _anchor=self.element_id)


@dataclass(frozen=True)
class TableView:
    """Context of frames/_table.html: one page of rows, and the links to the others."""

    artifact_id: str
    rows: FramePage
    summary: dict[str, Any] | None
    source: dict[str, Any] | None  # where an uploaded table came from, as stored with it
    charts: ChartsView | None = None  # on the artifact's page only, not in the rows' fragment

    @property
    def element_id(self) -> str:
        return f"frame-{self.artifact_id}"

    def args(self, page: int | None = None, sort: str | None | bool = False, order: str | None = None) -> dict[str, Any]:
        """Query arguments of this view with some changed (sort=False keeps the sort);
        defaults are left out, so URLs stay short."""
        sort = self.rows.sort if sort is False else sort
        order = order or (self.rows.order if sort else "asc")
        page = page or self.rows.page
        return {
            "table_page": page if page > 1 else None,
            "table_sort": sort or None,
            "table_order": order if sort and order != "asc" else None,
        }

    def page_url(self, **changes: Any) -> str:
        """The artifact's page showing the table this way (the no-JavaScript link)."""
        return url_for(
            "web.artifact_detail", artifact_id=self.artifact_id, **self.args(**changes), _anchor=self.element_id
        )

    def fragment_url(self, **changes: Any) -> str:
        return url_for("frames.frame_table", artifact_id=self.artifact_id, **self.args(**changes))

    def sort_state(self, column: str) -> tuple[str, str]:
        """(aria-sort value, the order a click on the column's header asks for)."""
        if self.rows.sort != column:
            return "none", "asc"
        if self.rows.order == "asc":
            return "ascending", "desc"
        return "descending", "asc"


def _table_args() -> tuple[int, str | None, str]:
    page = min(max(request.args.get("table_page", 1, type=int) or 1, 1), MAX_TABLE_PAGE)
    return page, request.args.get("table_sort") or None, request.args.get("table_order") or "asc"


def _table_view(loaded: LoadedFrame) -> TableView:
    page, sort, order = _table_args()
    rows = get_store().frames.page(loaded, page, TABLE_PAGE_SIZE, sort, order)
    return TableView(loaded.artifact_id, rows, loaded.summary, loaded.source)


def frame_view(artifact: ArtifactOut) -> TableView | None:
    """For frames/_panel.html: the artifact's table as the page's query string asks, or None."""
    loaded = get_store().frames.frame_of(artifact)
    if loaded is None:
        return None
    frames = get_store().frames
    # table_charts=1: the link a browser without JavaScript follows to see a big table's charts.
    charts = frames.column_charts(loaded) if request.args.get("table_charts") else frames.cached_column_charts(loaded)
    return dataclass_replace(_table_view(loaded), charts=_charts_view(loaded, charts))


def _charts_view(loaded: LoadedFrame, charts: list[ColumnChart] | None) -> ChartsView:
    figures = None if charts is None else [column_figure(chart) for chart in charts]
    return ChartsView(loaded.artifact_id, figures, len(loaded.schema.names))


def column_figure(chart: ColumnChart) -> ColumnFigure:
    if isinstance(chart, Histogram):
        return _histogram_figure(chart)
    return _counts_figure(chart)


def _histogram_figure(chart: Histogram) -> ColumnFigure:
    counts = [(_bin_label(chart, b.low, b.high), b.count) for b in chart.bins]
    note = _rows_note(chart.rows, [(chart.missing, "missing"), (chart.nan, "NaN"), (chart.infinite, "infinite")])
    svg = None
    if chart.bins:
        title = f"Histogram of {chart.column}"
        description = (
            f"{len(chart.bins)} bin{'s' if len(chart.bins) != 1 else ''} from {_bound(chart.bins[0].low)} "
            f"to {_bound(chart.bins[-1].high)}; {chart.plotted:,} values drawn. {note}"
        )
        svg = histogram(counts, _bound(chart.bins[0].low, short=True), _bound(chart.bins[-1].high, short=True),
                        title, description)  # fmt: skip
    return ColumnFigure(chart.column, chart.dtype, chart.kind, svg, counts, note)


def _counts_figure(chart: ValueCounts) -> ColumnFigure:
    rows = [(_value_label(value), count, "value") for value, count in chart.top]
    if chart.other:
        rows.append(("(other values)", chart.other, "other"))
    if chart.missing:
        rows.append(("(missing)", chart.missing, "missing"))
    distinct = f"{chart.distinct:,} distinct value{'s' if chart.distinct != 1 else ''}"
    if not chart.exact:
        distinct = f"At least {distinct}; the counts shown are lower bounds"
    note = f"{distinct} in {chart.rows:,} row{'s' if chart.rows != 1 else ''}."
    svg = None
    if rows:
        shown = f"the {len(chart.top)} most frequent" if chart.other else "every"
        svg = counts_chart(rows, f"Values of {chart.column}", f"Rows with {shown} value. {note}")
    return ColumnFigure(chart.column, chart.dtype, chart.kind, svg, [(label, count) for label, count, _ in rows], note)


def _rows_note(rows: int, left_out: list[tuple[int, str]]) -> str:
    """"120 rows; 13 missing, 2 NaN not drawn." """
    parts = [f"{count:,} {what}" for count, what in left_out if count]
    text = f"{rows:,} row{'s' if rows != 1 else ''}"
    return f"{text}; {', '.join(parts)} not drawn." if parts else f"{text}."


def _bound(value: Any, short: bool = False) -> str:
    if isinstance(value, str):  # a date or timestamp, ISO 8601
        return value[:10] if short and len(value) > 10 else value
    if isinstance(value, int):
        return f"{value:.4g}" if short and abs(value) >= 1e6 else f"{value:,}"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}" if short else f"{value:.6g}"
    return str(value)


def _bin_label(chart: Histogram, low: Any, high: Any) -> str:
    if chart.whole and low == high:
        return _bound(low)
    return f"{_bound(low)} – {_bound(high)}"


def _value_label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return "(empty text)"
    return str(value)


bp.add_app_template_global(frame_view, "frame_view")


@bp.get("/artifacts/<artifact_id>/table/columns")
def frame_columns(artifact_id: str) -> str | BaseResponse:
    """The charts of a table's columns (htmx fragment: a big table's take a while, so its page
    fetches them after loading). Without htmx: the artifact's page with them drawn."""
    frames = get_store().frames
    loaded = frames.require_frame(artifact_id)
    if not is_fragment_request():
        response = redirect(_charts_view(loaded, None).page_url())
    else:
        view = _charts_view(loaded, frames.column_charts(loaded))
        response = current_app.make_response(render_template("frames/_columns.html", charts=view))
    response.vary.add("HX-Request")
    return response


@bp.get("/artifacts/<artifact_id>/table")
def frame_table(artifact_id: str) -> str | BaseResponse:
    """A page of the table (htmx fragment). Without htmx: the artifact's page showing it."""
    view = _table_view(get_store().frames.require_frame(artifact_id))
    if not is_fragment_request():
        response = redirect(view.page_url())
    else:
        response = current_app.make_response(render_template("frames/_table.html", table=view))
        response.headers["HX-Push-Url"] = view.page_url()  # the address bar keeps page and sort
    response.vary.add("HX-Request")  # one URL, two answers: caches must keep them apart
    return response


@bp.route("/artifacts/upload", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token, after the upload limit below is in place
def upload_csv() -> tuple[str, int] | BaseResponse:
    """Upload a CSV as a new root artifact, or as a child of `parent` (GET) / `parent_id` (POST)."""
    allow_upload_body()  # before CSRFProtect reads the body under MAX_CONTENT_LENGTH (the JSON limit)
    try:
        form = CSVUploadForm()
    except RequestEntityTooLarge:
        form = CSVUploadForm(formdata=None)
        form.form_errors.append(_too_large_message())
        return _upload_page(form, request.args.get("parent") or None), 413
    offer_hierarchies(form.hierarchy, request.args.get("hierarchy"))
    status = 200
    if request.method == "GET":
        form.parent_id.data = request.args.get("parent") or ""
        if form.parent_id.data:
            form.parent_id.data = str(get_store().artifacts.get(form.parent_id.data).id)  # 404 for a bad link
    elif form.validate_on_submit():
        upload = form.file.data
        try:
            artifact = get_store().frames.create_from_csv(
                upload.stream,
                upload.filename or "upload.csv",
                parent_id=form.parent_id.data or None,
                hierarchy=None if form.parent_id.data else form.hierarchy.data or None,
            )
        except UnknownHierarchyError as error:
            form.hierarchy.errors = [*form.hierarchy.errors, error.detail]
            status = error.status
        except ArtifactError as error:
            form.file.errors = [*form.file.errors, error.detail]
            status = error.status
        else:
            frame = artifact.data["frame"]
            flash(
                f"Uploaded “{artifact.data['name']}”: {frame['row_count']:,} rows × {frame['column_count']} columns.",
                "success",
            )
            return redirect(url_for("web.artifact_detail", artifact_id=str(artifact.id)), 303)
    else:
        status = 422
    return _upload_page(form, form.parent_id.data or None), status


def _too_large_message() -> str:
    limit = get_store().policy.max_upload_bytes
    return f"The file is larger than the upload limit of {limit / 1024 / 1024:,.0f} MiB; nothing was stored."


def _upload_page(form: CSVUploadForm, parent_id: str | None) -> str:
    parent = None
    if parent_id:
        try:
            parent = get_store().artifacts.find_by_id(parent_id)
        except ArtifactError:
            pass  # a broken hidden field: the form says so when it is sent
    limit_mib = get_store().policy.max_upload_bytes / 1024 / 1024
    return render_template("frames/upload.html", form=form, parent=parent, limit_mib=limit_mib)
