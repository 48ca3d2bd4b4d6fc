"""Request checks and response headers that apply to the whole app, in one place.

- Unsafe API requests must come from the app's own site (or from no browser at all): a
  cross-site page may post a multipart form, a urlencoded or text/plain body, or a
  `fetch(..., {mode: "no-cors"})` without any CORS preflight, and the API must not act on it.
- Query strings of the pages may not hold NUL: PostgreSQL refuses it inside text.
- A request for a host not in TRUSTED_HOSTS is a 400 before anything else runs.
- Every response says `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

from flask import Flask, Response, abort, request
from werkzeug.exceptions import SecurityError

from webapp.artifacts.errors import PROBLEM_BASE
from webapp.errors import problem, wants_problem_json

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIX = "/api/"
# Fetch Metadata (https://www.w3.org/TR/fetch-metadata/): "none" is a request the user made
# (typed URL, bookmark); "same-site" includes sibling subdomains, which we trust as the site.
SAME_SITE_FETCHES = frozenset({"same-origin", "same-site", "none"})
CROSS_SITE_TYPE = PROBLEM_BASE + "cross-site"


def cross_site_refusal() -> str | None:
    """Why this request must be refused as cross-site, or None when it may go on.

    The order is Django's and Datasette's: `Sec-Fetch-Site` when the browser sends it
    (every current one does, to HTTPS and loopback origins), else `Origin` against the
    Host the request was sent to; a request with neither header comes from no browser
    (curl, scripts) and cannot carry a victim's credentials, so it passes.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site.strip().lower() in SAME_SITE_FETCHES:
            return None
        return f"Sec-Fetch-Site is {fetch_site[:40]!r}: this request was sent by a page of another site."
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    # "null" (sandboxed frames, cross-origin redirects) names no site at all: refused.
    host = origin.partition("://")[2].rstrip("/").lower() if "://" in origin else None
    if host and host == request.host.lower():
        return None
    return f"Origin {origin[:100]!r} is not this site ({request.host[:100]!r}): this request was sent by another site."


def _refuse_cross_site_writes() -> Response | None:
    if request.method in SAFE_METHODS or not request.path.startswith(API_PREFIX):
        return None
    reason = cross_site_refusal()
    # A request authenticated by the session cookie must also carry the CSRF header
    # (X-CSRFToken, as the pages' htmx sends it): webapp/access.py counts the cookie for an
    # unsafe API request only then.
    if reason is None:
        return None
    detail = f"{reason} The API only accepts writes from this site's pages or from clients that are not browsers."
    return problem(403, "Cross-site request refused", detail, CROSS_SITE_TYPE)


def _refuse_untrusted_host() -> Response | None:
    """Flask checks the Host against TRUSTED_HOSTS before routing and then has no URL
    adapter: no page (they build URLs) could render, so the refusal is answered here,
    before CSRFProtect or a view can try."""
    if not isinstance(request.routing_exception, SecurityError):
        return None
    detail = "This server does not answer for that host name (see TRUSTED_HOSTS)."
    if wants_problem_json():
        return problem(400, "Bad Request", detail)
    return Response(f"400 Bad Request: {detail}\n", status=400, mimetype="text/plain")


def _refuse_nul_in_page_queries() -> None:
    """The API validates its query parameters one by one (422); the pages get a 400 page."""
    if wants_problem_json():
        return
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            abort(400, "The address holds a NUL character (%00), which no search or setting can use.")


def _nosniff(response: Response) -> Response:
    # Browsers must take every body as the type it is sent with: a text/plain value or a
    # JSON document holding markup must never be rendered as a page.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_untrusted_host)  # first of all
    app.before_request(_refuse_cross_site_writes)
    app.before_request(_refuse_nul_in_page_queries)
    app.after_request(_nosniff)
