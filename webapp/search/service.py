"""SearchService: filtered, sorted and faceted listings, and comparisons, over the manager."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal

from webapp.artifacts.errors import ArtifactValidationError
from webapp.artifacts.manager import ArtifactManager
from webapp.artifacts.models import Artifact
from webapp.artifacts.policy import Policy
from webapp.artifacts.schemas import Cursor

from .compiler import Compiler, Labels
from .flatten import MISSING, flatten
from .grammar import Field, FilterError, parse, parse_field
from .indexes import index_exists
from .schemas import ComparedField, Comparison, FacetValue, SearchPage

FACET_VALUES = 20
MAX_FACETS = 10
MIN_COMPARE, MAX_COMPARE = 2, 50
# Up to this many matches, a filtered page in id order is read by finding the matches (an
# expression index, or one scan) and sorting them, rather than by walking the id order
# until a page of them turns up (which, for a rare match, walks the whole table).
FEW_MATCHES = 10_000


@dataclass(frozen=True)
class Query:
    """A listing's search state, as the API and the pages read it from a query string."""

    filter: str | None = None
    sort: str | None = None
    descending: bool = False
    facets: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # plain words: each must occur in the data (the full-text index)
    narrow: tuple[str, ...] = ()  # more filters, all of which must hold too (the pages' facets)


