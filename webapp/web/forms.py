"""Forms of the HTML pages (Flask-WTF: every POST carries a CSRF token).

The artifact form accepts the data two ways: a JSON object, or key/value rows for people
who do not write JSON. Either way it ends as one dict that the view hands to the manager
inside an ArtifactIn/ArtifactUpdate, exactly like the JSON API does.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import Form, FieldList, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, Optional, ValidationError

from webapp.artifacts.schemas import check_json_value, loads_strict, parse_ulid
from webapp.store import get_store

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - older WTForms
    def _Choice(value: str, label: str) -> tuple[str, str]:  # type: ignore[misc]  # noqa: N802
        return (value, label)

JSON_MODE, FIELDS_MODE = "json", "fields"
KINDS = [
    _Choice("auto", "Auto"),
    _Choice("text", "Text"),
    _Choice("number", "Number"),
    _Choice("boolean", "true / false"),
    _Choice("null", "Empty (null)"),
    _Choice("json", "JSON"),
]
BLANK_ROWS = 2  # empty rows offered below the filled ones in key/value mode
INTEGER = re.compile(r"[+-]?\d+")
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
JSON_WORDS = {"true": True, "false": False, "null": None}


class DataError(ValueError):
    """Input that is not acceptable artifact data; the message is shown to the user."""


def parse_json(text: str) -> Any:
    """Strict JSON (no NaN/Infinity). Raises DataError with line and column."""
    try:
        return loads_strict(text)
    except ValueError as error:
        raise DataError(f"{str(error)[0].upper()}{str(error)[1:]}.") from None


def check_data(value: Any) -> dict[str, Any]:
    """`value` if it can be stored as artifact data. Raises DataError explaining why not."""
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")
        raise DataError(f'The data must be a JSON object such as {{"name": "my experiment"}}, not {kind}.')
    try:
        check_json_value(value)
    except ValueError as error:
        raise DataError(f"The data cannot be stored: {error}.") from None
    return value


def data_to_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    """Key/value rows that rows_to_data turns back into exactly `data`."""
    rows = []
    for key, value in data.items():
        if isinstance(value, str):
            rows.append({"key": key, "value": value, "kind": "text"})
        elif isinstance(value, bool):
            rows.append({"key": key, "value": "true" if value else "false", "kind": "boolean"})
        elif isinstance(value, (int, float)):
            rows.append({"key": key, "value": json.dumps(value), "kind": "number"})
        elif value is None:
            rows.append({"key": key, "value": "", "kind": "null"})
        else:
            rows.append({"key": key, "value": json.dumps(value, ensure_ascii=False), "kind": "json"})
    return rows


def _row_value(kind: str, raw: str) -> Any:
    if kind == "auto":
        return _inferred(raw)
    if kind == "text":
        return raw
    if kind == "number":
        text = raw.strip()
        try:
            number = int(text) if INTEGER.fullmatch(text) else float(text)
        except ValueError:
            raise DataError(f"{_quote(text)} is not a number.") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise DataError("Use a finite number.")
        return number
    if kind == "boolean":
        word = raw.strip()
        if word in ("true", "false"):
            return word == "true"
        raise DataError(f"write true or false, not {_quote(word)}.")
    if kind == "null":
        return None
    return parse_json(raw)


def _inferred(raw: str) -> Any:
    """The "Auto" type: what the text means in JSON when it is a number, true, false or
    null (as typed: "007", "+5" or "True" are not JSON, so they stay text); else the text."""
    text = raw.strip()
    if text in JSON_WORDS:
        return JSON_WORDS[text]
    if not JSON_NUMBER.fullmatch(text):
        return raw
    number = json.loads(text)
    if isinstance(number, float) and not math.isfinite(number):
        raise DataError(f"{_quote(text)} is too large for a number; choose the Text type to keep it as text.")
    return number


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:39] + "…")


def _add_error(field: Any, message: str) -> None:
    field.errors = [*field.errors, message]


class RowForm(Form):
    """One key/value row (a nested form: the outer form carries the CSRF token)."""

    key = StringField("Key")
    value = TextAreaField("Value")
    kind = SelectField("Type", choices=KINDS, default="auto")


class ArtifactForm(FlaskForm):
    """Create or edit an artifact's data, as JSON or as key/value rows."""

    mode = HiddenField(default=JSON_MODE, validators=[AnyOf([JSON_MODE, FIELDS_MODE])])
    data_json = TextAreaField("Data (a JSON object)")
    rows = FieldList(FormField(RowForm), label="Fields")
    parent_id = HiddenField()
    # A new root's hierarchy; choices are the store's (ArtifactManager checks the name).
    hierarchy = SelectField("Hierarchy", choices=[], validate_choice=False)
    version = HiddenField()  # of the artifact being edited, as it was when the form opened

    data_value: dict[str, Any] | None = None
    focus_row: int | None = None  # the row "Add a row" added: its key field takes the focus

    def start(self, data: dict[str, Any] | None, mode: str = JSON_MODE) -> None:
        """Fill a fresh (GET) form with existing data, in the requested mode."""
        self.mode.data = FIELDS_MODE if mode == FIELDS_MODE else JSON_MODE
        self.data_json.data = json.dumps(data, indent=2, ensure_ascii=False) if data else ""
        self._set_rows(data_to_rows(data or {}))

    @property
    def rebuilding(self) -> bool:
        """True when the POST only asked to switch mode or add a row (nothing is saved)."""
        return bool(request.form.get("switch_to") or request.form.get("add_row"))

    def rebuild(self) -> bool:
        """Switch mode or add a row, keeping everything typed. False (with errors) when refused."""
        target = request.form.get("switch_to")
        if request.form.get("add_row"):
            self.rows.append_entry()
            self.focus_row = len(self.rows) - 1
        elif target == FIELDS_MODE and self.mode.data != FIELDS_MODE:
            try:
                data = check_data(parse_json(self.data_json.data or "{}"))
            except DataError as error:
                _add_error(self.data_json, f"{error} Fix it before switching to fields.")
                return False
            self._set_rows(data_to_rows(data))
            self.mode.data = FIELDS_MODE
        elif target == JSON_MODE and self.mode.data != JSON_MODE:
            data = self._data_from_rows()
            if data is None:
                return False
            self.data_json.data = json.dumps(data, indent=2, ensure_ascii=False)
            self.mode.data = JSON_MODE
        return True

    def validate(self, extra_validators: Any = None) -> bool:
        """Field checks and CSRF, then the data itself; sets `data_value` when all is well."""
        if not super().validate(extra_validators):
            return False
        if self.mode.data == FIELDS_MODE:
            self.data_value = self._data_from_rows(require=True)
        else:
            try:
                self.data_value = check_data(parse_json(self.data_json.data or "{}"))
            except DataError as error:
                _add_error(self.data_json, str(error))
            if self.data_value == {}:
                _add_error(self.data_json, 'Nothing to save: the object is empty. Add at least one key, '
                                           'such as {"name": "my experiment"}.')
                self.data_value = None
        return self.data_value is not None

    def refuse_data(self, message: str) -> None:
        """Show the store's refusal of the data itself where the data was typed."""
        if self.mode.data == FIELDS_MODE:
            self.form_errors.append(message)
        else:
            _add_error(self.data_json, message)

    def _set_rows(self, rows: list[dict[str, str]]) -> None:
        while len(self.rows):
            self.rows.pop_entry()
        for row in [*rows, *([{}] * BLANK_ROWS)]:
            self.rows.append_entry(row)

    def _data_from_rows(self, *, require: bool = False) -> dict[str, Any] | None:
        """The dict the rows describe, or None after attaching an error to each bad row
        (and, when `require`, to the form if no row is filled in)."""
        data: dict[str, Any] = {}
        seen: set[str] = set()
        ok = True
        for number, entry in enumerate(self.rows, start=1):
            row = entry.form
            key = (row.key.data or "").strip()
            raw = (row.value.data or "").replace("\r\n", "\n")
            if not key and not raw.strip():
                continue  # an unused row
            if not key:
                _add_error(row.key, "Give this value a key.")
                ok = False
                continue
            if key in seen:
                _add_error(row.key, f"The key {_quote(key)} is used twice.")
                ok = False
                continue
            seen.add(key)
            try:
                data[key] = _row_value(row.kind.data, raw)
            except DataError as error:
                _add_error(row.value, f"Row {number} “{key}”: {error}")
                ok = False
        if not ok:
            return None
        if not data and require:
            self.form_errors.append("Nothing to save: every row is empty. Give at least one row a key and a value.")
            return None
        try:
            return check_data(data)
        except DataError as error:
            self.form_errors.append(str(error))
            return None


