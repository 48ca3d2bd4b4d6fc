"""DataFrame artifacts in the service layer: parsing CSVs, storing, paging, sorting, exports.

The sample data lives in tests/support/frames.py, shared with the API, page and browser tests.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from tests.support.frames import BAD_FILES, SAMPLE_DTYPES, SAMPLE_ROWS, expected_frame, frame_count, sample_csv, sample_frame
from webapp import create_app
from webapp.artifacts import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ArtifactUpdate,
    ArtifactValidationError,
    HierarchyDepthError,
    InvalidULIDError,
    PandasDataFrame,
)
from webapp.frames import (
    ArtifactFrame,
    CSVTooLargeError,
    FrameCache,
    FrameNotFoundError,
    FrameRepository,
    FrameService,
    InvalidCSVError,
    csv_chunks,
    json_chunks,
    parse_csv,
)
from webapp.frames import tables as frames
from webapp.artifacts.schemas import restore_dtypes
from webapp.database import upgrade_schema
from webapp.extensions import db

def frame_service(manager: ArtifactManager, cache: FrameCache | None = None) -> FrameService:
    """A table service over `manager` (and its policy), as the Store builds one."""
    return FrameService(FrameRepository(manager.session), manager, cache or FrameCache())


@pytest.fixture
def service(manager: ArtifactManager) -> FrameService:
    return frame_service(manager)


def upload(service: FrameService, content: bytes, name: str = "sample.csv", **kwargs: Any) -> Any:
    return service.create_from_csv(io.BytesIO(content), name, **kwargs)


# The spec's Python API ------------------------------------------------------------------


def test_spec_storing_dataframes_snippet_round_trips(manager):
    """The spec's "Storing DataFrames" snippet, as written (synchronously)."""
    df = pd.DataFrame({"feature1": [1.0, 2.0, 3.0], "feature2": [4.0, 5.0, 6.0]})

    pandas_df = PandasDataFrame.from_dataframe(df)

    artifact = manager.save(ArtifactIn(data={"dataframe": pandas_df.model_dump()}))

    artifact = manager.find_by_id(artifact.id)
    df_back = PandasDataFrame(**artifact.data["dataframe"]).to_dataframe()

    pd.testing.assert_frame_equal(df_back, df)


# Upload: what is recorded and stored ----------------------------------------------------


def test_upload_records_provenance_and_stores_the_rows(service, manager):
    content = sample_csv()
    artifact = upload(service, content, name="C:\\Users\\me\\sales.csv")

    source = artifact.data["source"]
    assert source == {
        "file_name": "sales.csv",
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "encoding": "utf-8",
        "delimiter": ",",
        "header": True,
    }
    frame = artifact.data["frame"]
    assert (frame["row_count"], frame["column_count"]) == (SAMPLE_ROWS, 6)
    assert frame["dtypes"] == SAMPLE_DTYPES
    assert frame["storage"] == "parquet"
    preview = PandasDataFrame(**frame["preview"])
    assert preview.columns == list(SAMPLE_DTYPES) and len(preview.data) == frames.PREVIEW_ROWS
    assert artifact.data["name"] == "sales.csv"

    stored = manager.session.get(ArtifactFrame, str(artifact.id))
    assert (stored.row_count, stored.column_count, stored.format) == (SAMPLE_ROWS, 6, "parquet")
    assert stored.source == source and stored.source_sha256 == source["sha256"]  # kept beside the rows
    assert stored.content.startswith(b"PAR1") and stored.size_bytes == len(stored.content)
    pd.testing.assert_frame_equal(service.load_dataframe(artifact.id), expected_frame(), check_exact=True)


def test_upload_keeps_the_artifact_json_small(service):
    artifact = upload(service, sample_csv(rows=5000))
    assert artifact.data["frame"]["row_count"] == 5000
    assert len(json.dumps(artifact.data)) < 5_000  # the rows live in artifact_frames


def test_upload_as_child_takes_its_level_from_the_parent(service, make_artifact):
    parent = make_artifact(name="experiment")
    child = upload(service, sample_csv(), parent_id=str(parent.id).lower())
    assert (child.parent_id, child.level) == (parent.id, 1)


