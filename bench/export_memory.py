"""Time and peak memory of the mask exports (NIfTI, DICOM SEG) on the benchmark's series of 150 and 600 slices.

Each export runs in a process of its own, after the series is measured there: the figure is the
peak resident memory of the export above the process's peak before it (ru_maxrss), and the time
from reading the pixels again to the file's bytes. `python bench/export_memory.py [--slices 150 600]`
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import phantom  # noqa: E402


def export_once(folder: Path, kind: str) -> None:
    import highdicom  # noqa: F401  (imported before measuring: its import is not the export's memory)
    import nibabel  # noqa: F401

    from volumes.imaging import export
    from volumes.imaging.grouping import split_into_volumes
    from volumes.imaging.histograms import histogram_volume
    from volumes.imaging.measure import measure_histogram
    from volumes.imaging.thresholds import ThresholdRequest
    from volumes.imaging.reader import read_images
    from volumes.imaging.sources import collect_paths

    (volume,) = split_into_volumes(read_images(collect_paths([folder]), histograms=True).images)
    histogram = histogram_volume(volume)
    result, above = measure_histogram(histogram, ThresholdRequest(value=0.5))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    stack = export.stack_mask(volume, histogram, above)
    if kind == "nifti":
        content = export.nifti_bytes(stack)
    else:
        content = export.seg_bytes(stack, label=export.mask_label(result), description="benchmark")
    seconds = time.perf_counter() - start
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert stack.voxels == result.voxels_above
    print(f"{kind:6s} {stack.mask.shape[0]:4d} slices  {seconds:6.2f} s  peak +{peak_mb:5.0f} MB  "
          f"mask {stack.mask.nbytes / 2**20:4.0f} MiB  file {len(content) / 2**20:6.1f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, nargs="+", default=[150, 600])
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        export_once(Path(args.child[0]), args.child[1])
        return
    for slices in args.slices:
        folder = phantom.series_folder(args.out, slices)
        for kind in ("nifti", "seg"):
            subprocess.run([sys.executable, __file__, "--child", str(folder), kind], check=True)


if __name__ == "__main__":
    main()
