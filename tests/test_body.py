"""The body (couch and air left out), the range mode and the slices in stack order, on real and synthetic series."""
import io
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from volumes.imaging.body import Body, find_body, measure_body, value_indexer
from volumes.imaging.grouping import split_into_volumes
from volumes.imaging.histograms import MeasurementError, histogram_volume
from volumes.imaging.measure import measure_histogram
from volumes.imaging.reader import read_images
from volumes.imaging.slices import iter_slice_modality, slice_modality, slice_stack, time_point_stacks
from volumes.imaging.sources import collect_paths
from volumes.imaging.thresholds import InvalidThreshold, ThresholdRequest

from .conftest import PHANTOM_BODY_VOXELS, PHANTOM_DIR, PHANTOM_VOXELS, SEED_FILE
from .phantoms import Box, Phantom, SeriesSpec, write_series, write_time_points

# A body (a box of soft tissue, walls at least 5 voxels thick, around an air-filled hole) and, three
# rows of air below it, a couch (a denser plate) under every slice; a far corner holds a speck of tissue.
BODY = Box(slices=(0, 8), rows=(1, 15), columns=(1, 19), value=40.0)
HOLE = Box(slices=(2, 6), rows=(6, 10), columns=(7, 13), value=-1000.0)
COUCH = Box(slices=(0, 8), rows=(18, 24), columns=(0, 24), value=300.0)
SPECK = Box(slices=(3, 4), rows=(0, 1), columns=(23, 24), value=500.0)
PATIENT = Phantom(slices=8, rows=24, columns=24, background=-1000.0, boxes=(BODY, HOLE, COUCH, SPECK))


# The same patient a moment later: the body narrower by a column (walls still 5 voxels thick), the couch unchanged.
BODY_LATER = Box(slices=(0, 8), rows=(1, 15), columns=(1, 18), value=40.0)
PATIENT_LATER = Phantom(slices=8, rows=24, columns=24, background=-1000.0, boxes=(BODY_LATER, HOLE, COUCH, SPECK))


def read_volume(folder: Path):
    sources = collect_paths([folder])
    images = read_images(sources, histograms=True).images
    [volume] = split_into_volumes(images)
    return volume


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    volume = read_volume(Path(write_series(tmp_path_factory.mktemp("patient"), SeriesSpec(phantom=PATIENT))[0]).parent)
    return volume, histogram_volume(volume)


def test_slices_come_in_the_stack_order_not_the_file_order(patient):
    volume, _ = patient
    stack = slice_stack(volume)
    expected = PATIENT.modality()
    assert stack.count == PATIENT.slices
    for number, modality in enumerate(iter_slice_modality(stack)):
        assert np.array_equal(modality, expected[number])
    assert np.array_equal(slice_modality(stack, 3), expected[3])
    assert np.allclose(np.diff(stack.positions_mm), 2.5)


def test_body_only_leaves_out_the_couch_and_the_specks_but_counts_inside_the_body(patient):
    volume, histogram = patient
    everything, _ = measure_histogram(histogram, ThresholdRequest("modality", 0.0))
    assert everything.voxels_above == BODY.voxels - HOLE.voxels + COUCH.voxels + SPECK.voxels

    body, inside = measure_body(histogram, time_point_stacks(volume))
    only_body, _ = measure_histogram(inside, ThresholdRequest("modality", 0.0, body_only=True))
    assert only_body.voxels_above == BODY.voxels - HOLE.voxels
    assert only_body.body_only
    # The hole is inside the body: counted as soon as the threshold lies below air.
    air_too, _ = measure_histogram(inside, ThresholdRequest("modality", -1001.0, body_only=True))
    assert air_too.voxels_above == BODY.voxels
    # The normalised threshold still refers to the whole series' range.
    assert only_body.threshold == everything.threshold


def test_the_body_is_the_same_after_saving_and_loading(patient):
    volume, histogram = patient
    body, _ = measure_body(histogram, time_point_stacks(volume))
    again = Body.load(io.BytesIO(body.to_bytes()))
    modality = PATIENT.modality()[4]
    assert np.array_equal(again.mask(modality, 4), body.mask(modality, 4))
    assert again.mask(modality, 4).sum() == (BODY.rows[1] - BODY.rows[0]) * (BODY.columns[1] - BODY.columns[0])


def test_a_time_series_has_a_body_per_time_point_and_a_volume_inside_each(tmp_path):
    volume = read_volume(write_time_points(tmp_path, [PATIENT, PATIENT_LATER]))
    histogram = histogram_volume(volume)
    stacks = time_point_stacks(volume)
    assert [stack.count for stack in stacks] == [8, 8]

    body, inside = measure_body(histogram, stacks)
    result, _ = measure_histogram(inside, ThresholdRequest("modality", 0.0, body_only=True))
    everything, _ = measure_histogram(histogram, ThresholdRequest("modality", 0.0))
    couch_and_speck = COUCH.voxels + SPECK.voxels
    assert [p["voxels_above"] for p in everything.time_points] == [
        BODY.voxels - HOLE.voxels + couch_and_speck, BODY_LATER.voxels - HOLE.voxels + couch_and_speck
    ]
    assert [p["voxels_above"] for p in result.time_points] == [BODY.voxels - HOLE.voxels, BODY_LATER.voxels - HOLE.voxels]
    assert result.voxels_above == result.time_points[0]["voxels_above"]  # the headline is time point 1's
    assert [p["volume_mm3"] for p in result.time_points] == pytest.approx(
        [(BODY.voxels - HOLE.voxels) * 0.5 * 0.75 * 2.5, (BODY_LATER.voxels - HOLE.voxels) * 0.5 * 0.75 * 2.5]
    )
    # Slice k of time point 2 is slice 8 + k of the body: its own outline, not time point 1's.
    later = slice_modality(stacks[1], 4)
    assert body.mask(later, 8 + 4).sum() == (BODY_LATER.rows[1] - BODY_LATER.rows[0]) * (BODY_LATER.columns[1] - BODY_LATER.columns[0])
    assert np.array_equal(Body.load(io.BytesIO(body.to_bytes())).labels, body.labels)


