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
from collections.abc import Callable, Iterator
import dataclasses
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

    def column(self, name: str) -> pa.ChunkedArray:
        """One column's rows, decoding that column only."""
        if isinstance(self.rows, pa.Table):
            return self.rows.column(name)
        return self._parquet().read(columns=[name], use_threads=False).column(0)

    def take(self, indices: pa.Array) -> pa.Table:
        """The rows at `indices` (a page of a sort order), in that order, decoding one row
        group at a time: never the whole table at once."""
        if isinstance(self.rows, pa.Table):
            return self.rows.take(indices)
        parquet, wanted = self._parquet(), indices.to_pylist()
        ordered = sorted(range(len(wanted)), key=wanted.__getitem__)  # positions by row number
        pieces, places, start, cursor = [], [], 0, 0
        for group in range(parquet.num_row_groups):
            end = start + parquet.metadata.row_group(group).num_rows
            local = []
            while cursor < len(ordered) and wanted[ordered[cursor]] < end:
                local.append(wanted[ordered[cursor]] - start)
                places.append(ordered[cursor])
                cursor += 1
            if local:
                pieces.append(parquet.read_row_group(group, use_threads=False).take(local))
            start = end
        if not pieces:
            return self.schema.empty_table()
        found = pa.concat_tables(pieces)  # rows by row number; put them back in the page's order
        return found.take(pc.sort_indices(pa.array(places)))

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
    """An uploaded CSV, read: its rows already written as the Parquet file that is stored."""

    source: CSVSource
    content: bytes  # the Parquet file (parquet_bytes' format)
    row_count: int
    column_names: list[str]
    dtypes: dict[str, str]
    summary: dict[str, Any] | None
    preview: PandasDataFrame

    @property
    def table(self) -> pa.Table:
        """All rows, decoded (for scripts and tests: the service never needs them at once)."""
        return pq.read_table(pa.BufferReader(self.content))

    def artifact_data(self) -> dict[str, Any]:
        """The artifact's JSON: provenance, shape and a preview; the rows live in artifact_frames."""
        return {
            "name": self.source.file_name,
            "source": self.source.model_dump(),
            "frame": {
                "storage": PARQUET,
                "row_count": self.row_count,
                "column_count": len(self.column_names),
                "dtypes": self.dtypes,
                "preview": self.preview.model_dump(),
            },
        }


class TableTooLargeError(ArtifactError):
    """More rows than MAX_TABLE_ROWS: refused while reading, before they could fill memory."""

    status = 413
    title = "Table too large"
    slug = "too-many-rows"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file has more than {limit:,} rows, the most a table may have (MAX_TABLE_ROWS). "
            "Split it into several files, or ask for the limit to be raised.",
            limit=limit,
        )


# Parsing ------------------------------------------------------------------------------

# The CSV is read a block at a time, and each block's rows go straight into the Parquet
# file: a worker holds one block of decoded rows and the compressed output, never the
# whole table (a 95 MiB file of 50M rows peaked at 1.9 GB when read whole). Arrow types
# each column from the first block; a value in a later block that does not fit (a "x" in
# a column of numbers) makes the reading start over with that column wider: int64 →
# float64 → text (so a column is still typed from all of its values, as before).
CSV_BLOCK_BYTES = 1024 * 1024  # Arrow's default; 4 MiB blocks of 2-byte rows peaked 140 MB higher
MAX_RETYPES = 16  # after this many restarts, every column not yet settled is read as text
# pandas' missing-value spellings, as read_csv(engine="pyarrow") passed them to Arrow.
NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): .*CSV conversion error to (\w+): invalid value '(.*)'", re.S)


