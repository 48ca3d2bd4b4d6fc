"""Charts drawn on the server as SVG (no CDN, no script): a bar per artifact for a numeric
field, or a line per artifact for a list of numbers (a learning curve). Every label goes
through markupsafe, so stored data cannot become markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56
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


def _axis(low: float, high: float) -> str:
    parts = []
    for step in range(5):
        value = low + (high - low) * step / 4
        y = TOP + (HEIGHT - TOP - BOTTOM) * (1 - step / 4)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
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


def _svg(title: str, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def chart(labels: Sequence[str], values: Sequence[Any], title: str) -> Markup | None:
    kind = chart_kind(values)
    if kind == "bar":
        return bar_chart(labels, values, title)
    if kind == "line":
        return line_chart(labels, values, title)
    return None
