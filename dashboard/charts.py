"""Charts drawn as SVG on the server: no JavaScript, no CDN, nothing fetched by the browser.

Readable without colour: every series has its own line pattern and marker shape, named in a
text legend, and the same numbers are in a table below the chart.
"""

from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 28, 12, 28

# Per series: line dash pattern and marker shape (colour comes from CSS, per theme).
STYLES: dict[str, tuple[str, str]] = {
    "sent": ("", "circle"),
    "delivered": ("6 3", "square"),
    "bounced": ("2 3", "triangle"),
    "failed": ("9 3 2 3", "diamond"),
}


@dataclass(frozen=True)
class Chart:
    svg: str
    legend: list[tuple[str, str, str]]  # (key, label, marker shape)


def _marker(shape: str, x: float, y: float, key: str) -> str:
    cls = f'class="mp-marker mp-{key}"'
    if shape == "circle":
        return f'<circle {cls} cx="{x:.1f}" cy="{y:.1f}" r="3"/>'
    if shape == "square":
        return f'<rect {cls} x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6"/>'
    if shape == "triangle":
        return f'<path {cls} d="M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 3:.1f} L{x - 4:.1f},{y + 3:.1f} Z"/>'
    return f'<path {cls} d="M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y:.1f} L{x:.1f},{y + 4:.1f} L{x - 4:.1f},{y:.1f} Z"/>'


def _nice_top(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(
    *, buckets: list[datetime], values: dict[str, list[int]], labels: dict[str, str], hourly: bool
) -> Chart:
    """One line per series over the buckets, with axes, gridlines and per-point titles."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top(max([max(series) for series in values.values() if series] + [0]))
    count = max(1, len(buckets))
    step = plot_w / max(1, count - 1)

    def x_at(i: int) -> float:
        return LEFT + i * step

    def y_at(v: int) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="mp-chart" role="img" aria-label="Messages over time">'
    ]
    for tick in range(5):
        value = top * tick // 4
        y = y_at(value)
        parts.append(
            f'<line class="mp-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="mp-axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    label_every = max(1, count // 8)
    for i, bucket in enumerate(buckets):
        if i % label_every == 0 or i == count - 1:
            text = bucket.strftime("%H:00") if hourly else bucket.strftime("%b %d")
            parts.append(
                f'<text class="mp-axis" x="{x_at(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle">{text}</text>'
            )
    for key, series in values.items():
        dash, shape = STYLES.get(key, ("", "circle"))
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(series))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline class="mp-line mp-{key}" points="{points}"{dash_attr}/>')
        for i, v in enumerate(series):
            when = buckets[i].strftime("%Y-%m-%d %H:00" if hourly else "%Y-%m-%d")
            parts.append(
                f"<g><title>{escape(labels[key])} {when}: {v}</title>"
                f"{_marker(shape, x_at(i), y_at(v), key)}</g>"
            )
    parts.append("</svg>")
    legend = [(key, labels[key], STYLES.get(key, ("", "circle"))[1]) for key in values]
    return Chart(svg="".join(parts), legend=legend)


def legend_marker(shape: str, key: str) -> str:
    """A small SVG of a series' marker and line pattern for the text legend."""
    dash = STYLES.get(key, ("", "circle"))[0]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="34" height="12" viewBox="0 0 34 12" aria-hidden="true">'
        f'<line class="mp-line mp-{key}" x1="1" x2="33" y1="6" y2="6"{dash_attr}/>'
        f"{_marker(shape, 17, 6, key)}</svg>"
    )
