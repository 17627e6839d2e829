"""Thresholds outside the series' values are measured, and the result says so in its warnings."""
import pytest

from .conftest import SEED_FILE
from .pipeline import measure


def seed_range() -> tuple[float, float]:
    lowest = measure(SEED_FILE, "normalized", 0.0).only.threshold_modality
    highest = measure(SEED_FILE, "normalized", 1.0).only.threshold_modality
    return lowest, highest


def test_a_threshold_above_the_highest_value_warns_that_nothing_counts():
    lowest, highest = seed_range()
    assert (lowest, highest) == (-1024.0, 972.0)
    result = measure(SEED_FILE, "modality", 5000.0).only
    assert result.voxels_above == 0
    assert "the threshold 5000 HU is at or above the series' highest value (972 HU): no voxel can lie above it" in result.warnings


def test_a_threshold_below_the_lowest_value_warns_that_everything_counts():
    result = measure(SEED_FILE, "modality", -2000.0).only
    assert result.voxels_above == result.total_voxels
    assert "the threshold -2000 HU is below the series' lowest value (-1024 HU): every voxel lies above it" in result.warnings


@pytest.mark.parametrize("mode, value", [("modality", 300.0), ("modality", -1024.0), ("normalized", 0.5), ("otsu", None)])
def test_a_threshold_inside_the_range_adds_no_warning(mode, value):
    assert measure(SEED_FILE, mode, value).only.warnings == ()
