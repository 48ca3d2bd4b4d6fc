"""Assertions and helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def assert_problem(response: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status (and type, if given)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "instance"} <= body.keys()
    assert body["status"] == status
    assert body["instance"] == response.request.path
    if type_ is not None:
        assert body["type"] == f"urn:artifact-store:error:{type_}"
    return body


def doc_block(document: str, containing: str, language: str = "bash") -> str:
    """The one ```language block of `document` (a path from the repository root) that contains
    `containing`: tests run the docs' examples as written, so the docs stay true."""
    text = (ROOT / document).read_text()
    blocks = [block.split("```", 1)[0] for block in text.split(f"```{language}\n")[1:]]
    (block,) = [block for block in blocks if containing in block]
    return block
