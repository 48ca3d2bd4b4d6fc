"""The spread of each column of a table (webapp.frames.columns): histograms of numbers, dates
and times, the most frequent values of the rest; and the SVG that draws them."""

from __future__ import annotations

import io
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from bs4 import BeautifulSoup

from tests.support.frames import sample_csv
from webapp.frames import FrameCache, FrameRepository, FrameService, LoadedFrame
from webapp.frames import columns
from webapp.frames.columns import Histogram, ValueCounts, column_charts
from webapp.frames.service import QUICK_CHART_CELLS
from webapp.frames.tables import parquet_bytes, read_inline
from webapp.search.charts import counts_chart, histogram


def charts_of(**arrays: Any) -> dict[str, Any]:
    """The charts of a table of these columns, read from its stored Parquet file."""
    table = pa.table(arrays)
    loaded = LoadedFrame(("stored", "01TEST", "sha"), parquet_bytes(table), {}, None)
    return {chart.column: chart for chart in column_charts(loaded)}


def only(**arrays: Any) -> Any:
    (chart,) = charts_of(**arrays).values()
    return chart


def in_bins(chart: Histogram, values: list[Any]) -> list[int]:
    """How many of `values` each bin holds by its stated bounds (the reference)."""
    counts = []
    for number, b in enumerate(chart.bins):
        last = number == len(chart.bins) - 1
        if chart.whole or last:
            counts.append(sum(1 for v in values if b.low <= v <= b.high))
        else:
            counts.append(sum(1 for v in values if b.low <= v < b.high))
    return counts


# Numbers --------------------------------------------------------------------------------


def test_a_few_whole_numbers_get_a_bin_each():
    chart = only(n=pa.array([3, 1, 2, 3, 3, 10], pa.int64()))
    assert isinstance(chart, Histogram) and chart.whole
    assert [(b.low, b.high) for b in chart.bins] == [(v, v) for v in range(1, 11)]
    assert [b.count for b in chart.bins] == [1, 1, 3, 0, 0, 0, 0, 0, 0, 1]
    assert (chart.rows, chart.missing, chart.plotted) == (6, 0, 6)


def test_a_wide_range_of_integers_gets_whole_bins_covering_it():
    rng = np.random.default_rng(3)
    values = rng.integers(-5_000, 70_000, 3_000).tolist() + [None] * 7
    chart = only(n=pa.array(values, pa.int64()))
    present = [v for v in values if v is not None]
    assert len(chart.bins) <= columns.MAX_BINS
    assert chart.bins[0].low == min(present) and chart.bins[-1].high == max(present)
    assert all(b.high + 1 == nxt.low for b, nxt in zip(chart.bins, chart.bins[1:]))  # no gaps, no overlaps
    assert [b.count for b in chart.bins] == in_bins(chart, present)
    assert (chart.missing, chart.plotted) == (7, 3_000)


def test_floats_leave_out_nan_infinities_and_missing_values_and_say_how_many():
    values = [1.0, 2.0, float("nan"), float("inf"), -float("inf"), None, 3.0, 2.5]
    chart = only(x=pa.array(values, pa.float64()))
    assert not chart.whole
    assert (chart.missing, chart.nan, chart.infinite, chart.plotted) == (1, 1, 2, 4)
    assert chart.bins[0].low == 1.0 and chart.bins[-1].high == 3.0  # the largest lands in the last bin
    assert [b.count for b in chart.bins] == in_bins(chart, [1.0, 2.0, 3.0, 2.5])


def test_float_bins_match_numpys_histogram():
    values = np.random.default_rng(5).normal(size=10_000)
    chart = only(x=pa.array(values))
    expected, edges = np.histogram(values, bins=len(chart.bins), range=(values.min(), values.max()))
    assert [b.count for b in chart.bins] == expected.tolist()
    assert [b.low for b in chart.bins] == pytest.approx(edges[:-1].tolist())
    assert chart.bins[-1].high == values.max()


def test_floats_at_the_ends_of_the_double_range_do_not_overflow():
    chart = only(x=pa.array([-1.7e308, 1.7e308, 0.0]))
    assert all(math.isfinite(b.low) and math.isfinite(b.high) for b in chart.bins)
    assert (chart.bins[0].count, chart.bins[-1].count, chart.plotted) == (1, 1, 3)


