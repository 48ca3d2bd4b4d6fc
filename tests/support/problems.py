"""The RFC 9457 problem documents the API answers errors with."""

from __future__ import annotations

from typing import Any


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
