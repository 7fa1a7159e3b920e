"""Chart geometry for the reports page: plain numbers in, rectangles out.

The templates draw these as inline SVG (server-side, autoescaped), so the page
needs no chart library and no script. Pure functions. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 220, 28
MUTED = "#94a3b8"
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b")


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    rects: tuple[Rect, ...]
    labels: tuple[Label, ...]
    legend: tuple[tuple[str, str], ...]
    empty: bool

    @property
    def scrolls(self) -> bool:
        """Taller than `SCROLL_AFTER` bars: the page shows it in a scrolling box."""
        return not self.empty and self.height > PAD + SCROLL_AFTER * ROW


def colors(names: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(names))}


def stacked_columns(columns: Sequence[tuple[str, Mapping[str, int]]]) -> Chart:
    """One column per label (a day), stacked by key (a channel)."""
    keys = sorted({k for _, parts in columns for k in parts})
    palette = colors(keys)
    top = max((sum(parts.values()) for _, parts in columns), default=0)
    if not columns or top == 0:
        return Chart(WIDTH, HEIGHT, (), (), (), True)
    slot = (WIDTH - 2 * PAD) / len(columns)
    scale = (HEIGHT - 2 * PAD) / top
    rects, labels = [], []
    step = max(1, len(columns) // 8)
    for i, (label, parts) in enumerate(columns):
        x, y = PAD + i * slot, float(HEIGHT - PAD)
        for key in keys:
            h = parts.get(key, 0) * scale
            if h:
                y -= h
                rects.append(
                    Rect(
                        x + 1, y, max(slot - 2, 1), h, palette[key], f"{label} {key}: {parts[key]}"
                    )
                )
        if i % step == 0:
            labels.append(Label(x + slot / 2 + 20, HEIGHT - PAD + 16, label))
    labels.append(Label(PAD - 4, PAD, str(top)))
    return Chart(WIDTH, HEIGHT, tuple(rects), tuple(labels), tuple(palette.items()), False)


ROW = 28  # a bar's row: at 18-unit text, labels never overlap, however many rows
LABEL_CHARS = 15  # at 18-unit text, 15 wide Cyrillic letters fit left of the bars
LEFT = 190
SCROLL_AFTER = 16  # rows; a taller chart scrolls in its card (`_chart.html`)


def short(label: str, limit: int = LABEL_CHARS) -> str:
    """The label made to fit left of the bars; the bar's tooltip keeps it whole.

    A long full name keeps its first word and the initials of the rest, as Russian
    writes "Kuznetsov A. S.", so fifty names stay told apart; else it is cut."""
    if len(label) <= limit:
        return label
    first, *rest = label.split()
    initials = " ".join(f"{w[0]}." if w[0].isalpha() else w for w in rest)
    name = f"{first} {initials}".strip()
    return name if len(name) <= limit else label[: limit - 1].rstrip() + "…"


def top(items: Sequence[tuple[str, float]], n: int, others: str) -> list[tuple[str, float]]:
    """The `n` largest items, largest first, and the sum of the rest as `others`."""
    ranked = sorted(items, key=lambda item: (-item[1], item[0]))
    if len(ranked) <= n + 1:
        return ranked
    rest = sum(v for _, v in ranked[n:])
    return [*ranked[:n], (others, rest)]


def bars(
    items: Sequence[tuple[str, float]],
    *,
    maximum: float | None = None,
    unit: str = "",
    order: str | None = None,
    muted: str | None = None,
) -> Chart:
    """Horizontal bars, one per item (a manager's SLA %, a histogram bucket).

    `order` "desc" or "asc" sorts by value (then by label); None keeps the given order
    (histogram buckets). Each row has the same height whatever the count, so fifty
    managers make a taller chart, never overlapping labels. The bar labelled `muted`
    (a sum such as "Others") is grey, so it is not read as one more person."""
    if not items:
        return Chart(WIDTH, HEIGHT, (), (), (), True)
    if order is not None:
        sign = -1 if order == "desc" else 1
        items = sorted(items, key=lambda item: (sign * item[1], item[0]))
    top_value = maximum if maximum is not None else max(v for _, v in items) or 1
    left, span = LEFT, WIDTH - LEFT - 70
    rects, labels = [], []
    for i, (label, value) in enumerate(items):
        y = PAD / 2 + i * ROW
        w = span * value / top_value if top_value else 0
        color = PALETTE[0] if maximum is None else _traffic(value)
        if label == muted:
            color = MUTED
        rects.append(Rect(left, y, max(w, 1), ROW - 6, color, f"{label}: {value:g}{unit}"))
        labels.append(Label(left - 6, y + (ROW - 6) / 2, short(label)))
        labels.append(Label(left + w + 60, y + (ROW - 6) / 2, f"{value:g}{unit}"))
    height = int(PAD + len(items) * ROW)
    return Chart(WIDTH, height, tuple(rects), tuple(labels), (), False)


def _traffic(pct: float) -> str:
    return "#16a34a" if pct >= 90 else "#f59e0b" if pct >= 70 else "#dc2626"
