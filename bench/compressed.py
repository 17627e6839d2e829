"""Compressed series: our measurement against the decoder's own time spread over the cores, and SimpleITK.

    make bench-compressed            # installs requirements-bench.txt, then runs this
    .venv/bin/python bench/compressed.py [--slices 140] [--repeats 3] [--syntaxes rle jpeg-ls ...]

Writes a CT series (bench/phantom.py's body, 512×512, 12 bits stored) in each compressed transfer
syntax into bench/out/ct-<slices>-<syntax>/, with these encoders:

  rle            pydicom's own RLE encoder
  jpeg-2000      pylibjpeg-openjpeg (through pydicom's `compress`)
  jpeg-ls        pyjpegls, CharLS (through pydicom's `compress`)
  jpeg-lossless  `encode_jpeg_lossless` below: tests/jpeg_encoders.py's encoder, vectorised

Then, per syntax:
  decoders   each decoding plugin pydicom has for the syntax, decoding every frame in one process
             through pydicom (`Decoder.iter_array`): which is fastest here
  decoder    the plugin ours uses, called directly as ours calls it (decoding.py), on each frame's
             codestream read beforehand (GDCM: its region reader on the file) in one process, then
             divided by the cores: a perfect spread of the decoding alone
  ours       the pipeline, as the worker and `manage.py measure` run it (bench/run.py's count_ours)
  SimpleITK  ImageSeriesReader (GDCM), then the voxels above 0.5 counted with numpy
ours, decoder and SimpleITK each run in a process of their own, warmed up once, then in interleaved
rounds (bench/run.py's `time_variants`): best of --repeats. All must count the same voxels.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom.encaps import encapsulate, generate_frames  # noqa: E402
from pydicom.pixels import get_decoder  # noqa: E402
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless, generate_uid  # noqa: E402

import phantom  # noqa: E402
import run  # noqa: E402
from volumes.imaging.decoding import DECODING_PLUGINS, gdcm_decode_file  # noqa: E402
from volumes.imaging.images import PixelLayout  # noqa: E402

SYNTAXES = {"rle": RLELossless, "jpeg-2000": JPEG2000Lossless, "jpeg-ls": JPEGLSLossless, "jpeg-lossless": JPEGLosslessSV1}
ENCODING_PLUGINS = {RLELossless: "pydicom", JPEG2000Lossless: "pylibjpeg", JPEGLSLossless: "pyjpegls"}
GENERATOR_VERSION = 1
TARGET_VS_DECODER = 1.2
PRECISION = 12
"""Bits stored of the phantom's slices (HU + 1024, 0..4095)."""
LOSSLESS_CODE_BITS = 5
"""tests/jpeg_encoders.py's one Huffman table: every difference category gets a 5-bit code."""


# --- writing the series -------------------------------------------------------------------------


def series_folder(root: Path, slices: int, name: str) -> Path:
    """The folder of the series in syntax `name`, written first if missing or stale."""
    folder = root / f"ct-{slices}-{name}"
    marker = root / f"ct-{slices}-{name}.json"
    wanted = {"version": GENERATOR_VERSION, "phantom": phantom.GENERATOR_VERSION, "slices": slices, "syntax": name}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.dcm"):
        old.unlink()
    write_compressed_series(folder, slices, SYNTAXES[name])
    marker.write_text(json.dumps(wanted))
    return folder


def write_compressed_series(folder: Path, slices: int, syntax: str) -> None:
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    grid = phantom.pixel_grid_mm()
    for index in range(slices):
        hu = phantom.phantom_slice_hu(grid, index / max(1, slices - 1), np.random.default_rng(index))
        stored = np.clip(np.rint(hu - phantom.RESCALE_INTERCEPT), 0, (1 << PRECISION) - 1).astype(np.uint16)
        ds = phantom.slice_dataset(index, slices, study_uid, series_uid, frame_uid)
        if syntax == JPEGLosslessSV1:
            ds.PixelData = encapsulate([encode_jpeg_lossless(stored, PRECISION)])
            ds["PixelData"].VR = "OB"
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax, stored, encoding_plugin=ENCODING_PLUGINS[syntax])
        ds.save_as(folder / f"IM{index + 1:05d}.dcm", enforce_file_format=True)