def test_describe_summarises_the_numeric_columns(service):
    loaded = service.require_frame(upload(service, sample_csv()).id)
    summary = PandasDataFrame(**loaded.summary)
    assert summary.columns == ["statistic", "id", "score"]
    by_statistic = {row[0]: row[1:] for row in summary.data}
    expected = expected_frame()[["id", "score"]].describe()
    assert list(by_statistic) == list(expected.index)
    assert by_statistic["count"] == [SAMPLE_ROWS, expected.loc["count", "score"]]
    assert by_statistic["mean"] == pytest.approx(list(expected.loc["mean"]))


def test_a_table_without_numbers_has_no_summary(service):
    loaded = service.require_frame(upload(service, b"name,city\nAda,Paris\nAlan,Rome\n").id)
    assert loaded.summary is None


# Upload: dialects and encodings ------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_and_quoting_are_detected(delimiter):
    parsed = parse_csv(io.BytesIO(sample_csv(sep=delimiter)), "sample.csv")
    assert parsed.source.delimiter == delimiter
    assert parsed.dtypes == SAMPLE_DTYPES
    frame = frames.to_pandas(parsed.table)
    pd.testing.assert_frame_equal(frame, expected_frame(), check_exact=True)  # quoted commas, quotes, newlines


def test_single_quotes_are_detected():
    content = b"name;city;score\n'Ada';'Paris; France';1.5\n'Alan';'Rome';2\n"
    parsed = parse_csv(io.BytesIO(content), "people.csv")
    assert parsed.source.delimiter == ";"
    assert frames.rows_of(parsed.table) == [["Ada", "Paris; France", 1.5], ["Alan", "Rome", 2.0]]


def test_spaces_after_delimiters_are_skipped():
    parsed = parse_csv(io.BytesIO(b"name, city, score\nAda, Paris, 1.5\nAlan,  Rome, 2\n"), "people.csv")
    assert parsed.table.column_names == ["name", "city", "score"]
    assert frames.rows_of(parsed.table) == [["Ada", "Paris", 1.5], ["Alan", "Rome", 2.0]]


def test_a_first_row_of_numbers_is_data_not_a_header():
    parsed = parse_csv(io.BytesIO(b"1,2.5,3\n4,5.5,6\n"), "numbers.csv")
    assert parsed.source.header is False
    assert parsed.table.column_names == ["column_1", "column_2", "column_3"]
    assert parsed.table.num_rows == 2


def test_utf8_with_a_byte_order_mark():
    parsed = parse_csv(io.BytesIO(b"\xef\xbb\xbf" + "név,város\nÉva,Győr\n".encode()), "bom.csv")
    assert parsed.source.encoding == "utf-8-sig"
    assert parsed.table.column_names == ["név", "város"]  # no BOM in the first name
    assert frames.rows_of(parsed.table) == [["Éva", "Győr"]]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_text_is_read_as_windows_1252(encoding):
    text = "name;city;note\nJosé;Zürich;crème brûlée\n"
    if encoding == "cp1252":
        text += "Zoë;Kraków? no: Köln;“quoted” – 5 €\n"
    parsed = parse_csv(io.BytesIO(text.encode(encoding)), "latin.csv")
    assert parsed.source.encoding == "cp1252"
    assert frames.rows_of(parsed.table)[0] == ["José", "Zürich", "crème brûlée"]
    if encoding == "cp1252":
        assert frames.rows_of(parsed.table)[1][2] == "“quoted” – 5 €"


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_every_line_ending_is_read(newline):
    """CR alone is what Excel's "CSV (Macintosh)" writes."""
    content = newline.join(["name;score", '"two\rlines";1.5', "b;2", ""]).encode()
    parsed = parse_csv(io.BytesIO(content), "mac.csv")
    assert parsed.source.delimiter == ";" and parsed.table.column_names == ["name", "score"]
    assert frames.rows_of(parsed.table) == [["two\rlines", 1.5], ["b", 2.0]]