def test_the_body_is_not_found_when_a_time_point_lost_slices_since_it_was_measured(tmp_path):
    volume = read_volume(write_time_points(tmp_path, [PATIENT, PATIENT_LATER]))
    histogram = histogram_volume(volume)
    first, second = time_point_stacks(volume)
    shorter = replace(second, slices=second.slices[:-1])
    with pytest.raises(MeasurementError, match="the time points have 8, 7 slices that can be read now, 8, 8 were measured"):
        measure_body(histogram, [first, shorter])


def test_a_body_joined_only_through_neighbouring_slices_is_one_component():
    # Two halves that never touch within a slice but overlap from one slice to the next.
    slices = [np.full((10, 10), -1000.0) for _ in range(3)]
    slices[0][0:6, 0:6] = 40.0
    slices[1][0:6, 3:9] = 40.0
    slices[2][4:10, 4:10] = 40.0
    body = find_body(iter(slices), -500.0)
    assert [len(body.slice_labels(n)) for n in range(3)] == [1, 1, 1]


def test_on_the_tilted_phantom_body_only_leaves_out_the_couch_that_above_half_counts():
    volume = read_volume(PHANTOM_DIR)
    histogram = histogram_volume(volume)
    everything, _ = measure_histogram(histogram, ThresholdRequest("normalized", 0.5))
    body, inside = measure_body(histogram, time_point_stacks(volume))
    only_body, _ = measure_histogram(inside, ThresholdRequest("normalized", 0.5, body_only=True))
    assert everything.voxels_above == PHANTOM_VOXELS
    assert only_body.voxels_above == PHANTOM_BODY_VOXELS == 957_148
    assert only_body.volume_mm3 == pytest.approx(528_116.448, abs=1e-3)
    # What was left out lies outside the head: in the middle slice, the couch's two arms at the sides.
    stack = slice_stack(volume)
    modality = slice_modality(stack, 27)
    left_out = (modality > everything.threshold_modality) & ~body.mask(modality, 27)
    columns = np.flatnonzero(left_out.any(axis=0))
    assert columns.min() < 60 and columns.max() > 450
    assert not left_out[200:300, 150:350].any()


def test_a_range_counts_above_the_lower_and_at_most_the_upper_bound(patient):
    _, histogram = patient
    result, _ = measure_histogram(histogram, ThresholdRequest.parse("modality", "0", default=0.5, upper="300"))
    assert result.voxels_above == BODY.voxels - HOLE.voxels + COUCH.voxels
    assert (result.threshold_upper_modality, result.threshold_modality) == (300.0, 0.0)
    # Over the series' range −1000 to 500: (0.6, 0.8] is (−100, 200] HU, the soft tissue alone.
    normalised, _ = measure_histogram(histogram, ThresholdRequest.parse("normalized", "0.6", default=0.5, upper="0.8"))
    assert normalised.voxels_above == BODY.voxels - HOLE.voxels
    assert normalised.threshold_upper_modality == pytest.approx(200.0)


@pytest.mark.parametrize(
    "mode, lower, upper, message",
    [
        ("modality", "300", "100", "the upper bound (100) must be above the lower threshold (300)"),
        ("normalized", "0.5", "1.5", "a normalised upper bound lies between 0 and 1, not 1.5"),
        ("otsu", None, "100", "an upper bound needs a threshold you type"),
        ("modality", "0", "lots", "the upper bound 'lots' is not a number"),
    ],
)
def test_a_range_that_makes_no_sense_is_refused_with_a_reason(mode, lower, upper, message):
    with pytest.raises(InvalidThreshold, match=re.escape(message)) as caught:
        ThresholdRequest.parse(mode, lower, default=0.5, upper=upper)
    assert caught.value.field == "upper"


def test_the_seed_file_still_gives_the_challenge_figures():
    volume = read_volume(SEED_FILE)
    result, _ = measure_histogram(histogram_volume(volume), ThresholdRequest.parse("normalized", "0.5", default=0.5, upper=""))
    assert (result.voxels_above, result.threshold_upper) == (50_080, None)
    assert result.volume_mm3 == 143_280.029296875


@pytest.mark.parametrize(
    "values",
    [np.array([-1024.0, -1000.0, -3.0, 0.0, 40.0, 3071.0]), np.array([-2.5, 0.125, 0.5, 7.75]), np.array([0.0, 2e6])],
    ids=["whole HU (table)", "fractions (search)", "wide span (search)"],
)
def test_the_value_indexer_finds_each_value_where_a_binary_search_does(values):
    wanted = np.random.default_rng(3).choice(values, size=(40, 30))
    assert np.array_equal(value_indexer(values)(wanted), np.searchsorted(values, wanted))
