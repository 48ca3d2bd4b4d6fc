"""How the values of each column of a table are spread: a histogram of a column of numbers,
dates or times, and the most frequent values of any other column. No database, no Flask.

Computed by Arrow a batch of rows at a time (a stored table's row groups one by one), so a
worker never holds more than one row group of the table, plus a bounded tally per column:
a 10M-row table costs two passes over its row groups, never a decoded copy of it.

    charts = column_charts(loaded)   # [Histogram | ValueCounts, …], one per column
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .tables import LoadedFrame, _json_values

MAX_BINS = 20
TOP_VALUES = 10
# Distinct values of one column counted exactly; past this many, the least frequent are
# dropped (the counts shown become lower bounds, and say so), so that a column of a million
# different strings costs a bounded tally, not a million entries.
TRACKED_VALUES = 20_000
CHARTED_COLUMNS = 50  # a table of 2,000 columns gets the first 50 charted
CHART_BATCH_ROWS = 64 * 1024  # one stored row group (tables.PARQUET_ROW_GROUP)


@dataclass(frozen=True)
class Bin:
    """Values from `low` to `high`: both included for whole numbers, dates and times (steps of
    the column's unit); for other numbers `high` is excluded, except in the last bin."""

    low: Any
    high: Any
    count: int


@dataclass(frozen=True)
class Histogram:
    column: str
    dtype: str
    rows: int
    bins: list[Bin]
    missing: int = 0  # null
    nan: int = 0
    infinite: int = 0  # +inf and -inf: not drawn, as no bin can hold them
    whole: bool = False  # bins of whole steps (integers, dates, timestamps), bounds inclusive
    kind: str = "histogram"

    @property
    def plotted(self) -> int:
        return sum(b.count for b in self.bins)


@dataclass(frozen=True)
class ValueCounts:
    column: str
    dtype: str
    rows: int
    top: list[tuple[Any, int]]  # (value, count), most frequent first, ties by value
    other: int  # rows with a value outside `top`
    missing: int
    distinct: int  # exact when `exact`, else at least this many
    exact: bool = True
    kind: str = "counts"


ColumnChart = Histogram | ValueCounts


def column_charts(loaded: LoadedFrame, limit: int = CHARTED_COLUMNS) -> list[ColumnChart]:
    """A chart of each of the first `limit` columns, in column order."""
    schema = loaded.schema
    names = schema.names[:limit]
    tallies: dict[str, _NumberTally | _ValueTally] = {
        name: _NumberTally() if _is_binnable(schema.field(name).type) else _ValueTally() for name in names
    }
    rows = 0
    for batch in _batches(loaded, names):
        rows += batch.num_rows
        for name, tally in tallies.items():
            tally.add(batch.column(name))
    numbers = {name: tally for name, tally in tallies.items() if isinstance(tally, _NumberTally) and tally.plan(rows)}
    if numbers:  # the second pass: the bins are known now
        for batch in _batches(loaded, list(numbers)):
            for name, tally in numbers.items():
                tally.bin(batch.column(name))
    return [tallies[name].chart(name, loaded.dtypes.get(name, str(schema.field(name).type)), rows, schema.field(name).type)
            for name in names]  # fmt: skip


def _batches(loaded: LoadedFrame, names: list[str]) -> Iterator[pa.RecordBatch]:
    if isinstance(loaded.rows, pa.Table):
        return iter(loaded.rows.select(names).to_batches(max_chunksize=CHART_BATCH_ROWS))
    return loaded._parquet().iter_batches(batch_size=CHART_BATCH_ROWS, columns=names, use_threads=False)


def _is_binnable(kind: pa.DataType) -> bool:
    return (
        pa.types.is_integer(kind) or pa.types.is_floating(kind)
        or pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    )  # fmt: skip


# Numbers, dates and timestamps ---------------------------------------------------------


@dataclass
class _NumberTally:
    missing: int = 0
    nan: int = 0
    infinite: int = 0
    low: Any = None  # the smallest finite value seen (a Python int or float)
    high: Any = None
    counts: list[int] = field(default_factory=list)
    whole: bool = False
    width: Any = None  # of a bin, in the column's unit (whole) or as a fraction of the range

    def add(self, values: pa.Array) -> None:
        self.missing += values.null_count
        values = _comparable(values)
        if pa.types.is_floating(values.type):
            self.nan += pc.sum(pc.is_nan(values)).as_py() or 0
            self.infinite += pc.sum(pc.is_inf(values)).as_py() or 0
            values = pc.filter(values, pc.is_finite(values))
        extremes = pc.min_max(values)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        if low is not None:
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def plan(self, rows: int) -> bool:
        """Choose the bins; False when there is nothing to draw."""
        if self.low is None:
            return False
        finite = rows - self.missing - self.nan - self.infinite
        wanted = min(MAX_BINS, math.ceil(math.log2(max(finite, 1))) + 1)  # Sturges' rule
        self.whole = isinstance(self.low, int)
        if self.whole:
            span = self.high - self.low + 1  # Python ints: no overflow at the ends of int64
            self.width = 1 if span <= MAX_BINS else -(-span // wanted)
            self.counts = [0] * -(-span // self.width)
        else:
            self.counts = [0] * (1 if self.low == self.high else wanted)
        return True

    def bin(self, values: pa.Array) -> None:
        values = _comparable(values.drop_null())
        if pa.types.is_floating(values.type):
            values = pc.filter(values, pc.is_finite(values))
        if len(values) == 0:
            return
        last = len(self.counts) - 1
        if self.whole:
            # x - low wraps around in 64 bits when the range is wider than int64, but read as
            # unsigned it is the exact distance: whole bins stay exact even at int64's ends.
            offset = pc.subtract(values, pa.scalar(self.low, values.type))
            if not pa.types.is_unsigned_integer(values.type):
                offset = offset.cast(pa.uint64(), safe=False)
            index = pc.divide(offset, pa.scalar(self.width, pa.uint64()))
        elif last == 0:
            index = pa.array([0] * len(values), pa.int64())
        else:
            # Halves, so that high - low cannot overflow to infinity (-1e308 … 1e308).
            low, high = self.low * 0.5, self.high * 0.5
            scaled = pc.multiply(pc.divide(pc.subtract(pc.multiply(values, 0.5), low), high - low), float(last + 1))
            index = pc.min_element_wise(pc.floor(scaled).cast(pa.int64()), last)
        counted = pc.value_counts(index)
        for position, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            self.counts[min(position, last)] += count

    def chart(self, name: str, dtype: str, rows: int, kind: pa.DataType) -> Histogram:
        bins = []
        for position, count in enumerate(self.counts):
            if self.whole:
                low = self.low + position * self.width
                bins.append((low, min(low + self.width - 1, self.high), count))
            else:
                low = _between(self.low, self.high, position / len(self.counts))
                high = _between(self.low, self.high, (position + 1) / len(self.counts))
                bins.append((low, high, count))
        if pa.types.is_temporal(kind):  # the bounds as ISO 8601 text, in the column's own unit
            bounds = _json_values(pa.chunked_array([pa.array([b for low, high, _ in bins for b in (low, high)],
                                                             _storage(kind)).cast(kind)]))  # fmt: skip
            bins = [(bounds[2 * i], bounds[2 * i + 1], count) for i, (_, _, count) in enumerate(bins)]
        return Histogram(
            column=name, dtype=dtype, rows=rows, bins=[Bin(low, high, count) for low, high, count in bins],
            missing=self.missing, nan=self.nan, infinite=self.infinite, whole=self.whole,
        )  # fmt: skip


def _comparable(values: pa.Array) -> pa.Array:
    """Numbers in 64 bits; dates and timestamps as their integer count of days or units."""
    kind = values.type
    if pa.types.is_temporal(kind):
        return values.cast(_storage(kind)).cast(pa.int64())
    if pa.types.is_floating(kind):
        return values.cast(pa.float64())
    return values.cast(pa.uint64() if pa.types.is_unsigned_integer(kind) else pa.int64())  # 64 bits: see bin()


def _storage(kind: pa.DataType) -> pa.DataType:
    return pa.int32() if pa.types.is_date32(kind) else pa.int64()


def _between(low: float, high: float, fraction: float) -> float:
    """The point `fraction` of the way from low to high, exact at both ends, never overflowing."""
    if fraction >= 1:
        return high
    return low * (1 - fraction) + high * fraction


# Any other column: its most frequent values ----------------------------------------------


@dataclass
class _ValueTally:
    missing: int = 0
    counted: pa.Table | None = None  # columns value, count: one row per distinct value
    pending: list[pa.Table] = field(default_factory=list)  # batches' counts not merged yet
    pending_rows: int = 0
    exact: bool = True

    def add(self, values: pa.Array) -> None:
        self.missing += values.null_count
        present = values.drop_null()
        if len(present) == 0:
            return
        counted = pc.value_counts(present)
        self.pending.append(pa.table({"value": counted.field("values"), "count": counted.field("counts")}))
        self.pending_rows += len(counted)
        if self.pending_rows > 8 * TRACKED_VALUES:  # merging less often: a column of unique values
            self._merge()  # (merging every batch took twice as long)

    def _merge(self) -> None:
        if not self.pending:
            return
        tables = [self.counted, *self.pending] if self.counted is not None else self.pending
        merged = pa.concat_tables(tables).group_by("value").aggregate([("count", "sum")])
        merged = merged.rename_columns(["value", "count"])
        self.pending, self.pending_rows = [], 0
        if merged.num_rows > TRACKED_VALUES:  # keep the most frequent, in no particular order
            keep = pc.select_k_unstable(merged, k=TRACKED_VALUES, sort_keys=[("count", "descending")])
            merged = merged.take(keep)
            self.exact = False
        self.counted = merged

    def chart(self, name: str, dtype: str, rows: int, kind: pa.DataType) -> ValueCounts:
        present = rows - self.missing
        self._merge()
        if self.counted is None:
            return ValueCounts(name, dtype, rows, [], 0, self.missing, 0)
        top = _most_frequent(self.counted, TOP_VALUES)
        pairs = list(zip(top.column("value").to_pylist(), top.column("count").to_pylist(), strict=True))
        return ValueCounts(
            column=name, dtype=dtype, rows=rows, top=pairs, other=present - sum(c for _, c in pairs),
            missing=self.missing, distinct=self.counted.num_rows, exact=self.exact,
        )  # fmt: skip


def _most_frequent(counted: pa.Table, limit: int) -> pa.Table:
    order = pc.sort_indices(counted, sort_keys=[("count", "descending"), ("value", "ascending")])
    return counted.take(order[:limit])