@pytest.mark.parametrize(
    "header, names",
    [
        ("a, a", ["a", "a_2"]),  # equal once the space after the comma is skipped
        ("a,a,a", ["a", "a_2", "a_3"]),
        ("a,a,a_2", ["a", "a_3", "a_2"]),  # a name the file has is never given to another column
        (",", ["column_1", "column_2"]),
        (" , ", ["column_1", "column_2"]),
        ("a,,b", ["a", "column_2", "b"]),
        ("x,a.1,a", ["x", "a.1", "a"]),  # pandas' own renaming ("a.1", "Unnamed: 1") is not ours
    ],
)
def test_blank_and_repeated_column_names_are_made_unique(service, header, names):
    content = f"{header}\n{','.join(str(n) for n in range(len(names)))}\n".encode()
    artifact = upload(service, content, "names.csv")
    loaded = service.require_frame(artifact.id)
    assert loaded.schema.names == names
    assert artifact.data["frame"]["preview"]["columns"] == names
    assert service.page(loaded, 1, 10, sort=names[-1]).data == [list(range(len(names)))]


def test_a_header_longer_than_the_sniffed_sample_keeps_its_names():
    names = [f"{'long_name_' * 10}{number}" for number in range(1000)]  # > 64 KiB of header
    names[-1] = names[0]
    content = (",".join(names) + "\n" + ",".join("x" * 1000) + "\n").encode()
    parsed = parse_csv(io.BytesIO(content), "wide.csv")
    assert parsed.table.column_names == [*names[:-1], f"{names[0]}_2"]


def test_empty_cells_and_empty_columns():
    parsed = parse_csv(io.BytesIO(b"a,b,c\n1,,x\n,,\n3,,z\n"), "gaps.csv")
    assert parsed.dtypes == {"a": "float64", "b": "float64", "c": "str"}
    assert frames.rows_of(parsed.table) == [[1, None, "x"], [None, None, None], [3, None, "z"]]


# Upload: refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("content, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_are_refused_and_nothing_is_stored(service, manager, content, message):
    with pytest.raises(InvalidCSVError) as refused:
        upload(service, content)
    assert message in refused.value.detail
    assert refused.value.status == 422
    assert manager.count() == 0
    assert frame_count(manager.session) == 0


def test_a_file_above_the_limit_is_refused(manager):
    limited = ArtifactManager(manager.repo, policy=replace(manager.policy, max_upload_bytes=100))
    service = frame_service(limited)
    with pytest.raises(CSVTooLargeError) as refused:
        upload(service, sample_csv())
    assert refused.value.status == 413 and "100 bytes" in refused.value.detail
    assert manager.count() == 0
    assert upload(service, b"a,b\n1,2\n").data["source"]["size_bytes"] == 8  # below it: fine


def test_too_many_columns_are_refused(service, manager):
    width = frames.MAX_COLUMNS + 1
    content = (",".join(f"c{i}" for i in range(width)) + "\n" + ",".join("1" * width) + "\n").encode()
    with pytest.raises(InvalidCSVError, match="columns"):
        upload(service, content)
    assert manager.count() == 0


