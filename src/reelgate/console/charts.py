"""Small bar charts as inline SVG, drawn on the server: no script, readable by a screen
reader (a title and a description), and the same numbers are in a table next to it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, BAR_H, GAP, LABEL_W, VALUE_W = 640, 22, 8, 170, 110


def bar_chart(title: str, bars: Sequence[tuple[str, int, str]]) -> Markup:
    """Horizontal bars: (label, value, value as text). Scales to its container's width."""
    if not bars:
        return Markup("")
    top = max(value for _, value, _ in bars) or 1
    span = WIDTH - LABEL_W - VALUE_W
    height = len(bars) * (BAR_H + GAP) + GAP
    cid = "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{cid}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{cid}">{escape(title)}</title>',
    ]
    for i, (label, value, text) in enumerate(bars):
        y = GAP + i * (BAR_H + GAP)
        w = max(1, round(span * value / top)) if value > 0 else 0
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H * 0.7:.0f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_W}" y="{y}" width="{w}" height="{BAR_H}" rx="3"/>'
            f'<text x="{LABEL_W + w + 6}" y="{y + BAR_H * 0.7:.0f}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
