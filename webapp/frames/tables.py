"""Tables in memory: parsing CSV files, Arrow tables and their pages, summaries, exports.

An uploaded CSV is parsed by pandas (its pyarrow engine) into an Arrow table; FrameService
stores it as one Parquet file beside the artifact. A table stored inline the spec's way,
`data={"dataframe": PandasDataFrame(...).model_dump()}`, pages and exports through the
same code. No database and no Flask here.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Literal, TypeVar

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from webapp.artifacts.errors import ArtifactError
from webapp.artifacts.schemas import PandasDataFrame

from .models import PARQUET

PREVIEW_ROWS = 10  # rows copied into the artifact's JSON data
MAX_COLUMNS = 2_000
SNIFF_BYTES = 64 * 1024
READ_CHUNK = 1024 * 1024
EXPORT_BATCH_ROWS = 10_000
PARQUET_ROW_GROUP = 64 * 1024
DELIMITERS = ",;\t|"

# Control bytes never found in CSV text (tab, line feed and carriage return are fine):
# their presence means a binary file, or text in an encoding such as UTF-16.
CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

Order = Literal["asc", "desc"]
T = TypeVar("T")


# Errors ------------------------------------------------------------------------------


class InvalidCSVError(ArtifactError):
    """The upload is not a CSV file we can read; `detail` says why and what to do."""

    status = 422
    title = "Invalid CSV file"
    slug = "invalid-csv"


class CSVTooLargeError(ArtifactError):
    status = 413
    title = "File too large"
    slug = "too-large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file is larger than the upload limit of {limit:,} bytes (MAX_UPLOAD_BYTES).", limit=limit
        )


class FrameNotFoundError(ArtifactError):
    status = 404
    title = "No table"
    slug = "no-table"

    def __init__(self, artifact_id: object) -> None:
        super().__init__(f"Artifact {artifact_id} holds no table.")


# Shapes -------------------------------------------------------------------------------


class CSVSource(BaseModel):
    """Where an uploaded frame came from, and how its text was read."""

    file_name: str
    size_bytes: int
    sha256: str
    encoding: str = Field(description="utf-8, utf-8-sig (with a byte order mark) or cp1252 (Latin-1)")
    delimiter: str
    header: bool = Field(description="False when the first row held data (all numbers), not names")


class FramePage(BaseModel):
    """One page of a table's rows, in the requested order."""

    columns: list[str]
    dtypes: dict[str, str]
    data: list[list[Any]] = Field(description="The rows of this page only (PandasDataFrame rows)")
    total: int = Field(description="Rows in the whole table")
    page: int
    size: int
    pages: int
    sort: str | None = None
    order: Order = "asc"

    @property
    def first_row(self) -> int:
        """1-based number of the first row shown (0 when there is none)."""
        return (self.page - 1) * self.size + 1 if self.data else 0

    @property
    def last_row(self) -> int:
        return (self.page - 1) * self.size + len(self.data)