def test_integers_at_the_ends_of_64_bits_land_in_their_bins_exactly():
    signed = [-(2**63), 2**63 - 1, 0, -1, 2**62]
    chart = only(n=pa.array(signed, pa.int64()))
    assert chart.bins[0].low == -(2**63) and chart.bins[-1].high == 2**63 - 1
    assert [b.count for b in chart.bins] == in_bins(chart, signed) and chart.plotted == 5

    unsigned = [0, 2**64 - 1, 2**63]
    chart = only(n=pa.array(unsigned, pa.uint64()))
    assert chart.bins[-1].high == 2**64 - 1
    assert [b.count for b in chart.bins] == in_bins(chart, unsigned)


def test_narrow_integers_are_binned_without_wrapping_around():
    values = [-128, 127, 0]
    chart = only(n=pa.array(values, pa.int8()))
    assert [b.count for b in chart.bins] == in_bins(chart, values) and chart.plotted == 3


def test_integers_beyond_64_bits_stored_inline_are_counted_as_text():
    inline = {"columns": ["n"], "data": [[2**70], [1], [2**70]]}
    loaded = read_inline(("inline", "01TEST", "t"), inline)
    (chart,) = column_charts(loaded)
    assert isinstance(chart, ValueCounts)
    assert chart.top == [(str(2**70), 2), ("1", 1)]


def test_one_distinct_value_is_one_bin():
    assert [(b.low, b.high, b.count) for b in only(n=pa.array([5, 5, 5])).bins] == [(5, 5, 3)]
    assert [(b.low, b.high, b.count) for b in only(x=pa.array([2.5] * 4)).bins] == [(2.5, 2.5, 4)]
    assert only(s=pa.array(["x"] * 3)).top == [("x", 3)]


def test_dates_and_timestamps_are_binned_with_iso_bounds():
    days = pa.array([0, 1, 1, 30], pa.int32()).cast(pa.date32())  # 1970-01-01 …
    chart = only(d=days)
    assert chart.whole and chart.bins[0].low == "1970-01-01" and chart.bins[-1].high == "1970-01-31"
    assert chart.plotted == 4 and chart.bins[0].count >= 1

    moments = pa.array([0, 90_000, None], pa.int64()).cast(pa.timestamp("ms"))
    chart = only(t=moments)
    assert chart.bins[0].low == "1970-01-01T00:00:00" and chart.bins[-1].high == "1970-01-01T00:01:30"
    assert (chart.plotted, chart.missing) == (2, 1)


# Other values -----------------------------------------------------------------------------


def test_text_shows_the_most_frequent_values_then_other_and_missing():
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 3 + [f"rare {n}" for n in range(12)] + [None] * 4 + [""]
    chart = only(s=pa.array(values))
    assert isinstance(chart, ValueCounts) and chart.exact
    assert chart.top[:3] == [("a", 5), ("b", 5), ("c", 3)]  # ties by value
    assert len(chart.top) == columns.TOP_VALUES
    assert chart.other == len(values) - 4 - sum(count for _, count in chart.top)
    assert (chart.missing, chart.distinct, chart.rows) == (4, 16, len(values))


def test_booleans_are_counted():
    chart = only(b=pa.array([True, False, True, None, True]))
    assert isinstance(chart, ValueCounts)
    assert (chart.top, chart.other, chart.missing) == ([(True, 3), (False, 1)], 0, 1)


def test_counts_across_many_batches_match_a_counter(monkeypatch):
    monkeypatch.setattr(columns, "CHART_BATCH_ROWS", 100)  # many batches, to test how they merge
    rng = np.random.default_rng(9)
    values = rng.choice(["x", "y", "z", "w", None], 2_345).tolist()
    numbers = rng.integers(0, 1_000, 2_345).tolist()
    charts = charts_of(s=pa.array(values), n=pa.array(numbers))
    expected = Counter(v for v in values if v is not None)
    assert charts["s"].top == sorted(expected.items(), key=lambda item: (-item[1], item[0]))
    assert [b.count for b in charts["n"].bins] == in_bins(charts["n"], numbers)


def test_past_the_tracked_values_counts_become_lower_bounds_and_say_so(monkeypatch):
    monkeypatch.setattr(columns, "CHART_BATCH_ROWS", 500)
    monkeypatch.setattr(columns, "TRACKED_VALUES", 300)
    values = [value for n in range(4_000) for value in (f"unique {n}", "common")]
    chart = only(s=pa.array(values))
    assert not chart.exact and chart.distinct >= 300
    assert chart.top[0] == ("common", 4_000)  # frequent in every batch: never dropped, counted exactly
    assert chart.other + sum(count for _, count in chart.top) == len(values)


