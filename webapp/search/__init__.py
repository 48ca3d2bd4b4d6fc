"""Finding and comparing artifacts: the filter language (grammar, compiler), filtered and
sorted listings with facets, comparisons, and expression indexes on data paths."""

from .grammar import FilterError, parse, parse_field
from .schemas import ComparedField, Comparison, FacetValue, SearchPage
from .service import Query, SearchService

__all__ = [
    "ComparedField",
    "Comparison",
    "FacetValue",
    "FilterError",
    "Query",
    "SearchPage",
    "SearchService",
    "parse",
    "parse_field",
]
