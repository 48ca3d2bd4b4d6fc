"""Turning request bodies and query strings into validated pydantic models, or 4xx errors."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from webapp.artifacts.errors import ArtifactValidationError
from webapp.artifacts.schemas import loads_strict

M = TypeVar("M", bound=BaseModel)


def _streamed_past_the_limit(read: int) -> bool:
    """True when a body without Content-Length (chunked) went on past MAX_CONTENT_LENGTH.

    Werkzeug stops reading such a body at the limit without saying so, which would hand
    the parser a truncated document (a misleading 400, or a silently shortened value).
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None or read < limit:
        return False
    return bool(request.environ["wsgi.input"].read(1))


def read_json() -> Any:
    """The request body parsed as strict JSON (no NaN/Infinity). 415 or 400 when it is not."""
    if not request.is_json:
        raise UnsupportedMediaType(
            f"Send the body as JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})."
        )
    raw = request.get_data(cache=True)
    if _streamed_past_the_limit(len(raw)):
        raise RequestEntityTooLarge()
    try:
        return loads_strict(raw)
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None


def validation_errors(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """pydantic errors as JSON-safe dicts naming each field (no echo of the input)."""
    return [
        {"loc": [*prefix, *error_item["loc"]], "msg": error_item["msg"], "type": error_item["type"]}
        for error_item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def validate(model: type[M], payload: Any, prefix: tuple[str, ...] = ("body",), *, strict: bool = False) -> M:
    """`payload` validated as `model`; raises ArtifactValidationError (422) naming the fields.

    `strict` refuses conversions (false → 0, "5" → 5): JSON bodies carry real types and the
    OpenAPI document promises exactly those; query strings are text, so they convert.
    """
    if prefix == ("body",) and not isinstance(payload, dict):
        raise ArtifactValidationError(
            [{"loc": ["body"], "msg": "Input should be a JSON object", "type": "model_type"}],
            detail="The body must be a JSON object.",
        )
    try:
        return model.model_validate(payload, strict=strict)
    except ValidationError as error:
        raise ArtifactValidationError(validation_errors(error, prefix)) from None


def body(model: type[M]) -> M:
    return validate(model, read_json(), strict=True)


def query(model: type[M]) -> M:
    return validate(model, request.args.to_dict(), prefix=("query",))
