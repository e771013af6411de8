"""Server-rendered SVG charts: no JavaScript library, no CDN."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def line_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    unit: str = "$",
    width: int = 560,
    height: int = 240,
) -> str:
    pad_left, pad_bottom, pad_top = 56, 28, 28
    plot_w, plot_h = width - pad_left - 12, height - pad_bottom - pad_top
    top = max(max(values, default=0), 1)
    decimals = 0 if top >= 10 else 2  # $0.50, not a second $0
    count = max(len(values) - 1, 1)
    points = [
        (pad_left + plot_w * i / count, pad_top + plot_h * (1 - v / top))
        for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    ticks = "".join(
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h * (1 - f) + 4:.1f}" '
        f'text-anchor="end" class="tick">{escape(unit)}{top * f:,.{decimals}f}</text>'
        f'<line x1="{pad_left}" x2="{width - 12}" y1="{pad_top + plot_h * (1 - f):.1f}" '
        f'y2="{pad_top + plot_h * (1 - f):.1f}" class="grid"/>'
        for f in (0, 0.5, 1)
    )
    step = max(1, len(labels) // 6)
    last = len(labels) - 1
    names = "".join(
        f'<text x="{points[i][0]:.1f}" y="{height - 8}" '
        f'text-anchor="{"end" if i == last and i else "middle"}" '
        f'class="tick">{escape(labels[i])}</text>'
        for i in range(0, len(labels), step)
    )
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="dot"/>' for x, y in points)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
        "<style>.tick{font:11px sans-serif;fill:#555}.grid{stroke:#e3e3e3}"
        ".line{fill:none;stroke:#2f6fde;stroke-width:2}.dot{fill:#2f6fde}"
        ".title{font:bold 13px sans-serif;fill:#222}</style>"
        f'<text x="{pad_left}" y="16" class="title">{escape(title)}</text>{ticks}'
        f'<polyline points="{path}" class="line"/>{dots}{names}</svg>'
    )
