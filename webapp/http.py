"""HTTP helpers that the pages and the JSON API share (written once, used by both blueprints)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response, request, url_for

from webapp.store import get_store

# Characters a header may not carry: C0 and C1 controls (CR and LF split headers) and
# Unicode's line and paragraph separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What an old client's plain `filename=` gets: letters, digits and a few safe marks.
NOT_FALLBACK_SAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")
# RFC 8187 attr-char: all else is percent-encoded in `filename*`.
ATTR_CHARS = "!#$&+-.^_`|~"

# Room for the multipart envelope around an uploaded file: boundaries, part headers, fields.
MULTIPART_OVERHEAD = 64 * 1024


def allow_upload_body() -> None:
    """Let this request's body be as large as an upload may be, instead of MAX_CONTENT_LENGTH
    (the limit of JSON bodies). Call it before anything reads the form (CSRF does)."""
    request.max_content_length = get_store().policy.max_upload_bytes + MULTIPART_OVERHEAD


def created(response: Response, artifact_id: object) -> Response:
    """`response` as the answer to a create: 201 with the new artifact's API URL in Location."""
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_artifact", artifact_id=str(artifact_id), _external=True)
    return response


def header_text(value: str) -> str:
    """`value` without the control characters that would break (or split) a response header."""
    return CONTROL_CHARACTERS.sub("", value)


def attachment(response: Response, filename: str, fallback: str) -> Response:
    """Make `response` a download named `filename`, whatever characters it holds.

    RFC 6266: `filename*=UTF-8''…` carries the name itself (日本.csv, данные.csv) and
    `filename=` an ASCII fallback for old clients; a header is Latin-1 on the wire, so
    the name alone would be a 500 from the server. `fallback` (ASCII, such as the
    artifact's id) stands in when nothing of the name's stem survives as ASCII.
    """
    name = header_text(filename).strip() or fallback
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = NOT_FALLBACK_SAFE.sub("_", ascii_name).strip()
    stem, dot, extension = ascii_name.rpartition(".") if "." in ascii_name else (ascii_name, "", "")
    if not stem.strip("._ "):
        ascii_name = fallback + dot + extension
    names = {"filename": ascii_name}
    if ascii_name != name:
        names["filename*"] = "UTF-8''" + quote(name, safe=ATTR_CHARS)
    response.headers.set("Content-Disposition", "attachment", **names)
    return response
