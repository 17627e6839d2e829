"""The benchmark counts right: its variants agree on a small series of its own generator.

Only correctness is checked here; times and memory are the benchmark's business (`make bench`).
SimpleITK is a benchmark-only dependency, so its variant is checked through the count it makes of
the volume SimpleITK reads (modality values as integers), on the volume pydicom reads.
"""
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/run.py")


@pytest.fixture(scope="module")
def series(bench, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ct-12")
    bench.phantom.write_series(folder, 12)
    return folder


@pytest.mark.parametrize("counting", ["measured", "bincount", "sorting"])
def test_ours_the_obvious_implementation_and_the_floor_count_the_same_voxels(bench, series, counting):
    runtime = bench.new_runtime(counting)
    try:
        counts = {variant: bench.COUNTERS[variant](series, runtime) for variant in ("ours", "obvious", "floor")}
    finally:
        runtime.close_pools()
    assert len(set(counts.values())) == 1, counts
    assert 0 < counts["ours"] < 12 * bench.phantom.ROWS * bench.phantom.COLUMNS


def test_the_count_made_of_simpleitks_volume_is_the_simple_definition(bench, series):
    datasets = [pydicom.dcmread(path) for path in sorted(series.iterdir())]
    modality = np.stack([ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept) for ds in datasets])
    assert bench.count_above_normalised(modality, bench.THRESHOLD) == bench.count_obvious(series, None)
    assert bench.count_above_normalised(modality.astype(np.float64), bench.THRESHOLD) == bench.count_obvious(series, None)


@pytest.fixture(scope="module")
def compressed():
    return load_script("bench/compressed.py")


@pytest.mark.parametrize("shape, precision", [((7, 9), 12), ((16, 16), 16), ((5, 3), 2), ((20, 31), 8)])
def test_the_benchmarks_jpeg_lossless_encoder_writes_what_the_tests_encoder_writes(compressed, shape, precision):
    from tests.jpeg_encoders import encode_jpeg_lossless

    pixels = np.random.default_rng(precision).integers(0, 1 << precision, shape).astype(np.uint16)
    pixels[0, :2] = [0, (1 << precision) - 1]  # the largest differences
    assert compressed.encode_jpeg_lossless(pixels, precision) == encode_jpeg_lossless(pixels, precision)


@pytest.mark.parametrize("syntax", ["rle", "jpeg-2000", "jpeg-ls", "jpeg-lossless"])
def test_ours_and_the_decoder_alone_count_the_compressed_series_as_the_obvious_implementation(
    compressed, bench, tmp_path, syntax
):
    folder = tmp_path / syntax
    folder.mkdir()
    compressed.write_compressed_series(folder, 3, compressed.SYNTAXES[syntax])
    assert {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in folder.iterdir()} == {compressed.SYNTAXES[syntax]}
    runtime = bench.new_runtime("measured")
    try:
        ours = bench.count_ours(folder, runtime)
    finally:
        runtime.close_pools()
    assert ours == compressed.count_decoded(folder, None) == bench.count_obvious(folder, None) > 0


@pytest.fixture(scope="module")
def time_series_bench():
    return load_script("bench/time_series.py")


def test_the_time_series_benchmark_s_ways_count_every_time_point_alike(time_series_bench, tmp_path):
    from tests.time_series_writer import write_time_series

    boxes = write_time_series(tmp_path, time_points=5, slices=4)
    runtime = time_series_bench.run.new_runtime("bincount")
    try:
        counts = {variant: time_series_bench.COUNTERS[variant](tmp_path, runtime) for variant in ("ours", "obvious", "floor")}
    finally:
        runtime.close_pools()
    assert counts == {variant: 4 * sum(boxes) for variant in counts}  # every box of 100 is above 0.5 of 0..100
