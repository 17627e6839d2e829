"""Thresholds, counts, volumes and statistics; and issue 4's promise: the histogram path counts
exactly the voxels of the simple definition, bit for bit, in every mode, on shared and synthetic series.

The simple definition is written out here: stack every slice's pixels as pydicom decodes them,
convert to float64 modality values (stored × slope + intercept), normalise over the whole series,
compare with `>`.
"""
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, JPEGLSLossless, RLELossless

from volumes import services
from volumes.imaging.grouping import VolumeImages, split_into_volumes
from volumes.imaging.histograms import VolumeHistogram, histogram_volume
from volumes.imaging.measure import measure_histogram
from volumes.imaging.reader import read_images
from volumes.imaging.sources import collect_paths
from volumes.imaging.thresholds import AUTOMATIC_MODES, ThresholdRequest

from .conftest import (
    PHANTOM_DIR,
    PHANTOM_VOLUME_MM3,
    PHANTOM_VOXELS,
    SEED_FILE,
    SEED_VOLUME_MM3,
    SEED_VOXELS,
)
from .phantoms import (
    CORONAL,
    Box,
    Phantom,
    SeriesSpec,
    write_colour,
    write_enhanced,
    write_rt_dose,
    write_series,
)
from .pipeline import measure

PIXEL_MM2 = 0.5 * 0.75


# --- the simple definition ------------------------------------------------------------------------


