"""What kind of request htmx sent: the one place every door decides "fragment or page"."""

from __future__ import annotations

from flask import request


def is_fragment_request() -> bool:
    """An htmx swap, which takes a fragment. Not a history restore: htmx sends that (with
    HX-Request too) after "back" to a page missing from its cache, and it needs the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")