class SearchService:
    def __init__(self, artifacts: ArtifactManager, policy: Policy) -> None:
        self.artifacts = artifacts
        self.policy = policy

    @property
    def dialect(self) -> str:
        return self.artifacts.session.get_bind().dialect.name

    def labels(self) -> Labels:
        return Labels({name: dict(h.level_labels) for name, h in self.policy.hierarchies.items()})

    def compiler(self, parameter: str = "filter") -> Compiler:
        return Compiler(self.dialect, self.labels(), parameter)

    def where(self, text: str | None) -> list[Any]:
        """The compiled WHERE terms of a filter (none for an empty one). Raises FilterError."""
        if text is None or not text.strip():
            return []
        return [self.compiler().where(parse(text))]

    def list_page(
        self, page: int = 1, size: int = 50, *, cursor: Cursor | None = None, query: Query = Query(), **filters: Any
    ) -> SearchPage:
        """One page of the artifacts matching `query.filter` and the listing's `filters`
        (parent_id, roots_only, level, text), sorted by `query.sort` (missing values last,
        ties by id); with `query.facets`, the top values of those fields over every match.

        A cursor walks an id-ordered listing by keyset; a sorted one by offset (the cursor's
        page). Raises FilterError, ArtifactValidationError.
        """
        size = max(self.policy.check_page_size(size), 1)
        sort = parse_field(query.sort, "sort") if query.sort else None
        if sort is not None and sort.source == "ancestor" or sort is not None and sort.source == "parent":
            raise FilterError("sort takes data.<path> or a column", sort.position, "data.<path> or a column", "sort")
        facets = self._facet_fields(query.facets)
        where = [*self.where(query.filter), *(t for text in query.narrow for t in self.where(text))]
        where += [term for word in query.words for term in self.artifacts.text_where(word)]
        compiler = self.compiler("sort")
        order_by = compiler.order_by(sort, query.descending)
        with self.artifacts.work.reading():
            page_where, offset = where, 0
            if cursor is not None:
                page = cursor.page
                if sort is None:  # keyset: an index range from the cursor's id
                    after = Artifact.id < cursor.after if query.descending else Artifact.id > cursor.after
                    page_where = [*where, after]
                else:
                    offset = (page - 1) * size
            else:
                page = max(page, 1)
                offset = (page - 1) * size
            total = self.artifacts.count_where(where, **filters)
            if sort is None and where and total <= FEW_MATCHES:
                order_by = compiler.matches_first_order(query.descending)
            items = None
            if sort is not None and sort.source == "data":
                items = self._among_indexed_numbers(where, sort.path, query.descending, offset, size, filters)
            if items is None:
                items = self.artifacts.find_where(page_where, order_by, offset=offset, limit=size + 1, **filters)
            more, items = len(items) > size, items[:size]
            counted = {name: self._facet(where, field, filters) for name, field in facets.items()} if facets else None
        next_cursor = Cursor(page + 1, str(items[-1].id)).encode() if more and items else None
        result = SearchPage.of(items, total, page, size, next_cursor)
        result.facets = counted
        return result

    def _among_indexed_numbers(
        self, where: list[Any], path: tuple[str, ...], descending: bool, offset: int, size: int, filters: dict[str, Any]
    ) -> list[Any] | None:
        """The page (size + 1 rows, to tell whether more follow) of a sort by an indexed data
        path, read from its index when the page lies among the path's numbers; else None (the
        page needs the full sort: the index's order is not the sort's beyond the numbers).

        Ascending, numbers come first. Descending, they come after the booleans, strings,
        arrays and objects, so a few short index lookups must first find none of those."""
        if not index_exists(self.artifacts.session.connection(), path):
            return None
        compiler = self.compiler("sort")
        pg = self.dialect == "postgresql"

        def first(terms: list[Any], value: Any, order: list[Any] | None = None) -> Any:
            # Asked of the database, not of the listed data: a listing may carry a stand-in
            # of a big artifact's data.
            return self.artifacts.first_value_where([*where, *terms], value, order or [], **filters)

        kind = compiler.kind_of(path)
        if descending:
            if first([compiler.before_numbers(path)], literal(1)) is not None:
                return None
            smallest, ascending = compiler.smallest_present(path)
            if pg and first(smallest, kind, ascending) == "string":
                return None  # strings: below the numbers in the index, above them in the sort
        elif pg:
            below_booleans, ascending = compiler.least_below_booleans(path)
            if first(below_booleans, kind, ascending) != "number":
                return None  # strings, nulls or empty arrays before the numbers in the index
        numbers, order = compiler.number_sort(path, descending)
        items = self.artifacts.find_where([*where, *numbers], order, offset=offset, limit=size + 1, **filters)
        if len(items) <= size:
            return None  # the page reaches past the numbers
        if pg and descending and first([Artifact.id == str(items[-1].id)], kind) != "number":
            return None  # past the numbers, into the JSON nulls the range holds below them
        return items

    def _facet_fields(self, names: tuple[str, ...]) -> dict[str, Field]:
        if len(names) > MAX_FACETS:
            raise ArtifactValidationError(
                [{"loc": ["query", "facets"], "msg": f"at most {MAX_FACETS} fields", "type": "too_long"}]
            )
        fields = {}
        for name in names:
            field = parse_field(name, "facets")
            if field.source in ("parent", "ancestor"):
                raise FilterError("facets take data.<path> or a column", field.position, "data.<path> or a column", "facets")
            fields[field.text()] = field
        return fields

    def _facet(self, where: list[Any], field: Field, filters: dict[str, Any]) -> list[FacetValue]:
        value, is_json = self.compiler("facets").facet_value(field)
        counts = self.artifacts.value_counts(where, value, FACET_VALUES, **filters)
        return [FacetValue(value=json.loads(v) if is_json else _plain(v), count=n) for v, n in counts]

    def compare(self, ids: list[str]) -> Comparison:
        """The flattened data of 2–50 artifacts side by side. Raises ArtifactValidationError,
        InvalidULIDError, ArtifactNotFoundError."""
        if not MIN_COMPARE <= len(ids) <= MAX_COMPARE or len(set(ids)) != len(ids):
            raise ArtifactValidationError(
                [{"loc": ["query", "ids"], "msg": f"{MIN_COMPARE} to {MAX_COMPARE} distinct ids", "type": "value_error"}],
                detail=f"Compare takes {MIN_COMPARE} to {MAX_COMPARE} distinct artifact ids, separated by commas.",
            )
        artifacts = self.artifacts.find_many(list(ids))
        flat = [flatten(artifact.data) for artifact in artifacts]
        paths: dict[str, None] = {}
        for fields in flat:
            paths.update(dict.fromkeys(fields))
        compared = []
        for path in paths:
            values = [fields.get(path, MISSING) for fields in flat]
            first = _same(values[0])
            differs = any(_same(v) != first for v in values[1:])
            compared.append(ComparedField(path=path, values=[None if v is MISSING else v for v in values], differs=differs))
        return Comparison(ids=[a.id for a in artifacts], fields=compared)


def _same(value: Any) -> Any:
    """A key equal for equal JSON values (1 and 1.0 alike, true unlike 1, missing unlike null)."""
    if value is MISSING:
        return ("missing",)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    return ("json", json.dumps(value, sort_keys=True))


def _plain(value: Any) -> Any:
    """A column's facet value as JSON: timestamps (SQLite gives text, PostgreSQL datetimes) as ISO text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
