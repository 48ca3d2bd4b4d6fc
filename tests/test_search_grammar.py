"""The filter language's grammar: every operator, precedence, quoting, escapes, errors with positions."""

from __future__ import annotations

import pytest

from webapp.search.grammar import (
    And,
    Compare,
    Contains,
    Exists,
    Field,
    FilterError,
    In,
    IsNull,
    Not,
    Or,
    parse,
    parse_field,
    parse_timestamp,
    tokenize,
)


def data(*path: str, position: int = 0) -> Field:
    return Field("data", tuple(path), position=position)


def col(name: str, position: int = 0) -> Field:
    return Field("column", name=name, position=position)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison(op: str) -> None:
    assert parse(f"data.a {op} 1") == Compare(data("a"), op, 1)


def test_in_not_in_contains_exists_is_null() -> None:
    assert parse("data.a in (1, 'x', true, null)") == In(data("a"), (1, "x", True, None))
    assert parse("data.a NOT IN (2)") == In(data("a"), (2,), negated=True)
    assert parse("data.name contains 'xgb'") == Contains(data("name"), "xgb")
    assert parse("exists(data.a.b)") == Exists(data("a", "b", position=7))
    assert parse("data.a is null") == IsNull(data("a"))
    assert parse("data.a Is Not Null") == IsNull(data("a"), negated=True)


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    a, b, c = (Compare(data(k, position=p), "=", 1) for k, p in (("a", 0), ("b", 15), ("c", 29)))
    assert parse("data.a = 1 or data.b = 1 and data.c = 1") == Or((a, And((b, c))))
    tree = parse("not data.a = 1 and data.b = 1")
    assert tree == And((Not(Compare(data("a", position=4), "=", 1)), Compare(data("b", position=19), "=", 1)))
    tree = parse("(data.a = 1 or data.b = 1) and data.c = 1")
    assert isinstance(tree, And) and isinstance(tree.items[0], Or)


def test_keywords_and_field_names_are_case_insensitive_keys_are_not() -> None:
    assert parse("DATA.Rmse < 1 AnD Level = 2 oR NOT Data.x IS NULL") == parse(
        "data.Rmse < 1 and level = 2 or not data.x is null"
    )
    assert parse("data.Rmse < 1") != parse("data.rmse < 1")


def test_fields() -> None:
    assert parse("parent.data.m.rmse < 0.3") == Compare(Field("parent", ("m", "rmse")), "<", 0.3)
    assert parse("ancestor.data.m = 1") == Compare(Field("ancestor", ("m",)), "=", 1)
    for name in ("id", "level", "level_label", "hierarchy", "parent_id", "created_at", "updated_at"):
        assert parse(f"{name} = 'x'") == Compare(col(name), "=", "x")
    assert parse("data.layers.0 = 1") == Compare(data("layers", "0"), "=", 1)


def test_quoted_keys_and_string_escapes() -> None:
    assert parse('data."odd key".x = 1') == Compare(data("odd key", "x"), "=", 1)
    assert parse("data.'a.b' = 1") == Compare(data("a.b"), "=", 1)
    assert parse(r"data.a = 'it\'s \"q\" \\ done'") == Compare(data("a"), "=", "it's \"q\" \\ done")
    assert parse(r'data.a = "say \"hi\""') == Compare(data("a"), "=", 'say "hi"')
    assert parse("data.a = 'ünï 日本 😀'") == Compare(data("a"), "=", "ünï 日本 😀")


def test_numbers_use_json_syntax() -> None:
    assert [t.value for t in tokenize("0 -1 2.5 1e3 -2.5E-2 12345678901234567890")][:-1] == [
        0, -1, 2.5, 1000.0, -0.025, 1.2345678901234567e19,
    ]
    assert isinstance(tokenize("1e3")[0].value, float) and isinstance(tokenize("7")[0].value, int)
    for bad in ("01", "1.", ".5", "1e", "1x"):
        with pytest.raises(FilterError):
            parse(f"data.a = {bad}")
    with pytest.raises(FilterError, match="out of range"):
        parse("data.a = 1e999")


