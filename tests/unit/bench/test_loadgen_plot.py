"""The load run's plot: each value lands where its axis says, the target line is drawn, the PNG is whole."""

import io
import math

import pytest
from PIL import Image

from bench.loadgen.plot import PALETTE, TARGET_COLOUR, Panel, frames, nice_ceiling, render_png, ticks


def test_the_axis_top_is_a_round_number_at_or_above_the_largest_value() -> None:
    assert nice_ceiling(0.0) == 1.0
    assert nice_ceiling(math.nan) == 1.0
    assert nice_ceiling(1.0) == 1.0
    assert nice_ceiling(1.1) == 2.0
    assert nice_ceiling(2.2) == 2.5
    assert nice_ceiling(420.0) == 500.0
    assert nice_ceiling(550.0) == 1000.0
    assert nice_ceiling(0.03) == 0.05


def test_the_grid_falls_on_round_values() -> None:
    assert ticks(5000.0) == [0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0]
    assert ticks(2000.0) == [0.0, 500.0, 1000.0, 1500.0, 2000.0]
    assert ticks(2.5) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert ticks(1.0) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_each_value_is_drawn_at_its_place_in_its_series_colour() -> None:
    steps = ["24/100", "200/1000", "200/1000 storm"]
    panels = [Panel("API latency p95", "ms", 500.0, {"1 gateway process": [20.0, 300.0, 2600.0],
                                                     "2 gateway processes": [900.0, math.nan, 1800.0]}),
              Panel("throughput", "API requests/s", None, {"1 gateway process": [3.0, 30.0, 29.0],
                                                           "2 gateway processes": [10.0, math.nan, 45.0]})]
    image = Image.open(io.BytesIO(render_png("load", steps, panels)))
    assert image.format == "PNG"
    latency, throughput = frames(panels)
    assert latency.y_max == 2000.0  # 4 × the target: 2600 is drawn at the top, the others stay readable
    assert latency.y(2600.0) == latency.top
    assert throughput.y_max == 50.0
    for frame, panel in ((latency, panels[0]), (throughput, panels[1])):
        for colour, values in zip(PALETTE, panel.series.values(), strict=False):
            for i, value in enumerate(values):
                if not math.isnan(value):
                    assert image.getpixel((round(frame.x(i, 3)), round(frame.y(value)))) == colour, (panel.title, i)
    # A higher value is drawn higher up; the target crosses the latency panel only.
    assert latency.y(2600.0) < latency.y(300.0) < latency.y(20.0)
    target_y = round(latency.y(500.0))
    assert image.getpixel((latency.left + 3, target_y)) == TARGET_COLOUR
    throughput_edge = {image.getpixel((throughput.left + 3, y)) for y in range(throughput.top, throughput.bottom)}
    assert TARGET_COLOUR not in throughput_edge


def test_a_step_not_measured_leaves_a_gap_not_a_point() -> None:
    steps = ["a", "b", "c"]
    panel = Panel("p", "ms", None, {"only": [100.0, math.nan, 100.0]})
    image = Image.open(io.BytesIO(render_png("t", steps, [panel])))
    frame = frames([panel])[0]
    assert image.getpixel((round(frame.x(0, 3)), round(frame.y(100.0)))) == PALETTE[0]
    # The line from a to c passes over b at the same height, but no marker is drawn below or above it.
    assert image.getpixel((round(frame.x(1, 3)), round(frame.y(100.0)) + 4)) != PALETTE[0]