@dataclass(frozen=True)
class LoadedFrame:
    """A table ready to page, and what was recorded about it.

    `rows` is an Arrow table (tables stored inline), or the stored Parquet file, whose
    row groups are decoded only when a page or an export reaches them: a worker can show
    the first page of a million rows without decoding the other 900,000 first.
    """

    key: tuple[str, ...]  # (kind, artifact id, version): names the content in caches
    rows: pa.Table | bytes
    dtypes: dict[str, str]
    summary: dict[str, Any] | None
    source: dict[str, Any] | None = None  # the stored CSVSource of an uploaded file

    @property
    def file_name(self) -> str | None:
        """The uploaded file's name as recorded when it was stored."""
        name = (self.source or {}).get("file_name")
        return name if isinstance(name, str) else None

    @property
    def artifact_id(self) -> str:
        return self.key[1]

    @cached_property
    def schema(self) -> pa.Schema:
        return self.rows.schema if isinstance(self.rows, pa.Table) else self._parquet().schema_arrow

    @cached_property
    def row_count(self) -> int:
        return self.rows.num_rows if isinstance(self.rows, pa.Table) else self._parquet().metadata.num_rows

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes if isinstance(self.rows, pa.Table) else len(self.rows)

    def slice(self, offset: int, length: int) -> pa.Table:
        """Rows offset … offset+length-1, decoding only the row groups that hold them."""
        if isinstance(self.rows, pa.Table):
            return self.rows.slice(offset, length)
        parquet = self._parquet()
        groups, first_row, start = [], 0, 0
        for index in range(parquet.num_row_groups):
            count = parquet.metadata.row_group(index).num_rows
            if start + count > offset and start < offset + length:
                first_row = first_row if groups else start
                groups.append(index)
            start += count
        if not groups:
            return self.schema.empty_table()
        return parquet.read_row_groups(groups, use_threads=False).slice(offset - first_row, length)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """All rows in stored order, EXPORT_BATCH_ROWS at a time."""
        if isinstance(self.rows, pa.Table):
            return iter(self.rows.to_batches(max_chunksize=EXPORT_BATCH_ROWS))
        return self._parquet().iter_batches(batch_size=EXPORT_BATCH_ROWS, use_threads=False)

    def table(self) -> pa.Table:
        """All rows, decoded."""
        if isinstance(self.rows, pa.Table):
            return self.rows
        table = self._parquet().read()
        return_freed_memory()
        return table

    def _parquet(self) -> pq.ParquetFile:
        # A reader per use: they are cheap (the footer is small) and need no locking.
        return pq.ParquetFile(pa.BufferReader(self.rows))

    def download_name(self, extension: str) -> str:
        """"sales.csv" → "sales.<extension>"; the artifact id when no file name is known."""
        stem = PurePosixPath(self.file_name).stem if self.file_name else ""
        return f"{stem or self.artifact_id}.{extension}"


@dataclass(frozen=True)
class ParsedCSV:
    source: CSVSource
    table: pa.Table
    dtypes: dict[str, str]
    summary: dict[str, Any] | None
    preview: PandasDataFrame

    def artifact_data(self) -> dict[str, Any]:
        """The artifact's JSON: provenance, shape and a preview; the rows live in artifact_frames."""
        return {
            "name": self.source.file_name,
            "source": self.source.model_dump(),
            "frame": {
                "storage": PARQUET,
                "row_count": self.table.num_rows,
                "column_count": self.table.num_columns,
                "dtypes": self.dtypes,
                "preview": self.preview.model_dump(),
            },
        }


# Parsing ------------------------------------------------------------------------------