def test_literals() -> None:
    assert parse("data.a = true") == Compare(data("a"), "=", True)
    assert parse("data.a = FALSE") == Compare(data("a"), "=", False)
    assert parse("data.a = null") == Compare(data("a"), "=", None)


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [
        ("", 0, "a condition"),
        ("data.a =", 8, "a literal"),
        ("data.a = 1 and", 14, "a field"),
        ("data.a = 1 data.b = 2", 11, "'and', 'or' or the end"),
        ("foo.bar = 1", 0, "a field"),
        ("data = 1", 5, "'.' and a key"),
        ("(data.a = 1", 11, "')'"),
        ("data.a in 1", 10, "'('"),
        ("data.a in (1 2)", 13, "',' or ')'"),
        ("data.a contains 3", 16, "a quoted string"),
        ("data.a is 3", 10, "'null' or 'not null'"),
        ("data.a 'x'", 7, "an operator"),
        ("data.a = 'abc", 9, "a closing '"),
        (r"data.a = 'a\n'", 11, "one of"),
        ("data.a = 1 ; drop", 11, "a field, a literal"),
        ("exists(level)", 7, "data.<path>"),
        ("ancestor.x = 1", 9, "'data'"),
        ("parent x = 1", 7, "'.data'"),
        ('data."a\\"b" = 1', 5, "a key without"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(source: str, position: int, expected: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse(source)
    assert raised.value.position == position
    assert raised.value.expected.startswith(expected), raised.value.expected
    assert raised.value.status == 400


def test_injection_attempts_are_syntax_errors_or_plain_strings() -> None:
    with pytest.raises(FilterError) as raised:
        parse("data.x = '1'; DROP TABLE artifacts; --'")
    assert raised.value.position == 12
    # Inside a string it is only a string, later bound as a parameter.
    with pytest.raises(FilterError) as raised:  # SQL's doubled quote is no escape here
        parse("data.x = '1''; DROP TABLE artifacts; --'")
    assert raised.value.position == 12
    assert parse("data.x = \"'; DROP TABLE artifacts; --\"") == Compare(data("x"), "=", "'; DROP TABLE artifacts; --")
    assert parse("data.\"x'); DROP TABLE artifacts; --\" = 1").field.path == ("x'); DROP TABLE artifacts; --",)
    with pytest.raises(FilterError):
        parse("data.x = 1 union select * from artifacts")


def test_nesting_and_length_are_bounded() -> None:
    assert parse("(" * 60 + "data.a = 1" + ")" * 60) == Compare(data("a", position=60), "=", 1)
    with pytest.raises(FilterError, match="nested deeper"):
        parse("(" * 100 + "data.a = 1" + ")" * 100)
    with pytest.raises(FilterError, match="nested deeper"):
        parse("not " * 100 + "data.a = 1")
    with pytest.raises(FilterError, match="longer than"):
        parse("data.a = 1 or " * 400 + "data.a = 1")


def test_parse_field_and_timestamps() -> None:
    assert parse_field("data.metrics.rmse") == data("metrics", "rmse")
    assert parse_field("created_at") == col("created_at")
    with pytest.raises(FilterError) as raised:
        parse_field("data.a desc")
    assert raised.value.position == 7
    assert parse_timestamp("2026-01-02T03:04:05Z", 0).isoformat() == "2026-01-02T03:04:05+00:00"
    assert parse_timestamp("2026-01-02", 0).isoformat() == "2026-01-02T00:00:00+00:00"
    assert parse_timestamp("2026-01-02T03:04:05+02:00", 0).utcoffset().total_seconds() == 7200
    with pytest.raises(FilterError, match="not a timestamp"):
        parse_timestamp("yesterday", 3)
