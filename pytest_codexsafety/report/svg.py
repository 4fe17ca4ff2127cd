"""Small SVG charts for the HTML report, drawn by hand.  Pure: text in, SVG text out.

Every label and every attribute value is escaped here (``html.escape`` with quotes), so
a caller may pass text that came from a model.  Colours, ids and link targets are the
caller's: the report builds them only from fixed tables and positions, never from model
text.  Numbers are rounded to two decimals so the output is stable across platforms.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Band", "BandPoint", "IntervalRow", "Marker", "Point", "Series",
    "attrs", "esc", "heat_map", "interval_plot", "line_chart",
]

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
AXIS = "#555"
GRID = "#ddd"


def esc(text: object) -> str:
    """Text made safe as element content or as a quoted attribute value."""
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def attrs(values: Mapping[str, object]) -> str:
    """Attributes in the given order, every value escaped and quoted; None leaves one out."""
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        text = _num(value) if isinstance(value, float) else str(value)
        parts.append(f' {name}="{esc(text)}"')
    return "".join(parts)


def _el(tag: str, values: Mapping[str, object], content: str | None = None) -> str:
    if content is None:
        return f"<{tag}{attrs(values)}/>"
    return f"<{tag}{attrs(values)}>{content}</{tag}>"


def _text(x: float, y: float, label: str, **extra: object) -> str:
    values: dict[str, object] = {"x": float(x), "y": float(y)}
    values.update({k.replace("_", "-"): v for k, v in extra.items()})
    return _el("text", values, esc(label))


def _svg(element_id: str, width: float, height: float, title: str, body: Sequence[str]) -> str:
    head = attrs({
        "xmlns": "http://www.w3.org/2000/svg", "id": element_id, "class": "chart",
        "width": float(width), "height": float(height), "viewBox": f"0 0 {_num(width)} {_num(height)}",
        "role": "img", "aria-label": title, "style": FONT, "font-size": "12",
    })
    return f"<svg{head}><title>{esc(title)}</title>\n" + "\n".join(body) + "\n</svg>"


# --------------------------------------------------------------------------- heat map


@dataclass(frozen=True)
class Marker:
    """A labelled box placed in one cell of the heat map."""

    row: str
    column: str
    label: str
    title: str  # the tooltip
    fill: str
    text_fill: str = "#fff"
    stroke: str = "#222"
    href: str | None = None  # an in-page link, e.g. "#hazard-3"
    dashed: bool = False


MARKER_WIDTH = 122.0
MARKER_HEIGHT = 20.0
MARKER_GAP = 4.0
LABEL_CHARS = 24
CHAR_WIDTH = 6.9  # a generous average advance at 11px, to squeeze long labels in


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def heat_map(
    *,
    element_id: str,
    title: str,
    rows: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    fills: Mapping[tuple[str, str], str],
    cell_labels: Mapping[tuple[str, str], str],
    cell_titles: Mapping[tuple[str, str], str],
    markers: Sequence[Marker],
    row_axis: str,
    column_axis: str,
    cell_width: float = 240.0,
) -> str:
    """A grid of coloured cells (rows top to bottom, columns left to right), each with a
    small label in its corner and its markers laid out in lines below it.  ``rows`` and
    ``columns`` are (key, heading) pairs; a row grows to hold its fullest cell."""
    per_line = max(1, int((cell_width - MARKER_GAP) // (MARKER_WIDTH + MARKER_GAP)))
    placed: dict[tuple[str, str], list[Marker]] = {}
    for marker in markers:
        placed.setdefault((marker.row, marker.column), []).append(marker)
    left, top = 170.0, 58.0
    heights: list[float] = []
    for row, _ in rows:
        most = max((len(placed.get((row, col), [])) for col, _ in columns), default=0)
        lines = -(-most // per_line)
        heights.append(max(56.0, 26.0 + lines * (MARKER_HEIGHT + MARKER_GAP) + MARKER_GAP))
    width = left + cell_width * len(columns) + 10
    height = top + sum(heights) + 10
    body: list[str] = [
        _text(left + cell_width * len(columns) / 2, 16, column_axis, text_anchor="middle",
              font_weight="bold", fill=AXIS),
        _text(10, top - 12, row_axis, font_weight="bold", fill=AXIS),
    ]
    for j, (_, heading) in enumerate(columns):
        body.append(_text(left + cell_width * (j + 0.5), top - 12, heading, text_anchor="middle", fill="#222"))
    y = top
    for (row, heading), row_height in zip(rows, heights):
        body.append(_text(left - 10, y + 20, heading, text_anchor="end", fill="#222"))
        for j, (col, _) in enumerate(columns):
            x = left + cell_width * j
            key = (row, col)
            cell = [_el("title", {}, esc(cell_titles.get(key, "")))] if key in cell_titles else []
            body.append(_el("g", {"class": "cell", "data-row": row, "data-column": col}, "".join([
                *cell,
                _el("rect", {"x": x, "y": y, "width": cell_width, "height": row_height,
                             "fill": fills.get(key, "#eee"), "stroke": "#fff", "stroke-width": "2"}),
                _text(x + cell_width - 6, y + 14, cell_labels.get(key, ""), text_anchor="end",
                      font_size="11", fill="#333"),
            ])))
            for k, marker in enumerate(placed.get(key, [])):
                mx = x + MARKER_GAP + (k % per_line) * (MARKER_WIDTH + MARKER_GAP)
                my = y + 22 + (k // per_line) * (MARKER_HEIGHT + MARKER_GAP)
                body.append(_marker(marker, mx, my))
        y += row_height
    return _svg(element_id, width, height, title, body)


def _label(label: str, x: float, y: float, room: float, fill: str) -> str:
    """A centred label, squeezed (not cut) to fit ``room`` when it looks too long."""
    text = _shorten(label, LABEL_CHARS)
    squeeze: dict[str, object] = {}
    if len(text) * CHAR_WIDTH > room:
        squeeze = {"textLength": float(room), "lengthAdjust": "spacingAndGlyphs"}
    return _text(x, y, text, text_anchor="middle", font_size="11", fill=fill, **squeeze)


def _marker(marker: Marker, x: float, y: float) -> str:
    inner = "".join([
        _el("title", {}, esc(marker.title)),
        _el("rect", {"x": x, "y": y, "width": MARKER_WIDTH, "height": MARKER_HEIGHT, "rx": "4",
                     "fill": marker.fill, "stroke": marker.stroke, "stroke-width": "1.5",
                     "stroke-dasharray": "4 2" if marker.dashed else None}),
        _label(marker.label, x + MARKER_WIDTH / 2, y + 14, MARKER_WIDTH - 8, marker.text_fill),
    ])
    group = _el("g", {"class": "marker", "data-row": marker.row, "data-column": marker.column}, inner)
    if marker.href is None:
        return group
    return _el("a", {"href": marker.href}, group)


# --------------------------------------------------------------------------- line chart


@dataclass(frozen=True)
class Point:
    x: float
    y: float | None  # None: nothing measured here (the line breaks)
    low: float | None = None
    high: float | None = None
    title: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: Sequence[Point]


@dataclass(frozen=True)
class BandPoint:
    x: float
    low: float
    high: float


@dataclass(frozen=True)
class Band:
    name: str
    colour: str
    points: Sequence[BandPoint]
    title: str = ""


@dataclass(frozen=True)
class _Frame:
    left: float
    top: float
    width: float
    height: float
    x_min: float
    x_max: float
    y_min: float = 0.0
    y_max: float = 1.0

    def sx(self, x: float) -> float:
        if self.x_max == self.x_min:
            return self.left + self.width / 2
        return self.left + (x - self.x_min) / (self.x_max - self.x_min) * self.width

    def sy(self, y: float) -> float:
        return self.top + (self.y_max - y) / (self.y_max - self.y_min) * self.height


def _percent_axis(frame: _Frame, ticks: Sequence[float]) -> list[str]:
    out = []
    for tick in ticks:
        y = frame.sy(tick)
        out.append(_el("line", {"x1": frame.left, "x2": frame.left + frame.width, "y1": y, "y2": y,
                                "stroke": GRID, "stroke-width": "1"}))
        out.append(_text(frame.left - 6, y + 4, f"{tick * 100:.0f}%", text_anchor="end", fill=AXIS))
    return out


def line_chart(
    *,
    element_id: str,
    title: str,
    series: Sequence[Series],
    bands: Sequence[Band] = (),
    x_label: str,
    y_label: str,
    width: float = 640.0,
    height: float = 320.0,
) -> str:
    """Rates (0..1) against x: each series a line through its points with a whisker from
    low to high, each band a shaded region from low to high; a legend on top."""
    xs = [p.x for s in series for p in s.points] + [b.x for band in bands for b in band.points]
    x_min, x_max = (min(xs), max(xs)) if xs else (0.0, 1.0)
    frame = _Frame(left=56.0, top=40.0, width=width - 76.0, height=height - 90.0, x_min=x_min, x_max=x_max)
    body = _percent_axis(frame, (0.0, 0.25, 0.5, 0.75, 1.0))
    ticks = sorted({p.x for s in series for p in s.points})
    for tick in ticks:
        x = frame.sx(tick)
        body.append(_el("line", {"x1": x, "x2": x, "y1": frame.top + frame.height,
                                 "y2": frame.top + frame.height + 4, "stroke": AXIS}))
        body.append(_text(x, frame.top + frame.height + 18, _num(tick), text_anchor="middle", fill=AXIS))
    body.append(_el("line", {"x1": frame.left, "x2": frame.left + frame.width, "y1": frame.top + frame.height,
                             "y2": frame.top + frame.height, "stroke": AXIS}))
    body.append(_text(frame.left + frame.width / 2, height - 14, x_label, text_anchor="middle", fill="#222"))
    body.append(_text(14, frame.top + frame.height / 2, y_label, text_anchor="middle", fill="#222",
                      transform=f"rotate(-90 14 {_num(frame.top + frame.height / 2)})"))
    for band in bands:
        if not band.points:
            continue
        pts = sorted(band.points, key=lambda b: b.x)
        if len(pts) == 1:  # a lone x: a narrow box around it
            only = pts[0]
            pts = [BandPoint(only.x - 0.5, only.low, only.high), BandPoint(only.x + 0.5, only.low, only.high)]
            frame_x = [frame.sx(only.x) - 12, frame.sx(only.x) + 12]
        else:
            frame_x = [frame.sx(p.x) for p in pts]
        upper = [f"{_num(x)},{_num(frame.sy(p.high))}" for x, p in zip(frame_x, pts)]
        lower = [f"{_num(x)},{_num(frame.sy(p.low))}" for x, p in reversed(list(zip(frame_x, pts)))]
        body.append(_el("polygon", {"class": "band", "points": " ".join(upper + lower), "fill": band.colour,
                                    "fill-opacity": "0.25", "stroke": band.colour, "stroke-opacity": "0.6"},
                        _el("title", {}, esc(band.title or band.name))))
    for s in series:
        segment: list[str] = []
        segments: list[list[str]] = []
        for p in sorted(s.points, key=lambda p: p.x):
            if p.y is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{_num(frame.sx(p.x))},{_num(frame.sy(p.y))}")
        if segment:
            segments.append(segment)
        for seg in segments:
            body.append(_el("polyline", {"class": "series", "points": " ".join(seg), "fill": "none",
                                         "stroke": s.colour, "stroke-width": "2"}))
        for p in s.points:
            x = frame.sx(p.x)
            parts = [_el("title", {}, esc(p.title))] if p.title else []
            if p.low is not None and p.high is not None:
                y1, y2 = frame.sy(p.low), frame.sy(p.high)
                parts += [
                    _el("line", {"class": "whisker", "x1": x, "x2": x, "y1": y1, "y2": y2,
                                 "stroke": s.colour, "stroke-width": "1.5"}),
                    _el("line", {"x1": x - 4, "x2": x + 4, "y1": y1, "y2": y1, "stroke": s.colour}),
                    _el("line", {"x1": x - 4, "x2": x + 4, "y1": y2, "y2": y2, "stroke": s.colour}),
                ]
            if p.y is not None:
                parts.append(_el("circle", {"class": "point", "cx": x, "cy": frame.sy(p.y), "r": "4",
                                            "fill": s.colour, "stroke": "#fff"}))
            else:
                parts.append(_text(x, frame.top + frame.height - 4, "n/a", text_anchor="middle",
                                   font_size="10", fill=AXIS))
            body.append(_el("g", {}, "".join(parts)))
    legend_x = frame.left
    for name, colour, kind in [(s.name, s.colour, "line") for s in series] + [
            (b.name, b.colour, "band") for b in bands]:
        if kind == "line":
            body.append(_el("line", {"x1": legend_x, "x2": legend_x + 18, "y1": 16, "y2": 16,
                                     "stroke": colour, "stroke-width": "2"}))
        else:
            body.append(_el("rect", {"x": legend_x, "y": 10, "width": 18, "height": 12, "fill": colour,
                                     "fill-opacity": "0.25", "stroke": colour}))
        body.append(_text(legend_x + 24, 20, name, fill="#222"))
        legend_x += 24 + 7 * len(name) + 24
    return _svg(element_id, width, height, title, body)


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class IntervalRow:
    label: str
    value: float
    low: float
    high: float
    colour: str
    title: str = ""


def interval_plot(
    *,
    element_id: str,
    title: str,
    rows: Sequence[IntervalRow],
    x_min: float,
    x_max: float,
    ticks: Sequence[float],
    tick_format: str = "{:+.0%}",
    reference: float | None = 0.0,
    width: float = 640.0,
) -> str:
    """One horizontal line per row: a dot at the value, a bar from low to high, on a
    shared axis from x_min to x_max, with an optional reference line (zero)."""
    row_height = 30.0
    height = 30.0 + row_height * len(rows) + 28.0
    frame = _Frame(left=170.0, top=20.0, width=width - 200.0, height=row_height * len(rows),
                   x_min=x_min, x_max=x_max)
    body: list[str] = []
    for tick in ticks:
        x = frame.sx(tick)
        body.append(_el("line", {"x1": x, "x2": x, "y1": frame.top, "y2": frame.top + frame.height,
                                 "stroke": GRID}))
        body.append(_text(x, frame.top + frame.height + 16, tick_format.format(tick), text_anchor="middle",
                          fill=AXIS))
    if reference is not None:
        x = frame.sx(reference)
        body.append(_el("line", {"x1": x, "x2": x, "y1": frame.top - 6, "y2": frame.top + frame.height,
                                 "stroke": AXIS, "stroke-width": "1.5"}))
    for i, row in enumerate(rows):
        y = frame.top + row_height * (i + 0.5)
        body.append(_text(frame.left - 10, y + 4, row.label, text_anchor="end", fill="#222"))
        body.append(_el("g", {"class": "interval"}, "".join([
            _el("title", {}, esc(row.title or row.label)),
            _el("line", {"x1": frame.sx(row.low), "x2": frame.sx(row.high), "y1": y, "y2": y,
                         "stroke": row.colour, "stroke-width": "4", "stroke-linecap": "round",
                         "stroke-opacity": "0.5"}),
            _el("circle", {"cx": frame.sx(row.value), "cy": y, "r": "5", "fill": row.colour}),
        ])))
    return _svg(element_id, width, height, title, body)
