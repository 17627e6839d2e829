"""Threshold requests (normalised, modality units, a range, automatic) and the automatic thresholds."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np


NORMALIZED = "normalized"


MODALITY = "modality"


AUTOMATIC_MODES = ("otsu", "triangle", "isodata", "yen")


MODES = (NORMALIZED, MODALITY, *AUTOMATIC_MODES)


HISTOGRAM_BINS = 256
"""Bins over [min, max] of the series on which the automatic thresholds are computed."""


class InvalidThreshold(ValueError):
    """A threshold request that makes no sense; the message says what to send instead.

    `field` names what was wrong: "threshold" or "upper"."""

    def __init__(self, message: str, field: str = "threshold"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ThresholdRequest:
    """What the user asked for: a mode and, for the two manual modes, a value.

    `upper` (same units as `value`, manual modes only) makes it a range: value < v ≤ upper.
    `body_only` counts only the voxels inside the body (see body.py); the caller passes the body's
    histogram to measure_histogram, which only reports it.
    """

    mode: str = NORMALIZED
    value: float | None = None
    upper: float | None = None
    body_only: bool = False

    @classmethod
    def parse(cls, mode: str | None, value, default: float, upper=None, body_only: bool = False) -> ThresholdRequest:
        """Validate user input: mode name, value as text or number; `default` for a missing value.

        `upper`, when given (text or number), is the range's upper bound in the same units."""
        request = cls.parse_lower(mode, value, default)
        if upper is None or (isinstance(upper, str) and not upper.strip()):
            return replace(request, body_only=bool(body_only))
        if request.mode in AUTOMATIC_MODES:
            raise InvalidThreshold(
                "an upper bound needs a threshold you type (normalised or modality), not an automatic mode", "upper"
            )
        bound = parse_number(upper, "upper bound", "upper")
        if request.mode == NORMALIZED and not 0 <= bound <= 1:
            raise InvalidThreshold(f"a normalised upper bound lies between 0 and 1, not {bound:g}", "upper")
        if bound <= request.value:
            raise InvalidThreshold(
                f"the upper bound ({bound:g}) must be above the lower threshold ({request.value:g})", "upper"
            )
        return replace(request, upper=bound, body_only=bool(body_only))

    @classmethod
    def from_fields(cls, fields: Mapping, default: float) -> ThresholdRequest:
        """The request of a form's, a query's or the command's fields: `mode`, `threshold`, `upper` and
        `body_only`, each of which may be missing."""
        return cls.parse(
            fields.get("mode"), fields.get("threshold"), default,
            upper=fields.get("upper"), body_only=bool(fields.get("body_only")),
        )

    @classmethod
    def parse_lower(cls, mode: str | None, value, default: float) -> ThresholdRequest:
        mode = (mode or NORMALIZED).strip().lower()
        if mode == "normalised":
            mode = NORMALIZED
        if mode not in MODES:
            raise InvalidThreshold(f"unknown threshold mode {mode!r}: use one of {', '.join(MODES)}")
        if mode in AUTOMATIC_MODES:
            return cls(mode=mode)
        if value is None or (isinstance(value, str) and not value.strip()):
            if mode == MODALITY:
                raise InvalidThreshold("the modality mode needs a threshold in modality units (e.g. 300 for bone in HU)")
            return cls(mode=mode, value=float(default))
        number = parse_number(value, "threshold")
        if mode == NORMALIZED and not 0 <= number <= 1:
            raise InvalidThreshold(f"a normalised threshold lies between 0 and 1, not {number:g}")
        return cls(mode=mode, value=number)


def parse_number(value, name: str, field: str = "threshold") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidThreshold(f"the {name} {value!r} is not a number", field) from None
    if not math.isfinite(number):
        raise InvalidThreshold(f"the {name} {value!r} is not a finite number", field)
    return number


