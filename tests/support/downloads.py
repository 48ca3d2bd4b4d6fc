"""What a download's Content-Disposition says, read the way a strict client reads it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote


def download_names(response: Any) -> tuple[str, str | None]:
    """(the plain `filename=`, the RFC 6266 `filename*=` decoded or None) of an attachment.

    Fails unless the header is valid on the wire: ASCII (a header is Latin-1 there, and
    gunicorn answers 500 for anything beyond), with no CR or LF.
    """
    header = response.headers["Content-Disposition"]
    assert header.isascii() and "\r" not in header and "\n" not in header, header
    assert header.split(";")[0] == "attachment", header
    plain = re.search(r'(?:^|;)\s*filename=("(?:[^"\\]|\\.)*"|[^;]*)', header)
    extended = re.search(r"(?:^|;)\s*filename\*=UTF-8''([^;]*)", header)
    assert plain is not None, header
    return plain.group(1).strip('"'), unquote(extended.group(1)) if extended else None
