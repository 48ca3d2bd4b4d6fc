"""Charts drawn on the server as SVG (no CDN, no script): a bar per artifact for a numeric
field, or a line per artifact for a list of numbers (a learning curve); and for a table's
columns, a histogram or the counts of the most frequent values. Every label goes through
markupsafe, so stored data cannot become markup; attributes hold only our own numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56


@dataclass(frozen=True)
class Box:
    """A chart's size and the margins around its plot."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM


COMPARE = Box()
COLUMN = Box(width=360, height=170, left=48, right=10, top=10, bottom=34)  # one of a table's columns
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def chart_kind(values: Sequence[Any]) -> str | None:
    """"bar" when the values are numbers, "line" when lists of numbers, else None."""
    present = [v for v in values if v is not None]
    if present and all(is_number(v) for v in present):
        return "bar"
    if present and all(isinstance(v, list) and v and all(is_number(x) for x in v) for v in present):
        return "line"
    return None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _scale(low: float, high: float) -> tuple[float, float]:
    if low == high:
        low, high = low - 1, high + 1
    return low, high


def _count(value: float) -> str:
    """12 · 1.5k · 2.25M: an axis of row counts."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.4g}"


def _axis(low: float, high: float, box: Box = COMPARE, fmt: Callable[[float], str] = _fmt) -> str:
    parts = []
    for step in range(5):
        value = low + (high - low) * step / 4
        y = box.top + (box.height - box.top - box.bottom) * (1 - step / 4)
        parts.append(f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(value)}</text>')
    return "".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[Any], title: str) -> Markup:
    numbers = [v for v in values if is_number(v)]
    low, high = _scale(min(0.0, *numbers), max(0.0, *numbers))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    zero = TOP + plot_h * (1 - (0 - low) / (high - low))
    parts = [_axis(low, high)]
    for number, (label, value) in enumerate(zip(labels, values)):
        x = LEFT + slot * number + slot * 0.15
        if is_number(value):
            y = TOP + plot_h * (1 - (value - low) / (high - low))
            top, height = min(y, zero), abs(zero - y)
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" height="{max(height, 0.5):.1f}" '
                f'fill="{COLOURS[number % len(COLOURS)]}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
            )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label[:14])}</text>'
        )
    return _svg(title, "".join(parts))


def line_chart(labels: Sequence[str], values: Sequence[Any], title: str) -> Markup:
    series = [(label, v) for label, v in zip(labels, values) if isinstance(v, list) and v]
    points = [x for _, v in series for x in v]
    low, high = _scale(min(points), max(points))
    longest = max(len(v) for _, v in series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [_axis(low, high)]
    for number, (label, line) in enumerate(series):
        coordinates = " ".join(
            f"{LEFT + plot_w * (i / max(longest - 1, 1)):.1f},{TOP + plot_h * (1 - (y - low) / (high - low)):.1f}"
            for i, y in enumerate(line)
        )
        colour = COLOURS[number % len(COLOURS)]
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(label)}</title></polyline>"
        )
        parts.append(
            f'<text x="{LEFT + 8 + 110 * (number % 5)}" y="{HEIGHT - 18 + 14 * (number // 5)}" fill="{colour}">'
            f"■ {escape(label[:14])}</text>"
        )
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 16}" text-anchor="end">step {longest - 1}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 16}">step 0</text>')
    return _svg(title, "".join(parts))


def histogram(bins: Sequence[tuple[str, int]], first: str, last: str, title: str, description: str) -> Markup:
    """Adjacent bars, one per bin (its label, its count); `first` and `last` label the ends
    of the x axis (the lowest and highest bounds)."""
    box = COLUMN
    high = -(-max([count for _, count in bins] + [1]) // 4) * 4  # a multiple of 4: whole ticks
    plot_w, plot_h = box.width - box.left - box.right, box.height - box.top - box.bottom
    slot = plot_w / max(len(bins), 1)
    parts = [_axis(0, high, box, _count)]
    for number, (label, count) in enumerate(bins):
        height = plot_h * count / high
        parts.append(
            f'<rect class="bar" x="{box.left + slot * number:.1f}" y="{box.top + plot_h - height:.1f}" '
            f'width="{max(slot - 1, 0.5):.1f}" height="{height:.1f}"><title>{escape(label)}: {count:,}</title></rect>'
        )
    baseline = box.height - box.bottom
    parts.append(f'<text x="{box.left}" y="{baseline + 14}">{escape(first[:20])}</text>')
    parts.append(f'<text x="{box.width - box.right}" y="{baseline + 14}" text-anchor="end">{escape(last[:20])}</text>')
    return _svg(title, "".join(parts), box, description)


def counts_chart(rows: Sequence[tuple[str, int, str]], title: str, description: str) -> Markup:
    """A horizontal bar per (label, count, kind): kind "value" for a value, "other" or
    "missing" for the rows outside the values shown (drawn in grey)."""
    line = 14
    box = Box(width=COLUMN.width, height=max(len(rows), 1) * line + 8, left=110, right=52, top=4, bottom=4)
    high = max([count for _, count, _ in rows] + [1])
    plot_w = box.width - box.left - box.right
    parts = []
    for number, (label, count, kind) in enumerate(rows):
        y = box.top + number * line
        shown = label if len(label) <= 16 else label[:15] + "…"
        parts.append(
            f'<text x="{box.left - 6}" y="{y + 10}" text-anchor="end" class="{kind}">{escape(shown)}</text>'
            f'<rect class="bar {kind}" x="{box.left}" y="{y + 1}" width="{max(plot_w * count / high, 0.5):.1f}" '
            f'height="{line - 3}"><title>{escape(label)}: {count:,}</title></rect>'
            f'<text x="{box.left + plot_w * count / high + 4:.1f}" y="{y + 10}">{_count(count)}</text>'
        )
    return _svg(title, "".join(parts), box, description)


def _svg(title: str, body: str, box: Box = COMPARE, description: str | None = None) -> Markup:
    desc = f"<desc>{escape(description)}</desc>" if description else ""
    return Markup(
        f'<svg class="chart" viewBox="0 0 {box.width} {box.height}" width="{box.width}" height="{box.height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{desc}{body}</svg>'
    )


def chart(labels: Sequence[str], values: Sequence[Any], title: str) -> Markup | None:
    kind = chart_kind(values)
    if kind == "bar":
        return bar_chart(labels, values, title)
    if kind == "line":
        return line_chart(labels, values, title)
    return None
