"""Search: hybrid ranking over named vector spaces plus a keyword leg."""

from .results import SearchResult, SearchResults
from .searcher import Query, Searcher

__all__ = ["Query", "SearchResult", "SearchResults", "Searcher"]