def test_unknown_or_malformed_parent_stores_nothing(service, manager):
    with pytest.raises(ArtifactNotFoundError):
        upload(service, sample_csv(), parent_id="01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(InvalidULIDError):
        upload(service, sample_csv(), parent_id="not-a-ulid")
    assert manager.count() == 0 and frame_count(manager.session) == 0


def test_a_refused_hierarchy_level_stores_nothing(manager):
    flat = ArtifactManager(ArtifactRepository(manager.session), hierarchy=ArtifactHierarchy(name="flat", max_depth=1))
    root = flat.save(ArtifactIn(data={"name": "root"}))
    with pytest.raises(HierarchyDepthError):
        upload(frame_service(flat), sample_csv(), parent_id=root.id)
    assert flat.count() == 1 and frame_count(manager.session) == 0


def test_artifact_and_companion_rows_commit_together(manager):
    """If the frame row cannot be stored, the artifact is not stored either."""
    with pytest.raises(IntegrityError), manager.work.writing():
        artifact = manager.create(ArtifactIn(data={"name": "x"}))
        broken = ArtifactFrame(
            artifact_id=str(artifact.id), source_sha256="0" * 64,
            row_count=None, column_count=0, dtypes={}, size_bytes=0, content=b"",  # NOT NULL refuses it
        )  # fmt: skip
        FrameRepository(manager.session).add(broken)
    assert manager.count() == 0


# Deleting --------------------------------------------------------------------------------------


def test_a_deleted_table_keeps_its_rows_until_retention_removes_them(service, manager, make_artifact):
    root = make_artifact(name="experiment")
    leaf = upload(service, sample_csv(), parent_id=root.id)
    other = upload(service, sample_csv())
    rows = service.load_dataframe(other.id)
    assert frame_count(manager.session) == 2

    manager.delete(other.id)  # the history keeps it: a restore brings the table back
    assert frame_count(manager.session) == 2
    with pytest.raises(ArtifactNotFoundError):
        service.require_frame(other.id)
    manager.restore(other.id)
    pd.testing.assert_frame_equal(service.load_dataframe(other.id), rows)

    manager.delete_subtree(root.id, keep_history=False)  # retention: history and table go
    assert frame_count(manager.session) == 1
    with pytest.raises(ArtifactNotFoundError):
        service.require_frame(leaf.id)


def test_an_id_taken_anew_does_not_inherit_the_deleted_artifacts_table(service, manager):
    table = upload(service, sample_csv())
    manager.delete(table.id)
    again = manager.create(ArtifactIn(id=table.id, data={"name": "plain"}))
    assert again.revision == 3 and frame_count(manager.session) == 0
    with pytest.raises(FrameNotFoundError):
        service.require_frame(again.id)


def test_migrations_keep_the_frame_table_without_a_cascading_key(app_config):
    app = create_app({**app_config, "AUTO_MIGRATE": False})
    upgrade_schema(app)
    with app.app_context():
        assert inspect(db.engine).get_foreign_keys("artifact_frames") == []  # dropped by 0011
        manager = ArtifactManager(ArtifactRepository(db.session()))
        artifact = upload(frame_service(manager), sample_csv())
        manager.delete(artifact.id)
        assert frame_count(db.session) == 1
        db.session.remove()
        db.engine.dispose()


# Paging and sorting -------------------------------------------------------------------------


def test_pages_hold_at_most_size_rows_and_clamp_to_the_last(service):
    loaded = service.require_frame(upload(service, sample_csv()).id)
    first = service.page(loaded, 1, 50)
    assert (first.total, first.pages, len(first.data), first.first_row, first.last_row) == (120, 3, 50, 1, 50)
    assert [row[0] for row in first.data] == list(range(50))
    last = service.page(loaded, 99, 50)
    assert (last.page, len(last.data), last.first_row, last.last_row) == (3, 20, 101, 120)
    assert service.page(loaded, -5, 50).page == 1


@pytest.mark.parametrize("column", list(SAMPLE_DTYPES))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorted_pages_follow_pandas_stable_sort_with_missing_values_last(service, column, order):
    loaded = service.require_frame(upload(service, sample_csv()).id)
    pages = [service.page(loaded, number, 25, sort=column, order=order) for number in range(1, 6)]
    ids = [row[0] for page in pages for row in page.data]
    # Stable: rows that tie keep their stored order, which is the order of "id".
    keys = [column] if column == "id" else [column, "id"]
    expected = expected_frame().sort_values(keys, ascending=[order == "asc", True][: len(keys)], na_position="last")
    assert ids == expected["id"].tolist()
    assert {page.sort for page in pages} == {column} and {page.order for page in pages} == {order}


def test_pages_read_only_the_row_groups_they_show(service, monkeypatch):
    monkeypatch.setattr(frames, "PARQUET_ROW_GROUP", 16)  # 120 rows in 8 row groups
    artifact = upload(service, sample_csv())
    cold = frame_service(service.artifacts).require_frame(artifact.id)
    assert isinstance(cold.rows, bytes) and cold.row_count == SAMPLE_ROWS
    for offset, length in [(0, 16), (10, 20), (15, 50), (100, 50), (119, 5), (120, 5)]:
        rows = frames.rows_of(cold.slice(offset, length))
        assert [row[0] for row in rows] == list(range(offset, min(offset + length, SAMPLE_ROWS)))
    exported = b"".join(csv_chunks(cold))
    assert pd.read_csv(io.BytesIO(exported))["id"].tolist() == list(range(SAMPLE_ROWS))


def test_sorting_an_unknown_column_or_order_is_a_validation_error(service):
    loaded = service.require_frame(upload(service, sample_csv()).id)
    with pytest.raises(ArtifactValidationError) as refused:
        service.page(loaded, 1, 10, sort="nope")
    assert refused.value.errors[0]["loc"] == ["query", "sort"]
    with pytest.raises(ArtifactValidationError):
        service.page(loaded, 1, 10, sort="id", order="sideways")


def test_rows_are_json_values(service):
    loaded = service.require_frame(upload(service, sample_csv(rows=10)).id)
    row = service.page(loaded, 1, 10).data[0]
    original = sample_frame(10).iloc[0]
    assert row == [
        0,
        None,  # every 9th score is missing, starting with the first
        original["city"],
        original["day"].strftime("%Y-%m-%d"),
        original["seen_at"].isoformat(),
        bool(original["flag"]),
    ]
    json.dumps(service.page(loaded, 1, 10).data, allow_nan=False)


def test_a_fresh_process_reads_the_stored_rows(service, manager):
    artifact = upload(service, sample_csv())
    cold = frame_service(manager)  # another worker: nothing cached
    loaded = cold.require_frame(artifact.id)
    assert len(cold.cache) == 1
    assert cold.page(loaded, 2, 50, "score", "desc") == service.page(service.require_frame(artifact.id), 2, 50, "score", "desc")


# Exports --------------------------------------------------------------------------------------


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(frames, "EXPORT_BATCH_ROWS", 7)  # many batches, to test how they join


def test_csv_export_reads_back_into_an_equal_frame(service, small_batches):
    artifact = upload(service, sample_csv())
    loaded = service.require_frame(artifact.id)
    content = b"".join(csv_chunks(loaded))
    assert content.count(b'"id"') == 1  # one header row
    reread = restore_dtypes(pd.read_csv(io.BytesIO(content)), artifact.data["frame"]["dtypes"])
    pd.testing.assert_frame_equal(reread, service.load_dataframe(artifact.id), check_exact=True)
    pd.testing.assert_frame_equal(reread, expected_frame(), check_exact=True)


def test_json_export_is_the_spec_shape_and_reads_back_into_an_equal_frame(service, small_batches):
    artifact = upload(service, sample_csv())
    document = json.loads(b"".join(json_chunks(service.require_frame(artifact.id))))
    assert list(document) == ["columns", "data"] and len(document["data"]) == SAMPLE_ROWS
    frame = PandasDataFrame(**document).to_dataframe(artifact.data["frame"]["dtypes"])
    pd.testing.assert_frame_equal(frame, expected_frame(), check_exact=True)


# Tables stored inline the spec's way --------------------------------------------------------


def test_inline_dataframes_page_sort_and_export_like_uploads(service, manager):
    frame = pd.DataFrame({"feature": [3.0, 1.0, None, 2.0], "label": ["c", "a", "d", "b"]})
    artifact = manager.save(ArtifactIn(data={"dataframe": PandasDataFrame.from_dataframe(frame).model_dump()}))
    loaded = service.frame_of(artifact)
    page = service.page(loaded, 1, 3, sort="feature")
    assert page.data == [[1.0, "a"], [2.0, "b"], [3.0, "c"]] and page.pages == 2
    assert loaded.dtypes == {"feature": "float64", "label": "str"}
    assert PandasDataFrame(**loaded.summary).columns == ["statistic", "feature"]
    exported = PandasDataFrame(**json.loads(b"".join(json_chunks(loaded)))).to_dataframe()
    pd.testing.assert_frame_equal(exported, frame)
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(b"".join(csv_chunks(loaded)))), frame)


