"""What a file name may be, and what its bytes are.

Names are path segments of the API (`/artifacts/{id}/files/{name}`) and names of
downloads, so they may hold nothing that a path or a header would read as structure.
Types are sniffed from the first bytes: a client's Content-Type is a claim, not a fact,
and what the browser may show inline is decided from the bytes alone.
"""

from __future__ import annotations

import mimetypes
import re

from .errors import FileNameError

MAX_NAME_BYTES = 255
# C0 and C1 controls (NUL, CR, LF, …), DEL, Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_name(name: str) -> str:
    """`name` when it is a valid file name; else FileNameError naming the rule it breaks."""
    if not name:
        raise FileNameError("a name may not be empty")
    if "/" in name:
        raise FileNameError("a name may not contain '/' (sent as is or as %2F)")
    if "\\" in name:
        raise FileNameError("a name may not contain '\\'")
    if ".." in name or name == ".":
        raise FileNameError("a name may not be '.' or contain '..'")
    if CONTROL.search(name):
        raise FileNameError("a name may not contain control characters")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        raise FileNameError("a name must be valid Unicode text") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise FileNameError(f"a name may be at most {MAX_NAME_BYTES} bytes of UTF-8 (this one is {len(encoded)})")
    return name


OCTET_STREAM = "application/octet-stream"
PICKLE = "application/x-python-pickle"
# The raster images a browser may show inline: they run no script. SVG is not among them.
RASTER_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INLINE_TEXT = "text/plain"
# How many leading bytes sniffing needs.
HEAD_BYTES = 16
# Names whose files are usually pickles (or zip files of them: PyTorch's .pt, joblib).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".npy_pickle")
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def sniff(head: bytes) -> str | None:
    """The type the first bytes prove: a raster image or a pickle; None otherwise."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # PROTO opcode, protocols 2 to 5
        return PICKLE
    return None


def media_type_of(head: bytes, name: str, declared: str | None) -> str:
    """The type to record: sniffed from the bytes when they prove one, else the client's
    Content-Type, else a guess from the name. Never a raster image the bytes are not."""
    sniffed = sniff(head)
    if sniffed:
        return sniffed
    claimed = (declared or "").split(";", 1)[0].strip().lower()
    if not MEDIA_TYPE.match(claimed) or claimed == OCTET_STREAM or claimed.startswith("multipart/"):
        claimed = (mimetypes.guess_type(name, strict=False)[0] or OCTET_STREAM).lower()
    return OCTET_STREAM if claimed in RASTER_IMAGES else claimed


def shown_inline(media_type: str) -> bool:
    """Whether a browser may show the file in place: a (sniffed) raster image, or plain
    text (served with nosniff, so it is never taken for a page). All else is a download."""
    return media_type in RASTER_IMAGES or media_type == INLINE_TEXT


# Types a browser would run or render as a document: downloads of them are sent as plain
# bytes, in case some client ignores Content-Disposition.
ACTIVE = re.compile(r"^(text/html|application/xhtml\+xml|image/svg\+xml|text/xml|application/xml|.*javascript|"
                    r"text/xsl|application/pdf|.*\+xml)$")


def served_type(media_type: str) -> str:
    if media_type == INLINE_TEXT:
        return "text/plain; charset=utf-8"
    return OCTET_STREAM if ACTIVE.match(media_type) else media_type


def may_run_code(name: str, media_type: str) -> bool:
    """A pickle runs arbitrary code when loaded: the pages say so. The server never loads one."""
    return media_type == PICKLE or name.lower().endswith(PICKLE_SUFFIXES)
