"""How fast and how small: measuring a CT series at a threshold, side by side with other ways to do it.

    make bench                      # installs requirements-bench.txt, then runs this
    .venv/bin/python bench/run.py [--sizes 150 600] [--repeats 5] [--budget 10]
                                  [--counting measured|bincount|sorting] [--headers follow|walk|pydicom]

Generates its own series (bench/phantom.py: 512×512 16-bit uncompressed CT, Rescale Intercept −1024)
into bench/out/, then for each size runs, each in a fresh process:

  ours       the project's pipeline: read_images → split_into_volumes → histogram_volume → measure_histogram
  SimpleITK  ImageSeriesReader (GDCM file names, Execute), then the voxels above the threshold, counted with numpy
  obvious    pydicom dcmread of every file, stack, float64, rescale, normalise, np.where, sum
  floor      read the files' bytes and histogram their pixel data, nothing else (one process, the
             histogram made as ours makes it)

All must count the same voxels above 0.5 (normalised over the series). Each variant runs in a process
of its own, warmed up once (so the page cache is warm, and ours has started its reading processes,
as a worker has after its first series); then --repeats rounds each time every variant
once, in turn, so that all of them see the same drifts of the machine's speed. Times are the best
(and the median) of those runs; a variant whose runs add up to --budget seconds sits out the rest.
In each round ours also runs once after stopping its processes: what a new worker's first series costs.
Peak memory is the process's peak RSS (VmHWM) minus its RSS once it has imported every module used
here and done nothing else (an idle worker); "workers" is the largest peak RSS of the processes it
started minus that of a process forked from it that did nothing. The targets of issue 4 are judged
on the largest series (600 slices); the smaller one shows how the figures scale.
Then re-measuring a stored series: its VolumeHistogram saved as .npz, loaded, measured in every mode
and drawn (preview_png), without reading a pixel.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import numpy as np  # noqa: E402
import pydicom  # noqa: E402

import phantom  # noqa: E402
from volumes.imaging.grouping import split_into_volumes  # noqa: E402
from volumes.imaging.histograms import VolumeHistogram, histogram_volume  # noqa: E402
from volumes.imaging.measure import measure_histogram  # noqa: E402
from volumes.imaging.thresholds import AUTOMATIC_MODES, MODALITY, NORMALIZED, ThresholdRequest  # noqa: E402
from volumes.imaging.pixels import read_into  # noqa: E402
from volumes.imaging import reader as reader_module  # noqa: E402
from volumes.imaging.runtime import ReadingRuntime  # noqa: E402
from volumes.imaging.word_counts import BINCOUNT, SORTING, forced_word_counting  # noqa: E402
from volumes.imaging.reader import read_images  # noqa: E402
from volumes.imaging.sources import collect_paths  # noqa: E402
from volumes.imaging.render import preview_png  # noqa: E402

THRESHOLD = 0.5
VARIANTS = ("ours", "simpleitk", "obvious", "floor")
LABELS = {"ours": "ours", "simpleitk": "SimpleITK", "obvious": "obvious", "floor": "floor"}
REMEASURE_REQUESTS = (
    (NORMALIZED, THRESHOLD),  # the count of the first measurement, again
    (NORMALIZED, 0.3),
    (MODALITY, 300.0),
    *((mode, None) for mode in AUTOMATIC_MODES),
)
# The targets of issue 4, as ratios within one run.
TARGET_VS_SIMPLEITK = 4.0
TARGET_VS_OBVIOUS = 15.0
TARGET_VS_FLOOR = 1.5
TARGET_MEMORY_MB = 100.0
TARGET_REMEASURE_MS = 50.0
MEMORY_GROWTH_TOLERANCE_MB = 20.0
"""Growth from the smallest to the largest series still counted as constant memory: the per-slice
histograms and headers grow with the slices (a few MB); the pixels (225 MiB more at 600) must not."""


# --- the four ways to count the voxels above the threshold -------------------------------------


def count_ours(folder: Path, runtime: ReadingRuntime) -> int:
    processes = os.cpu_count() or 1
    images = read_images(collect_paths([folder]), processes, histograms=True, runtime=runtime).images
    (volume,) = split_into_volumes(images)
    histogram = histogram_volume(volume, processes=processes, runtime=runtime)
    result, _ = measure_histogram(histogram, ThresholdRequest(NORMALIZED, THRESHOLD))
    return result.voxels_above


def count_simpleitk(folder: Path, runtime: ReadingRuntime | None) -> int:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()  # modality values: ITK applies the rescale
    return count_above_normalised(sitk.GetArrayViewFromImage(image), THRESHOLD)  # a view: `image` must live


def count_above_normalised(volume: np.ndarray, threshold: float) -> int:
    """Voxels whose (value − min) / (max − min) > threshold, in float64 as the definition says.

    For integer volumes the comparison is made once per possible value, then the voxels at or above
    the first value that passes are counted: the fastest exact way numpy offers.
    """
    low, high = float(volume.min()), float(volume.max())
    if volume.dtype.kind not in "iu":
        return int(np.count_nonzero((volume.astype(np.float64) - low) / (high - low) > threshold))
    candidates = np.arange(int(low), int(high) + 1)
    passing = candidates[(candidates.astype(np.float64) - low) / (high - low) > threshold]
    return int(np.count_nonzero(volume >= passing[0])) if passing.size else 0


def count_obvious(folder: Path, runtime: ReadingRuntime | None) -> int:
    datasets = [pydicom.dcmread(path) for path in sorted(folder.iterdir())]
    volume = np.stack([ds.pixel_array for ds in datasets]).astype(np.float64)
    for index, ds in enumerate(datasets):
        volume[index] = volume[index] * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    normalised = (volume - volume.min()) / (volume.max() - volume.min())
    return int(np.where(normalised > THRESHOLD, 1, 0).sum())


def count_floor(folder: Path, runtime: ReadingRuntime) -> int:
    """Read each file, histogram the pixel data at its end; the count is then arithmetic on 4,096 bins.

    The words are counted the way ours counts them (the runtime's `word_counting`):
    the floor is then the same pixel work, without headers, geometry or other processes.
    """
    pixel_bytes = phantom.ROWS * phantom.COLUMNS * 2
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path in sorted(folder.iterdir()):
        with open(path, "rb", buffering=0) as f:
            data = np.empty(os.fstat(f.fileno()).st_size, dtype=np.uint8)  # writable: the words are sorted there
            read_into(f, data)
        words = data[len(data) - pixel_bytes :].view("<u2")
        present, present_counts = runtime.word_counting.count(words)
        counts[present] += present_counts
    stored = np.flatnonzero(counts)
    modality = stored.astype(np.float64) + phantom.RESCALE_INTERCEPT
    low, high = modality[0], modality[-1]
    return int(counts[stored][(modality - low) / (high - low) > THRESHOLD].sum())


COUNTERS = {"ours": count_ours, "simpleitk": count_simpleitk, "obvious": count_obvious, "floor": count_floor}


# --- one variant in a fresh process -------------------------------------------------------------


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status: this benchmark measures memory on Linux")


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS, so imports' transient peaks do not hide the work's."""
    Path("/proc/self/clear_refs").write_text("5")


def workers_peak_mb() -> float:
    """The largest peak RSS among the processes this one started and waited for."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def idle_fork_mb() -> float:
    """The peak RSS of a process forked from this one that does nothing: the baseline of its workers."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return workers_peak_mb()


def new_runtime(counting: str) -> ReadingRuntime:
    """A runtime as a worker makes it ("measured"), or with a way of counting pixel words forced."""
    return ReadingRuntime(None if counting == "measured" else forced_word_counting(counting))


HEADER_READINGS = ("follow", "walk", "pydicom")
"""How ours reads headers: as it does (walk the first file of a run, follow its layout in the next),
walking every file (no layout follower), or pydicom's dcmread for every file (no walker either)."""


def read_headers_by(how: str) -> None:
    """Make this process read headers `how` (before its pool forks): for the figures that decide
    whether the walker and the layout follower earn their lines (README, Benchmark)."""
    if how in ("walk", "pydicom"):
        reader_module.Template.follow = lambda self, *args: None
        scan = reader_module.scan_plain_header
        reader_module.scan_plain_header = lambda path, load, converted, like=None: scan(path, load, converted)
    if how == "pydicom":
        ReadingRuntime.walks_headers = staticmethod(lambda: False)


def child_variant(variant: str, folder: Path, counting: str, headers: str, counters: dict = COUNTERS) -> None:
    """Serve timed runs of one variant: warm up, say so, then time one run per "run" line on stdin
    ("cold": with a new runtime, as a new worker's first series: it measures how to count pixel
    words and starts its processes).

    Prints one JSON line when ready and after each run; on "done", the peak memory, then exits.
    """
    import SimpleITK  # noqa: F401  every child imports the same modules, so their idle baselines compare

    idle_mb = status_mb("VmRSS")
    idle_worker_mb = idle_fork_mb()
    reset_peak_rss()
    count = counters[variant]
    runtime = new_runtime(counting)
    voxels = count(folder, runtime)  # warm-up: page cache, imports made on first use, ours' pool of processes
    print(json.dumps({"voxels": voxels, "counting": runtime.word_counting.method,
                      "counting_reason": runtime.word_counting.reason, "headers": headers}), flush=True)
    for line in sys.stdin:
        if line.strip() not in ("run", "cold"):
            break
        if line.strip() == "cold":
            runtime.close_pools()
            runtime = new_runtime(counting)
        t0 = time.perf_counter()
        again = count(folder, runtime)
        print(json.dumps({"s": time.perf_counter() - t0, "voxels": again}), flush=True)
    runtime.close_pools()  # its processes are counted once they have ended
    workers_mb = workers_peak_mb()
    print(json.dumps({
        "peak_mb": status_mb("VmHWM") - idle_mb,
        "workers_mb": workers_mb - idle_worker_mb if workers_mb > idle_worker_mb else None,
    }), flush=True)


def time_variants(
    folder: Path, repeats: int, budget_s: float, options: list[str], variants: tuple = VARIANTS, script: str = __file__
) -> dict[str, dict]:
    """Time every variant in rounds, each round running each variant once, in a rotating order.

    The machine's speed drifts over minutes; interleaving the variants exposes them all to the same
    drift, so their ratios hold even when their absolute times do not. A variant whose timed runs
    add up to `budget_s` sits out the rounds after that (it keeps its best). Each variant runs in
    `script --child VARIANT FOLDER` (bench/compressed.py has variants of its own).
    """
    children = {}
    for variant in variants:  # one at a time: warm-ups must not overlap
        command = [sys.executable, str(Path(script).resolve()), "--child", variant, str(folder), *options]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children[variant] = (child, read_reply(child, variant))
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    cold_times: list[float] = []  # ours, starting its processes in the run
    for round_number in range(repeats):
        order = variants[round_number % len(variants):] + variants[: round_number % len(variants)]
        for variant in order:
            if times[variant] and sum(times[variant]) >= budget_s:
                continue
            child, ready = children[variant]
            for kind in ("run", "cold") if variant == "ours" else ("run",):
                child.stdin.write(f"{kind}\n")
                child.stdin.flush()
                reply = read_reply(child, variant)
                if reply["voxels"] != ready["voxels"]:
                    raise SystemExit(f"{variant} counted {ready['voxels']} then {reply['voxels']}")
                (times[variant] if kind == "run" else cold_times).append(reply["s"])
    results = {}
    for variant, (child, ready) in children.items():
        child.stdin.write("done\n")
        child.stdin.flush()
        memory = read_reply(child, variant)
        child.wait()
        runs = sorted(times[variant])
        results[variant] = {
            "voxels": ready["voxels"],
            "best_s": runs[0],
            "median_s": runs[len(runs) // 2],
            "runs": len(runs),
            "counting": ready["counting"],
            "headers": ready["headers"],
            "counting_reason": ready["counting_reason"],
            **memory,
        }
    cold_times.sort()
    results["ours"].update(cold_best_s=cold_times[0], cold_median_s=cold_times[len(cold_times) // 2])
    return results


def read_reply(child: subprocess.Popen, variant: str) -> dict:
    line = child.stdout.readline()
    if not line:
        child.wait()
        raise SystemExit(f"{variant} failed (exit status {child.returncode})")
    return json.loads(line)


def child_remeasure(folder: Path, repeats: int) -> dict:
    """Store the series' histograms as .npz, then time load + measure + picture for each mode."""
    processes = os.cpu_count() or 1
    images = read_images(collect_paths([folder]), processes, histograms=True).images
    (volume,) = split_into_volumes(images)
    stored = folder.parent / f"{folder.name}-histogram.npz"
    with open(stored, "wb") as f:
        histogram_volume(volume, processes=processes).save(f)
    timings = {}
    for mode, value in REMEASURE_REQUESTS:
        best = float("inf")
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            with open(stored, "rb") as f:
                histogram = VolumeHistogram.load(f)
            result, above = measure_histogram(histogram, ThresholdRequest(mode, value))
            preview_png(histogram, above)
            best = min(best, time.perf_counter() - t0)
        timings[f"{mode} {value:g}" if value is not None else mode] = {"ms": best * 1000, "voxels": result.voxels_above}
    return {"modes": timings, "npz_bytes": stored.stat().st_size}


def run_child(*args: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the report ---------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    import SimpleITK as sitk

    cpu_names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    model = cpu_names[0] if cpu_names else platform.processor() or "unknown CPU"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"date      {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"machine   {os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, load average {load}",
        f"software  Python {platform.python_version()}, numpy {np.__version__}, pydicom {pydicom.__version__}, "
        f"SimpleITK {sitk.Version.VersionString()}",
    ]


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report_size(slices: int, results: dict[str, dict], judge: bool) -> list[str]:
    ours = results["ours"]
    lines = [
        f"{slices} slices of {phantom.ROWS}×{phantom.COLUMNS}, 16-bit "
        f"({slices * phantom.ROWS * phantom.COLUMNS * 2 / 2**20:.0f} MiB of pixels)",
        f"  {'':10} {'voxels > 0.5':>13} {'best s':>8} {'median s':>9} {'runs':>5} {'÷ ours':>7} {'peak MB':>8} "
        f"{'workers MB':>11}",
    ]
    for variant in VARIANTS:
        r = results[variant]
        workers = f"{r['workers_mb']:.0f}" if r["workers_mb"] is not None else "-"
        lines.append(
            f"  {LABELS[variant]:10} {r['voxels']:>13,} {r['best_s']:>8.3f} {r['median_s']:>9.3f} {r['runs']:>5} "
            f"{r['best_s'] / ours['best_s']:>7.2f} {r['peak_mb']:>8.0f} {workers:>11}"
        )
    agree = len({r["voxels"] for r in results.values()}) == 1
    vs_sitk = results["simpleitk"]["best_s"] / ours["best_s"]
    vs_obvious = results["obvious"]["best_s"] / ours["best_s"]
    vs_floor = ours["best_s"] / results["floor"]["best_s"]
    memory = max(ours["peak_mb"], ours["workers_mb"] or 0)
    targets = [
        (f"  ours vs SimpleITK  {vs_sitk:5.1f}× faster", f"≥ {TARGET_VS_SIMPLEITK:g}×", vs_sitk >= TARGET_VS_SIMPLEITK),
        (f"  ours vs obvious    {vs_obvious:5.1f}× faster", f"≥ {TARGET_VS_OBVIOUS:g}×", vs_obvious >= TARGET_VS_OBVIOUS),
        (f"  ours vs floor      {vs_floor:5.2f}× its time", f"≤ {TARGET_VS_FLOOR:g}×", vs_floor <= TARGET_VS_FLOOR),
        (f"  ours peak memory   {memory:5.0f} MB above idle", f"≤ {TARGET_MEMORY_MB:g} MB", memory <= TARGET_MEMORY_MB),
    ]
    lines.append(
        f"  ours starting its processes in the run (a new worker's first series): best {ours['cold_best_s']:.3f} s, "
        f"median {ours['cold_median_s']:.3f} s"
    )
    lines.append(f"  ours read headers by: {ours['headers']}")
    lines.append(f"  ours counted pixel words by {ours['counting']}: {ours['counting_reason']}")
    lines.append(f"  voxel counts agree: {'yes' if agree else 'NO'}")
    lines += [f"{text:38} (target {target}: {verdict(ok)})" if judge else text for text, target, ok in targets]
    return lines


def report_remeasure(slices: int, remeasure: dict, voxels: int) -> list[str]:
    modes = remeasure["modes"]
    slowest = max(entry["ms"] for entry in modes.values())
    same = modes[f"{NORMALIZED} {THRESHOLD:g}"]["voxels"] == voxels
    return [
        f"  re-measure the stored series ({remeasure['npz_bytes'] / 1024:.0f} KiB .npz; load + measure + picture):",
        "    " + ", ".join(f"{mode} {entry['ms']:.1f} ms" for mode, entry in modes.items()),
        f"    same count at {THRESHOLD:g} as reading the pixels: {'yes' if same else 'NO'}; slowest {slowest:.1f} ms "
        f"(target < {TARGET_REMEASURE_MS:g} ms: {verdict(slowest < TARGET_REMEASURE_MS)})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 600], help="slices per series")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant, at most")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed runs per variant, about")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="where the series are generated")
    parser.add_argument(
        "--counting", choices=("measured", BINCOUNT, SORTING), default="measured",
        help="how ours counts pixel words: as a worker does (measured), or forced one way",
    )
    parser.add_argument(
        "--headers", choices=HEADER_READINGS, default="follow",
        help="how ours reads headers: as it does (follow), walking each file, or pydicom's dcmread",
    )
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, folder = args.child[0], Path(args.child[1])
        if variant == "remeasure":
            print(json.dumps(child_remeasure(folder, args.repeats)))
        else:
            read_headers_by(args.headers)
            child_variant(variant, folder, args.counting, args.headers)
        return

    print("\n".join(machine_lines()), flush=True)
    started = time.perf_counter()
    folders = {}
    for slices in args.sizes:
        t0 = time.perf_counter()
        folders[slices] = phantom.series_folder(args.out, slices)
        shown = folders[slices].relative_to(BENCH.parent) if folders[slices].is_relative_to(BENCH.parent) else folders[slices]
        print(f"series    {slices} slices in {shown} ({time.perf_counter() - t0:.1f} s to generate or check)", flush=True)
    peaks = {}
    for slices, folder in folders.items():
        results = time_variants(folder, args.repeats, args.budget, ["--counting", args.counting, "--headers", args.headers])
        remeasure = run_child("remeasure", str(folder), "--repeats", str(args.repeats))
        print()
        print("\n".join(report_size(slices, results, judge=slices == max(folders))))
        print("\n".join(report_remeasure(slices, remeasure, results["ours"]["voxels"])), flush=True)
        peaks[slices] = max(results["ours"]["peak_mb"], results["ours"]["workers_mb"] or 0)
    if len(peaks) > 1:
        low, high = min(peaks), max(peaks)
        growth = peaks[high] - peaks[low]
        print(
            f"\nours peak memory from {low} to {high} slices: {peaks[low]:.0f} → {peaks[high]:.0f} MB above idle "
            f"({growth:+.0f} MB; target: constant, within {MEMORY_GROWTH_TOLERANCE_MB:g} MB: "
            f"{verdict(growth <= MEMORY_GROWTH_TOLERANCE_MB)})"
        )
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