def test_inline_columns_of_mixed_values_become_sortable_text(service, manager):
    data = {"dataframe": {"columns": ["x", "y"], "data": [[1, {"k": 1}], ["b", [1, 2]], [None, None], [2.5, "a"]]}}
    loaded = service.frame_of(manager.save(ArtifactIn(data=data)))
    assert service.page(loaded, 1, 10, sort="x").data == [["1", '{"k": 1}'], ["2.5", "a"], ["b", "[1, 2]"], [None, None]]
    by_y = service.page(loaded, 1, 10, sort="y", order="desc").data
    assert [row[1] for row in by_y] == ['{"k": 1}', "a", "[1, 2]", None]  # text order, missing last


@pytest.mark.parametrize(
    "data",
    [
        {"name": "no table"},
        {"dataframe": "not a table"},
        {"dataframe": {"columns": ["a", "b"], "data": [[1]]}},  # ragged: not a PandasDataFrame
        {"dataframe": {"rows": []}},
        {"dataframe": {"columns": ["a", "a"], "data": [[1, 2]]}},  # which "a" would a sort mean?
    ],
)
def test_artifacts_without_a_table_have_no_frame(service, manager, data):
    artifact = manager.save(ArtifactIn(data=data))
    assert service.frame_of(artifact) is None
    with pytest.raises(FrameNotFoundError) as missing:
        service.require_frame(artifact.id)
    assert missing.value.status == 404