def encode_jpeg_lossless(pixels: np.ndarray, precision: int) -> bytes:
    """The same codestream as tests/jpeg_encoders.py's `encode_jpeg_lossless` (the test checks it),
    made with numpy: that one takes seconds a 512×512 slice, this one milliseconds."""
    samples = pixels.astype(np.int64)
    rows, columns = samples.shape
    predicted = np.empty_like(samples)
    predicted[:, 1:] = samples[:, :-1]
    predicted[0, 0] = 1 << (precision - 1)
    predicted[1:, 0] = samples[:-1, 0]
    difference = ((samples - predicted).ravel() + 32768) % 65536 - 32768  # modulo 2**16, as T.81 says
    category = np.frexp(np.abs(difference).astype(np.float64))[1].astype(np.int64)  # bit length, exactly
    coded = (category > 0) & (category < 16)  # category 16 (−32768) has no extra bits
    extra = np.where(difference > 0, difference, difference + (1 << category) - 1)
    value = np.where(coded, (category << category) | extra, category)
    length = LOSSLESS_CODE_BITS + np.where(coded, category, 0)
    starts = np.concatenate(([0], np.cumsum(length)[:-1]))
    total = int(starts[-1] + length[-1])
    bits = np.ones(-(-total // 8) * 8, dtype=np.uint8)  # the last byte padded with ones
    for k in range(int(length.max())):
        has = length > k
        bits[starts[has] + k] = (value[has] >> (length[has] - 1 - k)) & 1
    scan = np.packbits(bits).tobytes().replace(b"\xff", b"\xff\x00")
    frame_header = struct.pack(">BHHB", precision, rows, columns, 1) + bytes([1, 0x11, 0])
    table_bits = [0] * 16
    table_bits[LOSSLESS_CODE_BITS - 1] = 17
    huffman = bytes([0x00]) + bytes(table_bits) + bytes(range(17))
    scan_header = bytes([1, 1, 0x00, 1, 0, 0])
    segments = segment(0xFFC4, huffman) + segment(0xFFC3, frame_header) + segment(0xFFDA, scan_header)
    return b"\xff\xd8" + segments + scan + b"\xff\xd9"


def segment(marker: int, payload: bytes) -> bytes:
    return marker.to_bytes(2, "big") + (len(payload) + 2).to_bytes(2, "big") + payload


# --- the decoders alone -------------------------------------------------------------------------


def codestreams(folder: Path) -> tuple[list[pydicom.Dataset], list[bytes]]:
    datasets = [pydicom.dcmread(path) for path in sorted(folder.iterdir())]
    return datasets, [next(generate_frames(ds.PixelData, number_of_frames=1)) for ds in datasets]


def files_and_codestreams(folder: Path) -> tuple[str, list[tuple[Path, bytes]]]:
    """The series' transfer syntax, and each file with its frame's codestream."""
    datasets, frames = codestreams(folder)
    return str(datasets[0].file_meta.TransferSyntaxUID), [(Path(ds.filename), src) for ds, src in zip(datasets, frames)]


def time_plugins(datasets: list[pydicom.Dataset], repeats: int) -> dict[str, float]:
    """Seconds to decode every frame in one process through pydicom, per plugin it has for the syntax."""
    decoder = get_decoder(datasets[0].file_meta.TransferSyntaxUID)
    timings = {}
    for plugin in decoder.available_plugins:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for ds in datasets:
                next(decoder.iter_array(ds, decoding_plugin=plugin, raw=True))
            best = min(best, time.perf_counter() - t0)
        timings[plugin] = best
    return timings


def raw_decode_function(syntax: str, plugin: str):
    """The plugin's own function for one frame (given its file and codestream), as ours calls it,
    without pydicom around it."""
    options = {"version": 2, "rows": phantom.ROWS, "columns": phantom.COLUMNS, "bits_allocated": 16}
    if plugin == "gdcm":
        layout = PixelLayout(
            transfer_syntax_uid=str(syntax), bits_allocated=16, bits_stored=PRECISION, signed=False, float_pixels=False,
            photometric="MONOCHROME2", rows=phantom.ROWS, columns=phantom.COLUMNS, frames=1, native_offset=None, big_endian=False,
        )
        return lambda path, src: gdcm_decode_file(path, 0, layout)  # GDCM finds the frame in the file itself
    if plugin == "pyjpegls":
        import jpeg_ls

        return lambda path, src: jpeg_ls.decode_pixel_data(src)[0]  # (frame, its parameters)
    if syntax == RLELossless and plugin == "pylibjpeg":
        from rle.utils import decode_pixel_data

        return lambda path, src: decode_pixel_data(src, **options)
    if syntax == JPEG2000Lossless and plugin == "pylibjpeg":
        from openjpeg.utils import decode_pixel_data

        return lambda path, src: decode_pixel_data(src, **options)
    if plugin == "pylibjpeg":
        from libjpeg.utils import decode_pixel_data

        return lambda path, src: decode_pixel_data(src, **options)
    raise SystemExit(f"no direct call known for {plugin} on {syntax.name}")


CODESTREAMS: dict[Path, tuple[str, list[tuple[Path, bytes]]]] = {}
"""The frames of each folder, read once in the decoder's process: its runs time the decoding alone
(GDCM reads its frames from the files, as ours has it do: from the page cache)."""


def count_decoded(folder: Path, runtime) -> int:
    """Decode every frame with the plugin ours uses, called directly, in this one process; then count
    the voxels above 0.5 from the frames' histograms, so that the count checks the decoding."""
    if folder not in CODESTREAMS:
        CODESTREAMS[folder] = files_and_codestreams(folder)
    syntax, frames = CODESTREAMS[folder]
    decode = raw_decode_function(pydicom.uid.UID(syntax), DECODING_PLUGINS[syntax])
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path, src in frames:
        counts += np.bincount(np.frombuffer(decode(path, src), dtype="<u2"), minlength=1 << 16)
    stored = np.flatnonzero(counts)
    low, high = stored[0], stored[-1]
    return int(counts[stored][(stored - low) / (high - low) > run.THRESHOLD].sum())


COUNTERS = {**run.COUNTERS, "decoder": count_decoded}
VARIANTS = ("ours", "decoder", "simpleitk")


def report(name: str, syntax: str, folder: Path, repeats: int, budget_s: float) -> list[str]:
    cores = os.cpu_count() or 1
    datasets, frames = codestreams(folder)
    plugins = time_plugins(datasets, repeats)
    results = run.time_variants(folder, repeats, budget_s, [], variants=VARIANTS, script=__file__)
    ours, decoder, sitk = (results[variant]["best_s"] for variant in VARIANTS)
    spread = decoder / cores
    per_frame = ", ".join(f"{p} {s / len(frames) * 1e3:.2f} ms" for p, s in sorted(plugins.items(), key=lambda kv: kv[1]))
    size = sum(path.stat().st_size for path in folder.iterdir()) / 2**20
    voxels = {variant: results[variant]["voxels"] for variant in VARIANTS}
    return [
        f"{name} ({syntax.name}): {len(frames)} files, {size:.0f} MiB",
        f"  decoding plugins through pydicom, a frame: {per_frame}",
        f"  decoder ({DECODING_PLUGINS[syntax]}) alone, one process {decoder:.3f} s; spread over {cores} cores {spread:.3f} s",
        f"  ours       {ours:.3f} s   {ours / spread:.2f}× the decoder spread over the cores "
        f"(target ≤ {TARGET_VS_DECODER:g}×: {run.verdict(ours / spread <= TARGET_VS_DECODER)})",
        f"  SimpleITK  {sitk:.3f} s   ours {sitk / ours:.2f}× faster (target > 1×: {run.verdict(ours < sitk)})",
        f"  best of {min(r['runs'] for r in results.values())}+ interleaved runs each; voxels > 0.5: "
        + ", ".join(f"{variant} {count:,}" for variant, count in voxels.items())
        + (": agree" if len(set(voxels.values())) == 1 else ": DISAGREE"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=140)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed runs per variant, about")
    parser.add_argument("--syntaxes", nargs="+", choices=list(SYNTAXES), default=list(SYNTAXES))
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run.child_variant(args.child[0], Path(args.child[1]), "measured", "follow", counters=COUNTERS)
        return
    print("\n".join(run.machine_lines()), flush=True)
    for name in args.syntaxes:
        t0 = time.perf_counter()
        folder = series_folder(args.out, args.slices, name)
        took = time.perf_counter() - t0
        print(f"series    {folder.relative_to(BENCH.parent)} ({took:.1f} s to generate or check)", flush=True)
    for name in args.syntaxes:
        print()
        folder = args.out / f"ct-{args.slices}-{name}"
        print("\n".join(report(name, SYNTAXES[name], folder, args.repeats, args.budget)), flush=True)


if __name__ == "__main__":
    main()
