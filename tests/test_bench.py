"""The benchmark counts right: its variants agree on a small series of its own generator.

Only correctness is checked here; times and memory are the benchmark's business (`make bench`).
SimpleITK is a benchmark-only dependency, so its variant is checked through the count it makes of
the volume SimpleITK reads (modality values as integers), on the volume pydicom reads.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pydicom
import pytest

BENCH_RUN = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH_RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
