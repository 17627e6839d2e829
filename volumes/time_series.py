"""The volume over time of a measurement with several time points: the points of a small inline SVG
plot (drawn by the template, no JavaScript) and the largest and smallest volumes."""
from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 480, 160
"""The plot's size in SVG units (it scales with the page)."""
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 96, 12, 10, 26


@dataclass(frozen=True)
class PlotPoint:
    x: float
    y: float
    point: dict


@dataclass(frozen=True)
class TimeSeriesChart:
    """What the result page shows of the time points: the table's rows, the plot, the extremes."""

    points: list[dict]
    plotted: list[PlotPoint]
    polyline: str
    largest: dict | None
    smallest: dict | None
    value_key: str  # "volume_mm3", or "voxels_above" when there is no volume
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    bottom: int = HEIGHT - MARGIN_BOTTOM
    right: int = WIDTH - MARGIN_RIGHT
    top: int = MARGIN_TOP


def time_series_chart(result: dict) -> TimeSeriesChart | None:
    """The chart of a result's `time_points`; None with one time point (or none)."""
    points = result.get("time_points") or []
    if len(points) < 2:
        return None
    value_key = "volume_mm3" if all(p.get("volume_mm3") is not None for p in points) else "voxels_above"
    values = [float(p[value_key]) for p in points]
    low, high = min(values), max(values)
    span = high - low or 1.0
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    plotted = [
        PlotPoint(
            x=round(MARGIN_LEFT + plot_width * k / (len(points) - 1), 2),
            y=round(MARGIN_TOP + plot_height * (1 - (value - low) / span), 2),
            point=point,
        )
        for k, (point, value) in enumerate(zip(points, values))
    ]
    largest = max(points, key=lambda p: (float(p[value_key]), -p["index"]))
    smallest = min(points, key=lambda p: (float(p[value_key]), p["index"]))
    return TimeSeriesChart(
        points=points,
        plotted=plotted,
        polyline=" ".join(f"{p.x},{p.y}" for p in plotted),
        largest=largest,
        smallest=smallest,
        value_key=value_key,
        low=low,
        high=high,
    )