def simple_modality_volume(paths: list[Path]) -> np.ndarray:
    """Every frame of every image file under `paths`, as float64 modality values, stacked."""
    slices = []
    for path in sorted(p for root in paths for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            continue
        if "PixelData" not in ds:
            continue
        frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
        for index, frame in enumerate(frames):
            slope, intercept = simple_rescale(ds, index)
            slices.append(frame.astype(np.float64) * slope + intercept)
    return np.stack(slices)


def simple_rescale(ds: pydicom.Dataset, frame: int) -> tuple[float, float]:
    """Rescale Slope and Intercept of a frame: per-frame functional group, else the file's; RT Dose's scaling."""
    source = ds
    if "PerFrameFunctionalGroupsSequence" in ds:
        group = ds.PerFrameFunctionalGroupsSequence[frame]
        if "PixelValueTransformationSequence" in group:
            source = group.PixelValueTransformationSequence[0]
    slope = source.get("RescaleSlope", ds.get("DoseGridScaling", 1))
    return float(slope), float(source.get("RescaleIntercept", 0))


def simple_count(volume: np.ndarray, mode: str, value: float | None, reported_modality: float) -> int:
    """Voxels above the threshold by the simple definition; automatic modes use the threshold reported."""
    if mode == "normalized":
        normalised = (volume - volume.min()) / (volume.max() - volume.min())
        return int(np.count_nonzero(normalised > value))
    if mode == "modality":
        return int(np.count_nonzero(volume > value))
    return int(np.count_nonzero(volume > reported_modality))


# --- the series it is checked on ------------------------------------------------------------------


def rewrite_rescale(paths: list[Path], slopes: list[str], intercepts: list[str]) -> list[Path]:
    """Give each file awkward decimal rescale values, so modality values are not whole numbers."""
    for path, slope, intercept in zip(paths, slopes, intercepts):
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.save_as(path)
    return paths


NOISY = Phantom(rows=24, columns=20, noise_steps=40, noise_step=4.0, seed=5)
RESCALED = dict(slopes=(1.0, 2.0, 4.0, 0.5, 1.0, 2.0), intercepts=-1000.0)


def synthetic(folder: Path, kind: str) -> list[Path]:
    if kind == "noisy-signed-rescale-per-slice":
        return write_series(folder, SeriesSpec(phantom=NOISY, signed=True, **RESCALED))
    if kind == "decimal-rescale":
        paths = write_series(folder, SeriesSpec(phantom=NOISY, signed=True))
        return rewrite_rescale(paths, ["0.3", "1.7", "0.0123", "2.5", "0.3", "1"], ["-1024.5", "0.1", "-3", "7.25", "-1024.5", "0"])
    if kind == "unsigned-12-of-16-bits-garbage":
        return write_series(folder, SeriesSpec(phantom=NOISY, signed=False, bits_stored=12, garbage_bits=True, intercepts=-1200.0))
    if kind == "8-bit":
        phantom = replace(NOISY, noise_steps=3, noise_step=10.0)
        return write_series(folder, SeriesSpec(phantom=phantom, signed=False, bits_allocated=8, slopes=10.0, intercepts=-1100.0))
    if kind == "monochrome1-big-endian":
        return write_series(folder, SeriesSpec(phantom=NOISY, photometric="MONOCHROME1", transfer_syntax=ExplicitVRBigEndian))
    if kind == "jpeg-ls":
        return write_series(folder, SeriesSpec(phantom=NOISY, transfer_syntax=JPEGLSLossless, **RESCALED))
    if kind == "rle-coronal":
        return write_series(folder, SeriesSpec(phantom=NOISY, transfer_syntax=RLELossless, orientation=CORONAL))
    if kind == "enhanced-ct":
        return [write_enhanced(folder / "enhanced.dcm", SeriesSpec(phantom=NOISY, signed=True, **RESCALED))]
    if kind == "rt-dose":
        dose = Phantom(rows=24, columns=20, background=30.0, boxes=(Box((1, 5), (2, 9), (2, 8), 60.0),), noise_steps=25, noise_step=1.0, seed=2)
        spec = SeriesSpec(phantom=dose, signed=False, bits_allocated=32)
        path = write_rt_dose(folder / "dose.dcm", spec, dose_grid_scaling=1.0, absolute=True)
        ds = pydicom.dcmread(path)
        ds.DoseGridScaling = "3.1e-05"  # a typical scaling: doses that are not whole numbers
        ds.save_as(path)
        return [path]
    raise ValueError(kind)


SYNTHETIC = [
    "noisy-signed-rescale-per-slice",
    "decimal-rescale",
    "unsigned-12-of-16-bits-garbage",
    "8-bit",
    "monochrome1-big-endian",
    "jpeg-ls",
    "rle-coronal",
    "enhanced-ct",
    "rt-dose",
]


@dataclass(frozen=True)
class Checked:
    histogram: VolumeHistogram
    reference: np.ndarray  # the simple definition's modality values
    volume: VolumeImages  # its images, histogrammed while they were read (where the pixels are uncompressed)


@pytest.fixture(scope="module", params=["seed-file", "ct-phantom-philips", *SYNTHETIC])
def checked(request, tmp_path_factory) -> Checked:
    if request.param == "seed-file":
        paths = [SEED_FILE]
    elif request.param == "ct-phantom-philips":
        paths = [PHANTOM_DIR]
    else:
        paths = synthetic(tmp_path_factory.mktemp(request.param), request.param)
    sources = collect_paths(paths)
    images = read_images(sources, processes=2, histograms=True).images
    [volume] = split_into_volumes(images)
    return Checked(
        histogram=histogram_volume(volume, processes=2), reference=simple_modality_volume(paths), volume=volume
    )


@pytest.mark.parametrize(
    "mode, value",
    [
        ("normalized", 0.0),
        ("normalized", 0.1),
        ("normalized", 1 / 3),
        ("normalized", 0.5),
        ("normalized", 0.52),
        ("normalized", 0.9),
        ("normalized", 1.0),
        ("modality", 0.0),
        ("modality", 40.0),
        ("modality", -1000.0),
        ("modality", 1.7),
        *((mode, None) for mode in AUTOMATIC_MODES),
    ],
)
def test_the_histogram_path_counts_exactly_the_voxels_of_the_simple_definition(checked, mode, value):
    result, _ = measure_histogram(checked.histogram, ThresholdRequest(mode=mode, value=value))
    assert result.total_voxels == checked.reference.size
    assert result.voxels_above == simple_count(checked.reference, mode, value, result.threshold_modality)


def test_the_otsu_threshold_splits_the_series_where_the_simple_definition_counts_both_sides(checked):
    result, _ = measure_histogram(checked.histogram, ThresholdRequest(mode="otsu"))
    low, high = checked.reference.min(), checked.reference.max()
    assert low < result.threshold_modality < high
    assert 0 < result.voxels_above < checked.reference.size
    assert result.threshold == pytest.approx((result.threshold_modality - low) / (high - low), rel=1e-12)


def test_histograms_made_while_reading_equal_those_made_by_the_measurement(checked):
    later = VolumeImages(
        images=tuple(replace(image, histograms=None) for image in checked.volume.images), part=checked.volume.part
    )
    assert histogram_volume(later).to_bytes() == checked.histogram.to_bytes()


def test_a_stored_histogram_measures_exactly_like_the_one_it_was_saved_from(checked):
    loaded = VolumeHistogram.load(io.BytesIO(checked.histogram.to_bytes()))
    for request in (ThresholdRequest("normalized", 0.5), ThresholdRequest("modality", 0.0), ThresholdRequest("otsu")):
        assert measure_histogram(loaded, request)[0] == measure_histogram(checked.histogram, request)[0]


# --- the figures on known series ------------------------------------------------------------------


def test_the_seed_file_and_the_tilted_phantom_give_the_expected_figures():
    seed = measure(SEED_FILE).only
    assert (seed.voxels_above, seed.volume_mm3) == (SEED_VOXELS, SEED_VOLUME_MM3)
    outcome = measure(PHANTOM_DIR)
    assert (outcome.only.slices, outcome.only.voxels_above) == (54, PHANTOM_VOXELS)
    assert outcome.only.volume_mm3 == pytest.approx(PHANTOM_VOLUME_MM3, abs=0.005)
    assert outcome.only.warnings[0].startswith("gantry tilt of 18.5°")
    assert "DIRFILE" in outcome.skipped


@pytest.mark.parametrize(
    "mode, value, voxels, threshold, threshold_modality",
    [
        ("normalized", 0.5, 168, 0.5, 0.0),
        ("normalized", 0.52, 12, 0.52, 40.0),  # 40 normalises to exactly 0.52: not above
        ("normalized", 0.0, 168, 0.0, -1000.0),
        ("normalized", 1.0, 0, 1.0, 1000.0),
        ("modality", 39.999, 168, 0.5199995, 39.999),
        ("modality", 40.0, 12, 0.52, 40.0),
        ("modality", -1000.0, 168, 0.0, -1000.0),
        ("modality", 1000.0, 0, 1.0, 1000.0),
        ("modality", -5000.0, 6 * 12 * 10, -2.0, -5000.0),
    ],
)
def test_normalised_and_modality_thresholds_count_the_voxels_strictly_above(tmp_path, mode, value, voxels, threshold, threshold_modality):
    write_series(tmp_path, SeriesSpec())
    result = measure(tmp_path, mode, value).only
    assert result.voxels_above == voxels
    assert result.volume_mm3 == pytest.approx(voxels * PIXEL_MM2 * 2.5)
    assert result.threshold == pytest.approx(threshold)
    assert result.threshold_modality == pytest.approx(threshold_modality)
    assert result.total_voxels == 6 * 12 * 10


@pytest.mark.parametrize("mode", AUTOMATIC_MODES)
def test_automatic_thresholds_fall_between_the_background_and_the_object_and_are_reported_in_both_units(tmp_path, mode):
    write_series(tmp_path, SeriesSpec())
    result = measure(tmp_path, mode, None).only
    assert -1000.0 < result.threshold_modality < 1000.0
    assert result.threshold == pytest.approx((result.threshold_modality + 1000.0) / 2000.0)
    values = Phantom().modality()
    assert result.voxels_above == int((values > result.threshold_modality).sum())
    assert result.voxels_above in (168, 12)


def test_statistics_are_those_of_the_voxels_above(tmp_path):
    write_series(tmp_path, SeriesSpec())
    stats = measure(tmp_path, "modality", 0.0).only.stats
    above = [40.0] * (168 - 12) + [1000.0] * 12
    mean = sum(above) / 168
    assert stats == {
        "mean": pytest.approx(mean, rel=1e-12),
        "std": pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in above) / 168), rel=1e-12),
        "min": 40.0,
        "max": 1000.0,
        "median": 40.0,
    }
    assert measure(tmp_path, "modality", 1000.0).only.stats is None