def test_an_uploaded_table_outlives_edits_to_the_artifact_data(service, manager):
    artifact = upload(service, sample_csv())
    manager.update(artifact.id, ArtifactUpdate(data={"note": "renamed"}))
    assert service.require_frame(artifact.id).row_count == SAMPLE_ROWS


# The cache --------------------------------------------------------------------------------------


def test_cache_keeps_the_most_recently_used_within_its_byte_budget():
    cache = FrameCache(max_bytes=100)
    loads: list[str] = []

    def load(name: str) -> Any:
        return lambda: loads.append(name) or name

    assert cache.get("a", load("a"), lambda _: 40) == "a"
    assert cache.get("b", load("b"), lambda _: 40) == "b"
    assert cache.get("a", load("a"), lambda _: 40) == "a"  # a hit: no load, and "a" is now newest
    cache.get("c", load("c"), lambda _: 40)  # over budget: "b", the least recently used, goes
    assert loads == ["a", "b", "c"] and cache.size == 80
    cache.get("b", load("b"), lambda _: 40)
    assert loads == ["a", "b", "c", "b"]
    cache.get("huge", load("huge"), lambda _: 101)  # bigger than the budget: returned, never kept
    assert "huge" not in cache._items and cache.size <= 100
    cache.make_room(70)  # room for a 70-byte upload: 30 bytes may stay, so both 40-byte entries go
    assert len(cache) == 0 and cache.size == 0
    cache.get("a", load("a"), lambda _: 40)
    cache.get("b", load("b"), lambda _: 40)
    cache.make_room(60)
    assert list(cache._items) == ["b"] and cache.size == 40


def test_csv_export_writes_each_value_as_it_was_read(service, small_batches):
    """Timestamps at their own precision: whole seconds stay seconds, fractions keep their
    digits (milliseconds, microseconds), dates stay dates; missing values stay empty."""
    content = (
        "id,day,whole,milli,micro\n"
        + "".join(
            f"{i},2020-01-{i + 1:02d},2020-01-01 00:00:{i:02d},2020-01-01 00:00:00.{i * 10:03d},"
            f"2020-01-01 00:00:00.{i:06d}\n"
            for i in range(1, 20)
        )
        + "20,,,,\n"
    ).encode()
    artifact = upload(service, content, "times.csv")

    exported = b"".join(csv_chunks(service.require_frame(artifact.id))).decode()

    lines = exported.splitlines()
    assert lines[0] == '"id","day","whole","milli","micro"'
    assert lines[1:] == content.decode().splitlines()[1:]