class MoveForm(FlaskForm):
    """Choose a new parent by id; empty makes the artifact a root.

    A move that changes levels is shown first and done on a second POST, which carries
    `confirm` and the version of the artifact the preview described.
    """

    parent_id = StringField("New parent id", filters=[lambda v: v.strip() if isinstance(v, str) else v],
                            validators=[Optional()])
    version = HiddenField()
    confirm = HiddenField()

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "1" and bool(self.version.data)

    def validate_parent_id(self, field: Any) -> None:
        try:
            parse_ulid(field.data)
        except ValueError:
            raise ValidationError(
                "That is not an artifact id: ids are 26 letters and digits, like 01K9ZQ4M7E2V6S3T8W5X0Y1Z2A."
            ) from None


class ConfirmForm(FlaskForm):
    """A POST button (delete): its CSRF token, and the version of the artifact it confirms."""

    version = HiddenField()


def hierarchy_choices() -> list[tuple[str, str]]:
    """The hierarchies a new root may start, default first, each shown with its level labels."""
    hierarchies = get_store().policy.hierarchies
    names = [hierarchies.default_name, *(name for name in hierarchies if name != hierarchies.default_name)]
    return [(name, f"{name} ({' › '.join(hierarchies[name].level_labels.values()) or 'levels unlabelled'})") for name in names]


def offer_hierarchies(field: Any, chosen: str | None = None) -> None:
    """Fill a hierarchy select: the store's hierarchies, `chosen` (or the default) preselected."""
    field.choices = hierarchy_choices()
    if request.method == "GET" or not field.data:
        names = [name for name, _ in field.choices]
        field.data = chosen if chosen in names else names[0]