def test_paths_measure_reports_every_volume_and_every_file_left_out(tmp_path, settings):
    """The `measure` command's service, without the database: 30 slices (decoded by two processes),
    a localiser in the same series, a colour image and a text file."""
    settings.VOLUMES_DECODE_PROCESSES = 2
    uid = "1.2.826.0.1.3680043.10.1234.3"
    long_phantom = Phantom(slices=30, boxes=(Box((5, 25), (2, 9), (2, 8), 40.0),))
    write_series(tmp_path / "study", SeriesSpec(phantom=long_phantom, series_uid=uid))
    localiser = Phantom(slices=1, rows=16, columns=10, boxes=(Box((0, 1), (0, 16), (0, 5), 1000.0),))
    write_series(tmp_path / "study", SeriesSpec(phantom=localiser, orientation=CORONAL, prefix="LOC", series_uid=uid))
    write_colour(tmp_path / "study" / "photo.dcm", "RGB")
    (tmp_path / "study" / "notes.txt").write_text("not an image")
    report = services.paths_measure(paths=[tmp_path / "study"], request=ThresholdRequest("normalized", 0.5))
    by_description = {result.description: result for result in report.series}
    axial = by_description["phantom [axial, 10×12]"]
    assert (axial.slices, axial.voxels_above) == (30, 20 * 42)
    assert axial.volume_mm3 == pytest.approx(20 * 42 * PIXEL_MM2 * 2.5)
    coronal = by_description["phantom [coronal, 10×16]"]
    assert (coronal.slices, coronal.voxels_above, coronal.volume_mm3) == (1, 80, pytest.approx(80 * PIXEL_MM2 * 2.5))
    assert {skipped.name: skipped.reason for skipped in report.skipped} == {
        "study/photo.dcm": "a colour image (RGB): colours cannot be thresholded as intensities",
        "study/notes.txt": "not a DICOM file (no DICOM preamble or header)",
    }