def upper_bound(request: ThresholdRequest, values: np.ndarray, low: float, span: float):
    """The range's upper bound in both units, and the (K,) mask of the values at or below it."""
    if request.mode == NORMALIZED:
        upper = float(request.upper)
        at_most = (values - low) / span <= upper if span > 0 else np.ones(len(values), dtype=bool)
        return upper, low + upper * span, at_most
    upper_modality = float(request.upper)
    return ((upper_modality - low) / span if span > 0 else None), upper_modality, values <= upper_modality


def out_of_range_warnings(threshold_modality: float, low: float, high: float, modality: str) -> list[str]:
    """Say so when a threshold in modality units lies outside the series' values: nothing, or everything, counts."""
    unit = " HU" if modality == "CT" else ""
    if threshold_modality >= high:
        return [
            f"the threshold {threshold_modality:g}{unit} is at or above the series' highest value ({high:g}{unit}): "
            "no voxel can lie above it"
        ]
    if threshold_modality < low:
        return [
            f"the threshold {threshold_modality:g}{unit} is below the series' lowest value ({low:g}{unit}): "
            "every voxel lies above it"
        ]
    return []


def automatic_threshold(mode: str, values: np.ndarray, counts: np.ndarray) -> float:
    """The threshold in modality units that `mode` chooses on the series histogram."""
    low, high = float(values[0]), float(values[-1])
    if low == high:
        return low
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    hist, _ = np.histogram(values, bins=edges, weights=counts.astype(np.float64))
    centers = (edges[:-1] + edges[1:]) / 2
    method = {"otsu": otsu, "triangle": triangle, "isodata": isodata, "yen": yen}[mode]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(method(hist, centers))


def otsu(hist: np.ndarray, centers: np.ndarray) -> float:
    weight_below = np.cumsum(hist)
    weight_above = np.cumsum(hist[::-1])[::-1]
    mean_below = np.cumsum(hist * centers) / weight_below
    mean_above = (np.cumsum((hist * centers)[::-1]) / weight_above[::-1])[::-1]
    between = weight_below[:-1] * weight_above[1:] * (mean_below[:-1] - mean_above[1:]) ** 2
    return centers[int(np.nanargmax(between))]


def isodata(hist: np.ndarray, centers: np.ndarray) -> float:
    """Ridler–Calvard: the first threshold midway between the means below and above it."""
    below = np.cumsum(hist)
    above = below[-1] - below
    intensity = np.cumsum(hist * centers)
    mean_below = intensity[:-1] / below[:-1]
    mean_above = (intensity[-1] - intensity[:-1]) / above[:-1]
    midpoints = (mean_below + mean_above) / 2
    width = centers[1] - centers[0]
    distances = midpoints - centers[:-1]
    found = centers[:-1][(distances >= 0) & (distances < width)]
    return found[0] if found.size else otsu(hist, centers)


def triangle(hist: np.ndarray, centers: np.ndarray) -> float:
    bins = len(hist)
    peak = int(np.argmax(hist))
    nonzero = np.flatnonzero(hist)
    low, high = int(nonzero[0]), int(nonzero[-1])
    flip = peak - low < high - peak
    if flip:
        hist = hist[::-1]
        low = bins - high - 1
        peak = bins - peak - 1
    width = peak - low
    if width == 0:
        return centers[peak if not flip else bins - peak - 1]
    height = hist[peak]
    x = np.arange(width)
    y = hist[x + low]
    norm = math.hypot(height, width)
    distance = (height / norm) * x - (width / norm) * y
    level = int(np.argmax(distance)) + low
    if flip:
        level = bins - level - 1
    return centers[level]


def yen(hist: np.ndarray, centers: np.ndarray) -> float:
    pmf = hist / hist.sum()
    cumulative = np.cumsum(pmf)
    squares_below = np.cumsum(pmf**2)
    squares_above = np.cumsum(pmf[::-1] ** 2)[::-1]
    criterion = np.log(
        ((squares_below[:-1] * squares_above[1:]) ** -1) * (cumulative[:-1] * (1.0 - cumulative[:-1])) ** 2
    )
    criterion[~np.isfinite(criterion)] = -np.inf
    return centers[int(np.argmax(criterion))]