def parse_csv(stream: BinaryIO, file_name: str, *, max_bytes: int | None = None) -> ParsedCSV:
    """Read an uploaded CSV with pandas. Raises InvalidCSVError, CSVTooLargeError.

    `stream` must be seekable (Werkzeug's uploads and open files are). Delimiter and
    quote character are sniffed from the first 64 KiB (as pandas' own sep=None does);
    the first row is a header unless every field in it is a number.
    """
    size, sha256, encoding = _check_bytes(stream, max_bytes)
    stream.seek(0)
    # Universal newlines for the sniffing: Excel's "CSV (Macintosh)" ends lines with CR alone.
    sample = stream.read(SNIFF_BYTES).decode(encoding, errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    dialect = _sniff(sample, complete=size <= SNIFF_BYTES)
    first_row = next(csv.reader(io.StringIO(sample), dialect), [])
    header = not all(_is_number(field) for field in first_row)
    names = _header_names(stream, encoding, dialect) if header else []
    stream.seek(0)
    try:
        frame = pd.read_csv(
            stream,
            engine="pyarrow",  # strict about ragged rows, types a column from all its values
            dtype_backend="pyarrow",  # keep Arrow arrays: no copy on the way to Parquet
            sep=dialect.delimiter,
            quotechar=dialect.quotechar,
            header=0 if header else None,
            encoding=encoding,
        )
    except pd.errors.EmptyDataError:
        raise InvalidCSVError("The file is empty.") from None
    except (ValueError, pa.ArrowException) as error:
        reason = " ".join(str(error).replace("CSV parse error:", "").split())[:300]
        raise InvalidCSVError(f"The file could not be read as CSV: {reason}") from None
    if len(names) != frame.shape[1]:  # no header, or one the csv module splits otherwise than Arrow
        names = [str(name) for name in frame.columns] if header else [""] * frame.shape[1]
    if dialect.skipinitialspace:  # "a, b": the names without their spaces
        names = [name.lstrip(" ") for name in names]
    frame.columns = unique_names(names)
    if frame.shape[1] > MAX_COLUMNS:
        raise InvalidCSVError(f"The file has {frame.shape[1]:,} columns; at most {MAX_COLUMNS:,} are supported.")
    if frame.empty and frame.shape[1]:
        raise InvalidCSVError("The file has a header row but no data rows.")
    if frame.empty:
        raise InvalidCSVError("The file is empty.")
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    del frame
    return_freed_memory()  # the reader's buffers: a few times the file's size
    if dialect.skipinitialspace:  # "a, b": Arrow already trims numbers and dates, not text
        table = _strip_leading_spaces(table)
    table = _storable(table)
    dtypes, summary = profile(table)
    preview = PandasDataFrame.model_construct(columns=table.column_names, data=rows_of(table.slice(0, PREVIEW_ROWS)))
    source = CSVSource(
        file_name=file_name, size_bytes=size, sha256=sha256, encoding=encoding,
        delimiter=dialect.delimiter, header=header,
    )  # fmt: skip
    return ParsedCSV(source=source, table=table, dtypes=dtypes, summary=summary, preview=preview)


def _check_bytes(stream: BinaryIO, max_bytes: int | None) -> tuple[int, str, str]:
    """Size, SHA-256 and text encoding of the file, in one pass over it.

    Refuses binary data and anything that is neither UTF-8 nor Windows-1252 (a
    superset of Latin-1's printable characters) with InvalidCSVError.
    """
    digest, size = hashlib.sha256(), 0
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8, bom = True, False
    stream.seek(0)
    while chunk := stream.read(READ_CHUNK):
        if size == 0:
            if chunk.startswith(UTF16_BOMS):
                raise InvalidCSVError("The file is UTF-16 or UTF-32 text; save it as UTF-8 and upload it again.")
            bom = chunk.startswith(codecs.BOM_UTF8)
        if control := CONTROL_BYTE.search(chunk):
            raise InvalidCSVError(
                f"The file holds binary data (byte 0x{control.group()[0]:02x} at offset {size + control.start():,}), "
                "not CSV text."
            )
        digest.update(chunk)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise CSVTooLargeError(max_bytes)
        if is_utf8:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                is_utf8 = False
    if size == 0:
        raise InvalidCSVError("The file is empty.")
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if is_utf8:
        return size, digest.hexdigest(), "utf-8-sig" if bom else "utf-8"
    stream.seek(0)
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    offset = 0
    while chunk := stream.read(READ_CHUNK):
        try:
            cp1252.decode(chunk)
        except UnicodeDecodeError as error:
            raise InvalidCSVError(
                f"The file is neither UTF-8 nor Latin-1 (Windows-1252) text: byte 0x{chunk[error.start]:02x} "
                f"at offset {offset + error.start:,} has no meaning in either. Save it as UTF-8 and upload it again."
            ) from None
        offset += len(chunk)
    return size, digest.hexdigest(), "cp1252"


def clean_file_name(name: str) -> str:
    """The name a client gave its file, as recorded: the base name only (no directories),
    without control characters, at most 255 characters; "upload.csv" when nothing is left."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = "".join(character for character in base if character.isprintable())
    return base.strip()[:255] or "upload.csv"


def _sniff(sample: str, *, complete: bool) -> type[csv.Dialect] | csv.Dialect:
    """The dialect of the sample's whole lines; plain commas when nothing else stands out."""
    if not complete and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut-off last line would mislead the sniffer
    try:
        return csv.Sniffer().sniff(sample.removeprefix("\ufeff"), delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header_names(stream: BinaryIO, encoding: str, dialect: type[csv.Dialect] | csv.Dialect) -> list[str]:
    """The first record's fields as written (pandas would rename "a", "a" to "a", "a.1" and
    a blank name to "Unnamed: 1"), however long the record is."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")  # CR, LF or CRLF
    try:
        return next(csv.reader(text, dialect), [])
    except csv.Error:  # Arrow decides what the file holds; its names then serve
        return []
    finally:
        text.detach()  # leave the upload's stream open


def unique_names(names: list[str]) -> list[str]:
    """Column names that can each be sorted and exported by name: a blank name becomes
    column_<position>, and repeats get _2, _3 … (never a name another column has).

    ["a", "a", ""] → ["a", "a_2", "column_3"].
    """
    wanted = [name if name.strip() else f"column_{position}" for position, name in enumerate(names, 1)]
    taken, seen, unique = set(wanted), set(), []
    for name in wanted:
        if name in seen:
            number = 2
            while f"{name}_{number}" in taken:
                number += 1
            name = f"{name}_{number}"
            taken.add(name)
        seen.add(name)
        unique.append(name)
    return unique


def _strip_leading_spaces(table: pa.Table) -> pa.Table:
    columns = [
        pc.utf8_ltrim(column, characters=" ") if pa.types.is_string(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _storable(table: pa.Table) -> pa.Table:
    """Types that Parquet and pandas give back unchanged: empty columns become float64 (as
    pandas reads them), times of day text ("10:30:00"), and timestamps in seconds become
    milliseconds (Parquet has no seconds unit; reading one back would change the dtype)."""
    columns = []
    for column in table.columns:
        if pa.types.is_null(column.type):
            column = column.cast(pa.float64())
        elif pa.types.is_time(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_timestamp(column.type) and column.type.unit == "s":
            column = column.cast(pa.timestamp("ms", column.type.tz))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """The pandas view of stored rows: numpy dtypes, dates as datetime64 (not objects)."""
    return table.to_pandas(date_as_object=False)


def profile(table: pa.Table) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The pandas dtype of each column, and describe() of the numeric columns as a
    PandasDataFrame dict (None when there are none).

    Converts a column at a time, and only the numeric ones for describe(): a whole
    pandas copy of a million-row table would double an upload's memory.
    """
    dtypes, described = {}, []
    for name in table.column_names:
        column = to_pandas(table.select([name]))[name]
        dtypes[name] = str(column.dtype)
        if pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(table.schema.field(name).type):
            described.append(column.describe())
    if not described:
        return dtypes, None
    summary = pd.concat(described, axis=1).reset_index(names="statistic")
    return dtypes, PandasDataFrame.from_dataframe(summary).model_dump()


def rows_of(table: pa.Table) -> list[list[Any]]:
    """Rows as JSON values, the way PandasDataFrame holds them: null for missing (and for
    NaN and infinities), ISO 8601 text for dates and times."""
    columns = [_json_values(column) for column in table.columns]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _json_values(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if pa.types.is_floating(kind):
        column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    elif pa.types.is_temporal(kind):  # "2024-05-01 10:30:00.000" → "2024-05-01T10:30:00"
        text = pc.replace_substring(column.cast(pa.string()), " ", "T", max_replacements=1)
        column = pc.replace_substring_regex(text, r"\.0+(Z?)$", r"\1")
    return column.to_pylist()


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """An inline frame as Arrow. Columns that are not one plain type (mixing 1 and "a",
    holding lists and objects, or integers beyond 64 bits) become JSON text, so every
    column can be sorted."""
    columns = [_arrow_column(values) for _, values in frame.items()]
    return _storable(pa.Table.from_arrays(columns, names=[str(name) for name in frame.columns]))


def _arrow_column(values: pd.Series) -> pa.Array:
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        array = None  # OverflowError: an integer beyond 64 bits, which JSON allows and Arrow cannot hold
    if array is None or pa.types.is_nested(array.type):
        array = pa.array(values.map(_cell_text, na_action="ignore"), type=pa.string(), from_pandas=True)
    return array


def _cell_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def read_inline(key: tuple[str, ...], value: dict[str, Any]) -> LoadedFrame:
    """Raises ValueError when `value` is not a PandasDataFrame with distinct column names."""
    frame = PandasDataFrame.model_validate(value)
    if len(set(frame.columns)) < len(frame.columns):
        raise ValueError("repeated column names: a column could not be sorted by its name")
    table = _arrow_table(frame.to_dataframe())
    dtypes, summary = profile(table)
    return LoadedFrame(key, table, dtypes, summary)


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as a Parquet file: zstd without dictionaries (smaller and faster to write
    them for text that seldom repeats), in row groups that a page can read alone."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=False, row_group_size=PARQUET_ROW_GROUP)
    return sink.getvalue()


def return_freed_memory() -> None:
    """Hand memory Arrow freed back to the system, instead of keeping it for later."""
    pa.default_memory_pool().release_unused()


# Exports ---------------------------------------------------------------------------------


def csv_chunks(loaded: LoadedFrame, *, raw: bool = False) -> Iterator[bytes]:
    """The table as UTF-8 CSV with a header row, a batch of rows at a time.

    Unless `raw`, text that a spreadsheet would run as a formula is neutralised (see
    neutralise_formula). Raw, pandas reads it back (`pd.read_csv`) into the same values;
    with the recorded dtypes (`restore_dtypes`) into an equal frame.
    """
    sink = io.BytesIO()
    options = pa_csv.WriteOptions(quoting_style="needed")
    schema = _csv_schema(loaded)
    written = schema if raw else pa.schema([field.with_name(neutralise_formula(field.name)) for field in schema])
    with pa_csv.CSVWriter(sink, written, write_options=options) as writer:
        for batch in loaded.batches():
            columns = [column.cast(field.type) for column, field in zip(batch.columns, schema, strict=True)]
            if not raw:
                columns = [_neutralised(column) for column in columns]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=written))
            yield _drain(sink)
    yield _drain(sink)


# OWASP's "CSV injection": a cell starting with one of these is a formula to Excel,
# LibreOffice and Google Sheets (=HYPERLINK(…), =cmd|…); a leading ' makes it text.
FORMULA_START = "=+-@\t\r"


def neutralise_formula(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_START and text else text


def _neutralised(column: pa.Array) -> pa.Array:
    """Text cells that start like a formula, prefixed with '; other cells and columns as they are."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column  # numbers, dates, booleans: a spreadsheet reads -1 as the number it is
    risky = pc.match_substring_regex(column, "^[=+\\-@\t\r]")
    if not pc.any(risky).as_py():
        return column
    prefixed = pc.binary_join_element_wise(pa.scalar("'", column.type), column, pa.scalar("", column.type))
    return pc.if_else(risky, prefixed, column)


TIMESTAMP_UNITS = ("s", "ms", "us", "ns")


def _csv_schema(loaded: LoadedFrame) -> pa.Schema:
    """The stored schema with each timestamp column in the coarsest unit that holds all its
    values: Arrow writes every digit of the unit, so "00:00:00" read into milliseconds
    would come back as "00:00:00.000"."""
    names = [field.name for field in loaded.schema if pa.types.is_timestamp(field.type)]
    if not names:
        return loaded.schema
    if isinstance(loaded.rows, pa.Table):
        columns = loaded.rows.select(names)
    else:  # only these columns are decoded
        columns = loaded._parquet().read(columns=names, use_threads=False)
    schema = loaded.schema
    for name in names:
        field = schema.field(name)
        for unit in TIMESTAMP_UNITS[: TIMESTAMP_UNITS.index(field.type.unit)]:
            coarser = pa.timestamp(unit, field.type.tz)
            try:
                columns[name].cast(coarser, safe=True)
            except pa.ArrowInvalid:  # some value has a finer fraction
                continue
            schema = schema.set(schema.get_field_index(name), field.with_type(coarser))
            break
    return schema


def _drain(sink: io.BytesIO) -> bytes:
    chunk = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return chunk


def json_chunks(loaded: LoadedFrame) -> Iterator[bytes]:
    """The table in the spec's PandasDataFrame JSON shape, {"columns": [...], "data": [[...]]},
    a batch of rows at a time (values as rows_of() gives them)."""
    yield b'{"columns":' + orjson.dumps(loaded.schema.names) + b',"data":['
    separator = b""
    for batch in loaded.batches():
        if batch.num_rows:
            yield separator + orjson.dumps(rows_of(pa.Table.from_batches([batch])))[1:-1]
            separator = b","
    yield b"]}"
