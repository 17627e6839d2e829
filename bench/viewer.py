"""Benchmark of what the result page's viewer asks the server for, on the 600-slice series of bench/phantom.py.

  slices      render a slice from its stored file (read, window, PNG) and its mask, uncached
  live        one step of the live threshold: the cached histograms, measured (what live.json does)
  body        find the body (couch and air left out) and its histograms: time, and the peak memory of a
              fresh process above its size once the series' histograms are in memory (the peak is reset
              then, through /proc/self/clear_refs, so reading the series does not count)

Run: .venv/bin/python bench/viewer.py [--slices 600]
"""
from __future__ import annotations

import argparse
import io
import json
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402
import phantom  # noqa: E402

from volumes.imaging.body import measure_body  # noqa: E402
from volumes.imaging.grouping import split_into_volumes  # noqa: E402
from volumes.imaging.histograms import VolumeHistogram, histogram_volume  # noqa: E402
from volumes.imaging.measure import measure_histogram  # noqa: E402
from volumes.imaging.reader import read_images
from volumes.imaging.render import grey_slice_png, mask_png  # noqa: E402
from volumes.imaging.slices import slice_modality, slice_stack, time_point_stacks  # noqa: E402
from volumes.imaging.sources import collect_paths  # noqa: E402
from volumes.imaging.thresholds import ThresholdRequest  # noqa: E402


def load(folder: Path):
    images = read_images(collect_paths([folder]), histograms=True).images
    [volume] = split_into_volumes(images)
    return volume, histogram_volume(volume)


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Start the peak (VmHWM) again from the present size (Linux ≥ 4.0), so that reading the series
    before is not counted in it; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child_body(folder: Path) -> dict:
    volume, histogram = load(folder)
    stacks = time_point_stacks(volume)
    before = status_mb("VmRSS")
    own_peak = reset_peak()
    started = time.perf_counter()
    body, inside = measure_body(histogram, stacks)
    seconds = time.perf_counter() - started
    # Without the reset, the peak of the whole process: an upper bound (reading the series may have peaked higher).
    peak = status_mb("VmHWM") if own_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    everything = measure_histogram(histogram, ThresholdRequest("normalized", 0.5))[0].voxels_above
    only_body = measure_histogram(inside, ThresholdRequest("normalized", 0.5, body_only=True))[0].voxels_above
    return {"seconds": seconds, "peak_above_mb": peak - before, "before_mb": before, "own_peak": own_peak,
            "voxels": everything, "body_voxels": only_body, "body_bytes": len(body.to_bytes()) + len(inside.to_bytes())}


def percentiles(times_s: list[float]) -> str:
    ms = np.array(times_s) * 1000
    return f"median {np.median(ms):.1f} ms, 90th percentile {np.percentile(ms, 90):.1f} ms, slowest {ms.max():.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--child-body", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_body:
        print(json.dumps(child_body(args.child_body)))
        return
    folder = phantom.series_folder(args.out, args.slices)
    volume, histogram = load(folder)
    stack = slice_stack(volume)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {stack.count} slices of {stack.shape[1]}×{stack.shape[0]}")

    numbers = list(range(0, stack.count, max(1, stack.count // 60)))
    grey, masks = [], []
    threshold = measure_histogram(histogram, ThresholdRequest("normalized", 0.5))[0].threshold_modality
    for number in numbers:
        t0 = time.perf_counter()
        modality = slice_modality(stack, number)
        grey_slice_png(modality, 40.0, 400.0)
        t1 = time.perf_counter()
        mask_png(slice_modality(stack, number) > threshold)
        t2 = time.perf_counter()
        grey.append(t1 - t0)
        masks.append(t2 - t1)
    print(f"  grey slice from its file (read, window, PNG), uncached: {percentiles(grey)}")
    print(f"  mask of a slice (read, compare, PNG), uncached:         {percentiles(masks)}")

    stored = histogram.to_bytes()
    t0 = time.perf_counter()
    VolumeHistogram.load(io.BytesIO(stored))
    first_load = time.perf_counter() - t0
    cached = pickle.dumps(histogram)
    steps = []
    for value in np.linspace(-900, 1500, 41):
        t0 = time.perf_counter()
        measure_histogram(pickle.loads(cached), ThresholdRequest("modality", float(value)))
        steps.append(time.perf_counter() - t0)
    print(f"  live threshold step (the cached histograms unpickled + measured): {percentiles(steps)}; "
          f"the first step loads the {len(stored) / 1024:.0f} KiB .npz: {first_load * 1000:.1f} ms")

    body = json.loads(subprocess.run(
        [sys.executable, __file__, "--child-body", str(folder)],
        check=True, capture_output=True, text=True,
    ).stdout)
    print(f"  body only: found in {body['seconds']:.1f} s; peak memory {body['peak_above_mb']:.0f} MB above the process "
          f"({body['before_mb']:.0f} MB) holding the series' histograms "
          f"({'its own peak: VmHWM reset before it' if body['own_peak'] else 'upper bound: the whole process peak'}); "
          f"stored {body['body_bytes'] / 1024:.0f} KiB")
    print(f"  above 0.5: {body['voxels']:,} voxels; body only: {body['body_voxels']:,} (the table left out)")


if __name__ == "__main__":
    main()
