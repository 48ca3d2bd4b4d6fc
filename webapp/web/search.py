"""Pages to find and compare: the search box (every level), an artifact's children as a
sortable table, and a side-by-side comparison with a chart. Thin: read the URL, ask the
Store's search service, render. The whole state is in the URL (GET forms only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request

from webapp.search import FilterError, Query
from webapp.search.charts import chart, chart_kind, is_number
from webapp.search.flatten import MISSING, flatten
from webapp.search.grammar import key_text
from webapp.store import get_store

bp = Blueprint("search", __name__)

PAGE_SIZE = 50
MAX_Q = 4000
DEFAULT_COLUMNS = 12
FIRST_COLUMNS = ("metrics.", "hyperparameters.", "params.")  # what a model's table shows first
# Operators of the language; anything else typed in the box is plain words.
LANGUAGE = re.compile(r"[=<>!(]|\bcontains\b|\bis\s+(not\s+)?null\b", re.IGNORECASE)


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), 1_000_000)


def _descending() -> bool:
    return request.args.get("order") == "desc"


def literal_text(value: Any) -> str:
    """A JSON scalar as a literal of the language (for facet links)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def cell(value: Any) -> str:
    """A value as a table cell's short text."""
    if value is MISSING or value is None:
        return "" if value is MISSING else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        text = str(value)
        return text if len(text) <= 60 else text[:59] + "…"
    text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"


@bp.get("/search")
def search_page() -> str:
    """Every level: plain words must each occur in the data; anything with an operator is a
    filter in the language. `where` (facets clicked) narrows; `sort`, `order`, `page`."""
    store = get_store()
    q = request.args.get("q", "").strip()[:MAX_Q]
    narrow = tuple(w for w in request.args.getlist("where") if w.strip())[:10]
    sort = request.args.get("sort", "").strip() or None
    language = bool(LANGUAGE.search(q))
    facet_fields = ("level_label", *[f for f in request.args.getlist("facet") if f.strip()][:5])
    query = Query(
        filter=q if language else None,
        sort=sort,
        descending=_descending(),
        facets=facet_fields,
        words=() if language else tuple(q.split()[:10]),
        narrow=narrow,
    )
    error, listing, crumbs = None, None, {}
    try:
        listing = store.search.list_page(_page(), PAGE_SIZE, query=query)
    except FilterError as refused:
        error = refused
    if listing is not None:
        crumbs = {str(a.id): store.artifacts.ancestors(a.id) for a in listing.items}
    status = 400 if error else 200
    return render_template(
        "search/search.html", q=q, language=language, narrow=narrow, sort=sort or "", order=request.args.get("order", "asc"),
        facet_fields=facet_fields, listing=listing, crumbs=crumbs, error=error, literal_text=literal_text,
    ), status  # type: ignore[return-value]


def _ordered_columns(paths: list[str]) -> list[str]:
    first = [p for p in paths if p.startswith(FIRST_COLUMNS)]
    return first + [p for p in paths if p not in first]


@bp.get("/artifacts/<artifact_id>/children/table")
def children_table(artifact_id: str) -> str:
    """The children as a table: a column per flattened field (choose with `columns`), sorted
    by any column (`sort`, `order`), ticked rows compared."""
    store = get_store()
    artifact = store.artifacts.get(artifact_id)
    sort = request.args.get("sort", "").strip() or None
    try:
        listing = store.search.list_page(
            _page(), PAGE_SIZE, query=Query(sort=sort, descending=_descending()), parent_id=artifact.id
        )
        error = None
    except FilterError as refused:
        listing, error = store.search.list_page(_page(), PAGE_SIZE, parent_id=artifact.id), refused
    rows = [(child, flatten(child.data)) for child in listing.items]
    found: dict[str, None] = {}
    for _, fields in rows:
        found.update(dict.fromkeys(fields))
    available = _ordered_columns(list(found))
    chosen = [c for c in request.args.getlist("columns") if c in found] or available[:DEFAULT_COLUMNS]
    return render_template(
        "search/table.html", artifact=artifact, ancestors=store.artifacts.ancestors(artifact.id), listing=listing,
        rows=rows, columns=chosen, available=available, sort=sort or "", order=request.args.get("order", "asc"),
        error=error, cell=cell, missing=MISSING,
    ), 400 if error else 200  # type: ignore[return-value]


@dataclass(frozen=True)
class ComparedRow:
    path: str
    cells: list[str]
    differs: bool
    best: int | None  # the index of the highest number, when the values are numbers
    worst: int | None  # the index of the lowest
    chartable: bool


def _compared_rows(fields: list[Any]) -> list[ComparedRow]:
    rows = []
    for field in fields:
        numbers = [(v, i) for i, v in enumerate(field.values) if is_number(v)]
        spread = len(numbers) >= 2 and min(numbers)[0] != max(numbers)[0]
        rows.append(ComparedRow(
            path=field.path,
            cells=[cell(v) for v in field.values],
            differs=field.differs,
            best=max(numbers)[1] if spread else None,
            worst=min(numbers)[1] if spread else None,
            chartable=chart_kind(field.values) is not None,
        ))
    return rows


@bp.get("/compare")
def compare_page() -> str:
    """Side by side: differing fields highlighted, highest and lowest numbers marked, and a
    chart of `chart` (a numeric field: bars; a list of numbers: lines)."""
    store = get_store()
    ids = [i for raw in request.args.getlist("ids") for i in raw.split(",") if i.strip()]
    comparison = store.search.compare([i.strip() for i in ids])
    artifacts = store.artifacts.find_many(list(comparison.ids))
    rows = _compared_rows(comparison.fields)
    chartable = [row.path for row in rows if row.chartable]
    chosen = request.args.get("chart") or next((p for p in chartable if p.startswith("metrics.")), None) or (
        chartable[0] if chartable else None
    )
    figure = None
    if chosen in chartable:
        field = next(f for f in comparison.fields if f.path == chosen)
        labels = [f"{i + 1}" for i in range(len(artifacts))]
        figure = {"path": chosen, "svg": chart(labels, field.values, f"{chosen} across {len(artifacts)} artifacts"),
                  "values": field.values}
    only_differing = request.args.get("differing") == "1"
    return render_template(
        "search/compare.html", artifacts=artifacts, rows=[r for r in rows if r.differs or not only_differing],
        chartable=chartable, figure=figure, ids=[str(i) for i in comparison.ids], only_differing=only_differing,
        key_text=key_text,
    )