def test_all_missing_and_empty_tables_have_nothing_to_draw():
    charts = charts_of(x=pa.array([None] * 3, pa.float64()), s=pa.array([None] * 3, pa.string()))
    assert (charts["x"].bins, charts["x"].missing) == ([], 3)
    assert (charts["s"].top, charts["s"].missing, charts["s"].distinct) == ([], 3, 0)
    empty = charts_of(x=pa.array([], pa.float64()), s=pa.array([], pa.string()))
    assert (empty["x"].bins, empty["x"].rows, empty["s"].top, empty["s"].rows) == ([], 0, [], 0)


def test_inline_and_stored_tables_give_the_same_charts():
    table = pa.table({"n": [1, 2, 2, None], "s": ["a", "b", "a", "a"], "x": [0.5, None, 1.5, 2.5]})
    stored = LoadedFrame(("stored", "01TEST", "sha"), parquet_bytes(table), {}, None)
    inline = LoadedFrame(("inline", "01TEST", "t"), table, {}, None)
    assert column_charts(stored) == column_charts(inline)


def test_only_the_first_columns_are_charted():
    table = pa.table({f"c{n}": [n] for n in range(columns.CHARTED_COLUMNS + 5)})
    loaded = LoadedFrame(("inline", "01TEST", "t"), table, {}, None)
    assert [chart.column for chart in column_charts(loaded)] == table.column_names[: columns.CHARTED_COLUMNS]


# The service: computed once, cheap ones at once ------------------------------------------


def test_the_service_caches_the_charts_and_computes_small_tables_at_once(manager):
    service = FrameService(FrameRepository(manager.session), manager, FrameCache())
    artifact = service.create_from_csv(io.BytesIO(sample_csv()), "sample.csv")
    loaded = service.require_frame(artifact.id)
    charts = service.cached_column_charts(loaded)  # 120 rows: cheap, computed here
    assert [chart.column for chart in charts] == ["id", "score", "city", "day", "seen_at", "flag"]
    assert [chart.kind for chart in charts] == ["histogram", "histogram", "counts", "histogram", "histogram", "counts"]
    assert service.column_charts(loaded) is charts


def test_a_big_tables_charts_wait_until_asked(manager):
    service = FrameService(FrameRepository(manager.session), manager, FrameCache())
    rows = 1 + QUICK_CHART_CELLS // 2  # two columns: just over the values charted at once
    artifact = service.create_from_csv(io.BytesIO(b"a,b\n" + b"1,x\n" * rows), "big.csv")
    loaded = service.require_frame(artifact.id)
    assert service.cached_column_charts(loaded) is None
    charts = service.column_charts(loaded)
    assert charts[0].plotted == rows and charts[1].top == [("x", rows)]
    assert service.cached_column_charts(loaded) is charts


# Drawing --------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>" onload="alert(1)'


def test_charts_escape_every_label_and_keep_attributes_to_numbers():
    for svg in (
        histogram([(HOSTILE, 3), ("b", 0)], HOSTILE, HOSTILE, HOSTILE, HOSTILE),
        counts_chart([(HOSTILE, 3, "value"), ("(missing)", 1, "missing")], HOSTILE, HOSTILE),
    ):
        assert "<script>" not in svg and 'onload="' not in svg
        soup = BeautifulSoup(str(svg), "html.parser")
        assert soup.find("script") is None
        for element in soup.find_all(True):
            assert set(element.attrs) <= {"class", "viewbox", "width", "height", "role", "aria-label", "xmlns",
                                          "x", "y", "x1", "x2", "y1", "y2", "text-anchor"}  # fmt: skip
        assert soup.find("svg")["aria-label"] == HOSTILE  # escaped in the markup, intact as text
        assert soup.find("title").get_text() == HOSTILE and soup.find("desc").get_text() == HOSTILE


def test_a_histogram_draws_a_bar_per_bin_with_its_count_as_a_tooltip():
    soup = BeautifulSoup(str(histogram([("0 – 4", 10), ("5 – 9", 0), ("10 – 14", 5)], "0", "14", "t", "d")), "html.parser")
    bars = soup.select("rect.bar")
    assert [bar.find("title").get_text() for bar in bars] == ["0 – 4: 10", "5 – 9: 0", "10 – 14: 5"]
    heights = [float(bar["height"]) for bar in bars]
    assert heights[0] > heights[2] > heights[1] == 0