def parse_csv(
    stream: BinaryIO,
    file_name: str,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    block_bytes: int = CSV_BLOCK_BYTES,
) -> ParsedCSV:
    """Read an uploaded CSV into a Parquet file, a block at a time. Raises InvalidCSVError,
    CSVTooLargeError, TableTooLargeError (more than `max_rows` rows).

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
    source = CSVSource(
        file_name=file_name, size_bytes=size, sha256=sha256, encoding=encoding,
        delimiter=dialect.delimiter, header=header,
    )  # fmt: skip
    reading = _CSVReading(stream, encoding, dialect, header, max_rows, block_bytes)
    for _ in range(MAX_RETYPES):
        try:
            return reading.run(source)
        except _Retype as retype:
            reading.column_types[retype.name] = retype.wider
    reading.all_text = True  # a file whose columns keep changing type: every column as text
    return reading.run(source)


class _Retype(Exception):  # noqa: N818 (not an error: the signal to read again)
    def __init__(self, name: str, wider: pa.DataType) -> None:
        self.name, self.wider = name, wider


@dataclass
class _CSVReading:
    stream: BinaryIO
    encoding: str
    dialect: type[csv.Dialect] | csv.Dialect
    header: bool
    max_rows: int | None
    block_bytes: int
    column_types: dict[str, pa.DataType] = dataclasses.field(default_factory=dict)
    all_text: bool = False

    def _reader(self) -> pa_csv.CSVStreamingReader:
        self.stream.seek(0)
        read = pa_csv.ReadOptions(
            # Arrow skips a UTF-8 byte order mark itself; other encodings it decodes as it reads.
            encoding="utf8" if self.encoding.startswith("utf-8") else self.encoding,
            autogenerate_column_names=not self.header,
            block_size=self.block_bytes,
        )
        parse = pa_csv.ParseOptions(delimiter=self.dialect.delimiter, quote_char=self.dialect.quotechar or '"')
        convert = pa_csv.ConvertOptions(
            null_values=NA_VALUES, strings_can_be_null=True, column_types=self.column_types,
        )  # fmt: skip
        try:
            reader = pa_csv.open_csv(self.stream, read_options=read, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as error:
            if "Empty CSV file" in str(error):
                raise InvalidCSVError("The file is empty.") from None
            raise _invalid(error) from None
        if self.all_text:  # read again with every column as text
            self.column_types = {name: pa.string() for name in reader.schema.names}
            self.all_text = False
            return self._reader()
        return reader

    def run(self, source: CSVSource) -> ParsedCSV:
        reader = self._reader()
        raw_names = reader.schema.names
        names = [name.lstrip(" ") for name in raw_names] if self.dialect.skipinitialspace else list(raw_names)
        names = unique_names(names if self.header else [""] * len(names))
        if len(names) > MAX_COLUMNS:
            raise InvalidCSVError(f"The file has {len(names):,} columns; at most {MAX_COLUMNS:,} are supported.")
        sink, writer, rows, preview = io.BytesIO(), None, 0, None
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as error:
                    raise self._retype_or_invalid(error, reader.schema) from None
                rows += batch.num_rows
                if self.max_rows is not None and rows > self.max_rows:
                    raise TableTooLargeError(self.max_rows)
                table = pa.Table.from_batches([batch]).rename_columns(names)
                if self.dialect.skipinitialspace:  # "a, b": Arrow already trims numbers and dates, not text
                    table = _strip_leading_spaces(table)
                table = _storable(table)
                if writer is None:
                    writer = pq.ParquetWriter(sink, table.schema, compression="zstd", use_dictionary=False)
                    preview = table.slice(0, PREVIEW_ROWS)
                writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
                del batch, table
        finally:
            if writer is not None:
                writer.close()
        if not rows:
            raise InvalidCSVError("The file has a header row but no data rows." if self.header else "The file is empty.")
        content = sink.getvalue()
        del sink
        return_freed_memory()
        assert preview is not None  # noqa: S101 (rows were written, so a first batch was)
        dtypes, summary = profile(preview, lambda name: pq.read_table(pa.BufferReader(content), columns=[name]))
        return ParsedCSV(
            source=source, content=content, row_count=rows, column_names=names, dtypes=dtypes, summary=summary,
            preview=PandasDataFrame.model_construct(columns=names, data=rows_of(preview)),
        )  # fmt: skip

    def _retype_or_invalid(self, error: pa.ArrowInvalid, schema: pa.Schema) -> Exception:
        """A value that does not fit its column's type (found past the first block): read
        again with that column wider. Any other error: the file is not valid CSV."""
        found = _CONVERSION_ERROR.search(str(error))
        if found is None:
            return _invalid(error)
        index, value = int(found.group(1)), found.group(3)
        name, current = schema.names[index], schema.field(index).type
        numeric = pa.types.is_integer(current) or pa.types.is_null(current)
        wider = pa.float64() if numeric and _is_number(value) else pa.string()
        return _Retype(name, wider)


def _invalid(error: Exception) -> InvalidCSVError:
    reason = " ".join(str(error).replace("CSV parse error:", "").split())[:300]
    return InvalidCSVError(f"The file could not be read as CSV: {reason}")


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


def profile(
    table: pa.Table, column: Callable[[str], pa.Table] | None = None
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The pandas dtype of each column of `table`, and describe() of the numeric columns as
    a PandasDataFrame dict (None when there are none), of all rows: `column(name)` gives a
    column's rows when `table` holds only some of them (a stored file's first rows).

    Converts a column at a time, and only the numeric ones for describe(): a whole
    pandas copy of a million-row table would double an upload's memory.
    """
    dtypes, described = {}, []
    for name in table.column_names:
        kind = table.schema.field(name).type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        # Numbers and booleans: their dtype depends on all rows (a gap makes int64 float64).
        whole = column is not None and (numeric or pa.types.is_boolean(kind))
        values = column(name).column(0) if whole else table.column(name)
        dtypes[name] = _pandas_dtype(values)
        if numeric:
            described.append(_describe(name, values))
        del values
    if not described:
        return dtypes, None
    summary = pd.concat(described, axis=1).reset_index(names="statistic")
    return dtypes, PandasDataFrame.from_dataframe(summary).model_dump()


def _pandas_dtype(values: pa.ChunkedArray) -> str:
    """The dtype to_pandas() gives the column, without converting it: pandas has no missing
    integers or booleans in numpy dtypes, so a gap makes those float64 and object."""
    if values.null_count and pa.types.is_integer(values.type):
        return "float64"
    if values.null_count and pa.types.is_boolean(values.type):
        return "object"
    return str(to_pandas(pa.table({"column": values.slice(0, 1)}))["column"].dtype)


DESCRIBED = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]


def _describe(name: str, values: pa.ChunkedArray) -> pd.Series:
    """pandas' describe() of a numeric column, computed by Arrow on the column as it is: pandas
    would first copy it, and sort another copy for the quartiles (a 10M-row column: 80 MB each)."""
    count = len(values) - values.null_count
    quartiles = pc.quantile(values, q=[0.25, 0.5, 0.75], interpolation="linear").to_pylist() if count else [None] * 3
    statistics = [
        count, pc.mean(values).as_py(), pc.stddev(values, ddof=1).as_py(),
        pc.min(values).as_py(), *quartiles, pc.max(values).as_py(),
    ]  # fmt: skip
    return pd.Series([float("nan") if value is None else float(value) for value in statistics], index=DESCRIBED, name=name)


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
