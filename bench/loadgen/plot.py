"""The load run's plot: panels of a figure (latency, throughput …) against the load steps, one line per series
(a number of gateway processes), drawn with Pillow (no plotting library is installed) into PNG bytes. Values in,
bytes out: no clocks, no files. Tested in `tests/unit/bench/test_loadgen_plot.py`."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

WIDTH, PANEL_HEIGHT, HEADER = 1400, 400, 90
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 90, 40, 50, 70
BACKGROUND, INK, GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)
TARGET_COLOUR = (214, 39, 40)
TARGET_SPAN = 4.0  # a panel with a target shows values up to this many times the target
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75))


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    target: float | None  # drawn as a horizontal line: what the value must stay under
    series: dict[str, list[float]]  # legend label → one value per load step (NaN where it was not measured)


@dataclass(frozen=True)
class Frame:
    """A panel's plotting area in pixels and the value at its top (its bottom is 0)."""

    left: int
    top: int
    right: int
    bottom: int
    y_max: float

    def x(self, step: int, steps: int) -> float:
        inset = (self.right - self.left) * 0.08
        if steps == 1:
            return (self.left + self.right) / 2
        return self.left + inset + step * (self.right - self.left - 2 * inset) / (steps - 1)

    def y(self, value: float) -> float:
        return self.bottom - min(value, self.y_max) / self.y_max * (self.bottom - self.top)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ `value` (1 for nothing to show): the y axis's top."""
    if not value > 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def ticks(y_max: float) -> list[float]:
    """Round values from 0 to `y_max` (a `nice_ceiling`) for the grid: fifths, or quarters of a 2 × 10ᵏ."""
    mantissa = y_max / 10 ** math.floor(math.log10(y_max))
    intervals = 4 if math.isclose(mantissa, 2) else 5
    return [y_max * i / intervals for i in range(intervals + 1)]


def frames(panels: Sequence[Panel]) -> list[Frame]:
    """Two panels a row, each scaled to its largest value or its target, whichever is higher (with headroom) —
    but no higher than TARGET_SPAN times the target, so that a value far beyond it (drawn at the top, its label
    marked ^) leaves the others readable."""
    column_width = WIDTH // 2
    placed = []
    for i, panel in enumerate(panels):
        left, top = (i % 2) * column_width, HEADER + (i // 2) * PANEL_HEIGHT
        values = [v for line in panel.series.values() for v in line if not math.isnan(v)]
        highest = max([*values, panel.target or 0.0], default=0.0) * 1.1
        if panel.target is not None:
            highest = min(highest, panel.target * TARGET_SPAN)
        placed.append(Frame(left + MARGIN_LEFT, top + MARGIN_TOP, left + column_width - MARGIN_RIGHT,
                            top + PANEL_HEIGHT - MARGIN_BOTTOM, nice_ceiling(highest)))
    return placed


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == round(value) or abs(value) >= 100 else f"{value:.3g}"


def render_png(title: str, steps: Sequence[str], panels: Sequence[Panel]) -> bytes:
    height = HEADER + math.ceil(len(panels) / 2) * PANEL_HEIGHT
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small, bold = (ImageFont.load_default(size=s) for s in (15, 13, 18))
    draw.text((WIDTH / 2, 22), title, fill=INK, font=bold, anchor="mm")
    labels = list(dict.fromkeys(label for panel in panels for label in panel.series))
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    x = WIDTH / 2 - 180 * len(labels) / 2
    for label in labels:
        draw.line([(x, 58), (x + 30, 58)], fill=colours[label], width=4)
        draw.text((x + 38, 58), label, fill=INK, font=font, anchor="lm")
        x += 180
    for panel, frame in zip(panels, frames(panels), strict=True):
        _draw_panel(draw, panel, frame, steps, colours, (font, small))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _draw_panel(draw: ImageDraw.ImageDraw, panel: Panel, frame: Frame, steps: Sequence[str],
                colours: dict[str, tuple[int, int, int]], fonts: tuple[Font, Font]) -> None:
    font, small = fonts
    draw.text((frame.left, frame.top - 28), f"{panel.title} ({panel.unit})", fill=INK, font=font, anchor="lm")
    for value in ticks(frame.y_max):
        y = frame.y(value)
        draw.line([(frame.left, y), (frame.right, y)], fill=GRID, width=1)
        draw.text((frame.left - 8, y), _number(value), fill=INK, font=small, anchor="rm")
    draw.line([(frame.left, frame.top), (frame.left, frame.bottom), (frame.right, frame.bottom)], fill=INK, width=1)
    for i, step in enumerate(steps):
        draw.text((frame.x(i, len(steps)), frame.bottom + 16), step, fill=INK, font=small, anchor="mm")
    if panel.target is not None:
        y = frame.y(panel.target)
        draw.line([(frame.left, y), (frame.right, y)], fill=TARGET_COLOUR, width=2)
        draw.text((frame.right - 4, y - 4), f"target {_number(panel.target)}", fill=TARGET_COLOUR, font=small,
                  anchor="rb")
    for n, (label, values) in enumerate(panel.series.items()):
        points = [(frame.x(i, len(steps)), frame.y(v), v) for i, v in enumerate(values) if not math.isnan(v)]
        if len(points) > 1:
            draw.line([(px, py) for px, py, _ in points], fill=colours[label], width=3)
        for px, py, value in points:
            draw.ellipse([(px - 5, py - 5), (px + 5, py + 5)], fill=colours[label])
            clipped = "^ " if value > frame.y_max else ""  # beyond the axis (a value far above the target)
            # The first series' values above their points, the next ones' below: close lines stay legible.
            anchor, dy = ("lb", -8) if n % 2 == 0 else ("lt", 8)
            draw.text((px + 8, py + dy), clipped + _number(value), fill=colours[label], font=small, anchor=anchor)
