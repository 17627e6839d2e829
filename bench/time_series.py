"""A time series of 200 time points × 40 slices (8,000 files of 16×16) measured side by side with other ways.

    .venv/bin/python bench/time_series.py [--time-points 200] [--slices 40] [--repeats 5] [--budget 20]

Writes the series once (tests/time_series_writer.py: one file made with pydicom, the others its bytes
with their per-file values) into bench/out/, then times, each in a process of its own and
interleaved in rounds as bench/run.py does:

  ours       read_images → split_into_volumes → histogram_volume → measure_histogram, as the worker
             and `manage.py measure` run it: one volume with a volume per time point
  SimpleITK  ImageSeriesReader (GDCM file names, Execute) of all 8,000 files, then numpy's count
  obvious    pydicom dcmread of every file, stack, float64, normalise, np.where, sum
  floor      read the files' bytes and histogram their pixel data, one process

Every variant counts the voxels above 0.5 normalised over the whole series, every time point
together (ours: the sum over its time points), and all must agree. The ratios are judged against
bench/run.py's targets for a CT series (issue 10: "inside the benchmark's ratios").
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import numpy as np  # noqa: E402
import pydicom  # noqa: E402

import run  # noqa: E402
from tests import time_series_writer as writer  # noqa: E402
from volumes.imaging.grouping import split_into_volumes  # noqa: E402
from volumes.imaging.histograms import histogram_volume  # noqa: E402
from volumes.imaging.measure import measure_histogram  # noqa: E402
from volumes.imaging.pixels import read_into  # noqa: E402
from volumes.imaging.reader import read_images  # noqa: E402
from volumes.imaging.runtime import ReadingRuntime  # noqa: E402
from volumes.imaging.sources import collect_paths  # noqa: E402
from volumes.imaging.thresholds import NORMALIZED, ThresholdRequest  # noqa: E402

THRESHOLD = run.THRESHOLD


def count_ours(folder: Path, runtime: ReadingRuntime) -> int:
    processes = os.cpu_count() or 1
    images = read_images(collect_paths([folder]), processes, histograms=True, runtime=runtime).images
    (volume,) = split_into_volumes(images)
    if len(volume.time_points) < 2:
        raise SystemExit(f"ours found {len(volume.time_points)} time points")
    histogram = histogram_volume(volume, processes=processes, runtime=runtime)
    result, _ = measure_histogram(histogram, ThresholdRequest(NORMALIZED, THRESHOLD))
    return sum(point["voxels_above"] for point in result.time_points)


def count_obvious(folder: Path, runtime: ReadingRuntime | None) -> int:
    volume = np.stack([pydicom.dcmread(path).pixel_array for path in sorted(folder.iterdir())]).astype(np.float64)
    normalised = (volume - volume.min()) / (volume.max() - volume.min())
    return int(np.where(normalised > THRESHOLD, 1, 0).sum())


def count_floor(folder: Path, runtime: ReadingRuntime) -> int:
    """Each file's bytes read, its pixel data (at its end) histogrammed as ours does; then arithmetic."""
    pixel_bytes = writer.ROWS * writer.COLUMNS * 2
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path in sorted(folder.iterdir()):
        with open(path, "rb", buffering=0) as f:
            data = np.empty(os.fstat(f.fileno()).st_size, dtype=np.uint8)
            read_into(f, data)
        present, present_counts = runtime.word_counting.count(data[len(data) - pixel_bytes :].view("<u2"))
        counts[present] += present_counts
    stored = np.flatnonzero(counts).astype(np.float64)
    low, high = stored[0], stored[-1]
    return int(counts[np.flatnonzero(counts)][(stored - low) / (high - low) > THRESHOLD].sum())


COUNTERS = {"ours": count_ours, "simpleitk": run.count_simpleitk, "obvious": count_obvious, "floor": count_floor}


def series_folder(out: Path, time_points: int, slices: int) -> Path:
    folder = out / f"time-series-{time_points}x{slices}"
    if not folder.is_dir() or sum(1 for _ in folder.iterdir()) != time_points * slices:
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink()
        writer.write_time_series(folder, time_points=time_points, slices=slices)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-points", type=int, default=200)
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant, at most")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed runs per variant, about")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="where the series is written")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--counting", default="measured", help=argparse.SUPPRESS)
    parser.add_argument("--headers", default="follow", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run.child_variant(args.child[0], Path(args.child[1]), args.counting, args.headers, counters=COUNTERS)
        return

    print("\n".join(run.machine_lines()), flush=True)
    t0 = time.perf_counter()
    folder = series_folder(args.out, args.time_points, args.slices)
    files = args.time_points * args.slices
    print(f"series    {args.time_points} time points × {args.slices} slices of {writer.ROWS}×{writer.COLUMNS} "
          f"({files:,} files) in {folder.relative_to(BENCH.parent)} ({time.perf_counter() - t0:.1f} s to write or check)")
    results = run.time_variants(folder, args.repeats, args.budget, ["--counting", "measured", "--headers", "follow"],
                                script=__file__)
    ours = results["ours"]
    print(f"\n  {'':10} {'voxels > 0.5':>13} {'best s':>8} {'median s':>9} {'runs':>5} {'÷ ours':>7} {'peak MB':>8}")
    for variant in run.VARIANTS:
        r = results[variant]
        print(f"  {run.LABELS[variant]:10} {r['voxels']:>13,} {r['best_s']:>8.3f} {r['median_s']:>9.3f} {r['runs']:>5} "
              f"{r['best_s'] / ours['best_s']:>7.2f} {r['peak_mb']:>8.0f}")
    print(f"  ours starting its processes in the run: best {ours['cold_best_s']:.3f} s, median {ours['cold_median_s']:.3f} s")
    print(f"  ours counted pixel words by {ours['counting']}: {ours['counting_reason']}")
    print(f"  voxel counts agree: {'yes' if len({r['voxels'] for r in results.values()}) == 1 else 'NO'}")
    ratios = [
        ("ours vs SimpleITK", results["simpleitk"]["best_s"] / ours["best_s"], "faster", run.TARGET_VS_SIMPLEITK, True),
        ("ours vs obvious", results["obvious"]["best_s"] / ours["best_s"], "faster", run.TARGET_VS_OBVIOUS, True),
        ("ours vs floor", ours["best_s"] / results["floor"]["best_s"], "its time", run.TARGET_VS_FLOOR, False),
    ]
    for name, ratio, unit, target, at_least in ratios:
        ok = ratio >= target if at_least else ratio <= target
        print(f"  {name:18} {ratio:5.2f}× {unit:9} (bench/run.py's target {'≥' if at_least else '≤'} {target:g}×: "
              f"{run.verdict(ok)})")


if __name__ == "__main__":
    main()
