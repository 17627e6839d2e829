"""The fast header reader gives read_image exactly what pydicom's own parse gives.

Every file is read twice, through `scan_plain_header` and through pydicom alone: the DicomImage
(or the reason the file is skipped) and the warnings raised must be the same. The files: pydicom's
bundled test files, the shared data, and synthetic series in each native transfer syntax with
valid and invalid header values.
"""
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

import numpy as np

import pydicom
import pydicom.data
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from tests.conftest import PHANTOM_DIR, SHARED_DATA
from tests.phantoms import (
    SeriesSpec,
    truncate,
    write_classic_multiframe,
    write_enhanced,
    write_rt_dose,
    write_series,
)
from volumes.imaging import header_elements, headers, image_header, images, pixels, pools
from volumes.imaging.runtime import ReadingRuntime, process_runtime
from volumes.imaging.word_counts import BINCOUNT, SORTING, forced_word_counting
from volumes.imaging import reader as reader_module
from volumes.imaging.images import NotAnImage
from volumes.imaging.reader import ImageReader, read_image, read_images
from volumes.imaging.sources import SourceFile, collect_paths

ROOT = Path(__file__).resolve().parent.parent
PYDICOM_FILES = sorted(p for p in (Path(pydicom.data.__file__).parent / "test_files").rglob("*") if p.is_file())
SHARED_FILES = sorted(p for p in SHARED_DATA.rglob("*") if p.is_file() and p.name != "LICENSE")


def outcome(path: Path) -> tuple[str, list[str]]:
    """What read_image makes of a file (the image, or its reason) and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:  # a fresh runtime: a value it had already converted would not warn again
            result = repr(read_image(SourceFile(path.name, path), ReadingRuntime(forced_word_counting(BINCOUNT))))
        except NotAnImage as error:
            result = f"NotAnImage: {error}"
    return result, sorted({str(w.message) for w in caught})


def assert_same_as_pydicom(path: Path, monkeypatch) -> None:
    fast = outcome(path)
    with monkeypatch.context() as patched:
        patched.setattr(reader_module, "scan_plain_header", lambda *args, **kwargs: None)
        slow = outcome(path)
    assert fast == slow


@pytest.mark.parametrize("path", PYDICOM_FILES + SHARED_FILES, ids=lambda p: p.name)
def test_every_bundled_and_shared_file_reads_as_with_pydicom(path, monkeypatch):
    assert_same_as_pydicom(path, monkeypatch)


SYNTHETIC = {
    "explicit": SeriesSpec(),
    "implicit": SeriesSpec(transfer_syntax=ImplicitVRLittleEndian),
    "big-endian": SeriesSpec(transfer_syntax=ExplicitVRBigEndian),
    "deflated": SeriesSpec(transfer_syntax=DeflatedExplicitVRLittleEndian),
    "rle": SeriesSpec(transfer_syntax=RLELossless),
    "12 bits with garbage above": SeriesSpec(bits_stored=12, garbage_bits=True, signed=False, intercepts=-1024.0),
    "spacing abc": SeriesSpec(pixel_spacing="abc"),
    "spacing 0": SeriesSpec(pixel_spacing=(0.0, 0.5), transfer_syntax=ImplicitVRLittleEndian),
    "rescaled per slice": SeriesSpec(slopes=(1.0, 2.0, 4.0, 0.5, 1.0, 2.0), intercepts=-1000.0),
    "monochrome1": SeriesSpec(photometric="MONOCHROME1"),
}


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_series_read_as_with_pydicom(name, tmp_path, monkeypatch):
    for path in write_series(tmp_path, SYNTHETIC[name]):
        assert_same_as_pydicom(path, monkeypatch)


def test_multiframe_files_read_as_with_pydicom(tmp_path, monkeypatch):
    paths = [
        write_enhanced(tmp_path / "enhanced.dcm"),
        write_rt_dose(tmp_path / "dose.dcm", SeriesSpec(signed=True, bits_allocated=32), dose_grid_scaling=1.0, absolute=True),
        write_classic_multiframe(tmp_path / "classic.dcm", SeriesSpec(spacing_between_slices=2.5)),
    ]
    for path in paths:
        assert_same_as_pydicom(path, monkeypatch)


@pytest.mark.parametrize(
    "spec, walked",
    [
        (SeriesSpec(), True),
        (SeriesSpec(transfer_syntax=ImplicitVRLittleEndian), True),
        (SeriesSpec(transfer_syntax=ExplicitVRBigEndian), False),
        (SeriesSpec(transfer_syntax=DeflatedExplicitVRLittleEndian), False),
        (SeriesSpec(transfer_syntax=RLELossless), True),
    ],
    ids=["explicit little", "implicit little", "big", "deflated", "rle"],
)
def test_little_endian_files_are_walked_uncompressed_or_compressed_but_not_big_endian_or_deflated(spec, walked, tmp_path):
    path = write_series(tmp_path, spec)[0]
    assert (headers.scan_plain_header(path, lambda: None, headers.ConvertedValues()) is not None) is walked


def test_the_tilted_phantom_is_walked_and_answers_like_pydicom():
    path = PHANTOM_DIR / "I10"
    dataset = pydicom.dcmread(path, defer_size=1024)
    header = headers.scan_plain_header(path, lambda: pydicom.dcmread(path, defer_size=1024), headers.ConvertedValues())
    assert header is not None
    # kept elements, converted here
    assert header.get("PixelSpacing") == dataset.PixelSpacing
    assert header["ImagePositionPatient"].value == dataset.ImagePositionPatient
    assert str(header.file_meta.get("TransferSyntaxUID")) == str(dataset.file_meta.TransferSyntaxUID)
    pixels = header.get_item(image_header.PIXEL_DATA_TAG, keep_deferred=True)
    assert (pixels.length, pixels.value_tell) == (
        dataset.get_item(image_header.PIXEL_DATA_TAG, keep_deferred=True).length,
        dataset.get_item(image_header.PIXEL_DATA_TAG, keep_deferred=True).value_tell,
    )
    # elements it did not keep come from pydicom's parse
    assert "PatientName" in header
    assert header.PatientName == dataset.PatientName
    assert header.get("PatientName") == dataset.PatientName
    # absent elements
    assert "PerFrameFunctionalGroupsSequence" not in header
    assert header.get("SpacingBetweenSlices", "absent") == dataset.get("SpacingBetweenSlices", "absent")


def test_reading_in_two_processes_gives_what_reading_one_by_one_gives(phantom_copy):
    sources = collect_paths([phantom_copy])
    assert len(sources) >= reader_module.PARALLEL_MIN_FILES  # so the two processes are used
    parallel = read_images(sources, processes=2)
    one_by_one = [read_alone(source) for source in sources]
    assert [repr(image) for image in parallel.images] == [repr(r) for r in one_by_one if not isinstance(r, NotAnImage)]
    assert [(s.name, s.reason) for s in parallel.skipped] == [
        (source.name, str(r)) for source, r in zip(sources, one_by_one) if isinstance(r, NotAnImage)
    ]
    assert [s.name for s in parallel.skipped] == ["ct-phantom-philips/DIRFILE", "ct-phantom-philips/LICENSE"]
    assert len(parallel.images) == 54


def process_id(_item) -> int:
    time.sleep(0.02)  # long enough that both processes get items
    return os.getpid()


def die(_item) -> None:
    os._exit(1)


@pytest.fixture
def runtime():
    """A runtime of the test's own: its pools are stopped after the test."""
    made = ReadingRuntime(forced_word_counting(BINCOUNT))
    yield made
    made.close_pools()


def test_the_reading_processes_are_kept_for_the_next_series(runtime):
    first = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
    again = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
    assert len(first) == 2 and os.getpid() not in first
    assert again <= first


def test_a_reading_process_that_dies_fails_its_call_and_the_next_call_starts_new_ones(runtime):
    before = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
    with pytest.raises(BrokenProcessPool):
        pools.parallel_map(die, list(range(16)), 2, runtime)
    after = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
    assert after and not after & before


def runtime_counting(_item) -> tuple[int, str]:
    return id(process_runtime()), process_runtime().word_counting.reason


def test_pool_processes_use_the_runtime_that_started_them_and_its_way_of_counting():
    ours = ReadingRuntime(forced_word_counting(SORTING))
    other = ReadingRuntime(forced_word_counting(BINCOUNT))
    try:
        in_ours = set(pools.parallel_map(runtime_counting, list(range(8)), 2, ours))
        in_other = set(pools.parallel_map(runtime_counting, list(range(8)), 2, other))
    finally:
        ours.close_pools()
        other.close_pools()
    assert {reason for _, reason in in_ours} == {"sorting forced"}
    assert {reason for _, reason in in_other} == {"bincount forced"}


def test_two_runtimes_keep_pools_of_their_own(runtime):
    other = ReadingRuntime(forced_word_counting(BINCOUNT))
    try:
        ours = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
        theirs = set(pools.parallel_map(process_id, list(range(16)), 2, other))
        assert not ours & theirs
    finally:
        other.close_pools()


def test_a_runtime_measures_how_to_count_words_before_starting_its_processes():
    runtime = ReadingRuntime()
    try:
        pools.parallel_map(process_id, list(range(4)), 2, runtime)
        assert runtime._word_counting is not None and runtime.word_counting.reason.startswith("measured")
        in_pool = {reason for _, reason in pools.parallel_map(runtime_counting, list(range(8)), 2, runtime)}
    finally:
        runtime.close_pools()
    assert in_pool == {runtime.word_counting.reason}  # not measured again in each process


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc (Linux)")
def test_the_reading_processes_end_when_the_process_that_started_them_is_killed():
    script = (
        "import os, time\n"
        "from volumes.imaging import pools\n"
        "from volumes.imaging.runtime import process_runtime\n"
        "def process_id(_item):\n"
        "    time.sleep(0.02)\n"
        "    return os.getpid()\n"
        "print(*set(pools.parallel_map(process_id, list(range(16)), 2, process_runtime())), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(alive(pid) for pid in children)
    finally:
        parent.kill()  # SIGKILL: it cannot stop its pool
        parent.wait()
    deadline = time.monotonic() + 10 * pools.PARENT_CHECK_SECONDS
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children)


def alive(pid: int) -> bool:
    """Whether a process exists and has not exited (an exited one may wait as a zombie for its reaper)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_closing_the_pools_ends_their_processes(runtime):
    processes = set(pools.parallel_map(process_id, list(range(16)), 2, runtime))
    runtime.close_pools()
    for pid in processes:
        with pytest.raises(ChildProcessError):  # already waited for: no longer a child of this process
            os.waitpid(pid, os.WNOHANG)



def numbered_after_a_while(item: int) -> tuple[int, int]:
    time.sleep(0.002 * (item % 3))  # runs end out of order
    return item, os.getpid()


def fails_at_seven(item: int) -> int:
    if item == 7:
        raise ValueError("item 7")
    time.sleep(0.002)
    return item


def test_the_processes_take_every_run_once_and_the_results_keep_the_items_order(runtime):
    for _ in range(3):  # each call starts counting its runs anew
        results = pools.parallel_map(numbered_after_a_while, list(range(60)), 2, runtime)
        assert [item for item, _ in results] == list(range(60))
        assert len({pid for _, pid in results}) == 2


def test_a_run_that_fails_fails_its_call_and_the_next_call_gets_all_its_runs(runtime):
    with pytest.raises(ValueError, match="item 7"):
        pools.parallel_map(fails_at_seven, list(range(40)), 2, runtime)
    assert [item for item, _ in pools.parallel_map(numbered_after_a_while, list(range(40)), 2, runtime)] == list(range(40))

# --- a series read file after file: the previous file's layout and image are reused --------------


def read_alone(source: SourceFile):
    """What read_image makes of one file with nothing read before it: the image or its NotAnImage."""
    try:
        return read_image(source)
    except NotAnImage as error:
        return error


def described(results) -> list[str]:
    return [f"NotAnImage: {r}" if isinstance(r, NotAnImage) else repr(r) for r in results]


def assert_series_reads_as_files_alone(paths: list[Path]) -> None:
    sources = [SourceFile(path.name, path) for path in paths]
    reader = ImageReader()
    assert described(reader.read_or_reason(source) for source in sources) == described(map(read_alone, sources))


def count_calls(monkeypatch, module, name: str) -> list:
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_series_read_in_a_row_as_one_by_one(name, tmp_path):
    assert_series_reads_as_files_alone(sorted(write_series(tmp_path, SYNTHETIC[name])))


def test_bundled_and_shared_files_read_in_a_row_as_one_by_one():
    """Many unrelated files in a row: each is checked against the one before and read in full when it differs."""
    assert_series_reads_as_files_alone(PYDICOM_FILES + SHARED_FILES)


def test_a_series_is_walked_once_and_its_other_files_reuse_the_first(tmp_path, monkeypatch):
    paths = sorted(write_series(tmp_path, SeriesSpec(offsets_mm=(0.0, 2.5, 5.0, 102.5, 1000.0, 1002.5))))
    walks = count_calls(monkeypatch, headers, "walk_header")
    full_reads = count_calls(monkeypatch, reader_module, "image_from_dataset")
    images = [ImageReader().read(SourceFile(p.name, p)) for p in paths]  # each on its own
    assert (len(walks), len(full_reads)) == (6, 6)
    walks.clear(), full_reads.clear()
    reader = ImageReader()
    in_a_row = [reader.read(SourceFile(p.name, p)) for p in paths]
    # Positions of different lengths (2.5, 102.5, 1000) move everything after them: still followed.
    assert (len(walks), len(full_reads)) == (1, 1)
    assert described(in_a_row) == described(images)
    assert {image.frames[0].position_mm for image in in_a_row} == {image.frames[0].position_mm for image in images}


@pytest.mark.parametrize(
    "change, full_reads",
    [
        (lambda ds: setattr(ds, "RescaleIntercept", -1000), 1),  # a kept value differs: read in full
        (lambda ds: setattr(ds, "PatientName", "Someone^Else"), 0),  # a value not kept: still reused
        (lambda ds: setattr(ds, "PatientID", "A-MUCH-LONGER-PATIENT-ID"), 0),  # and its length
        (lambda ds: setattr(ds, "StudyID", "7"), 1),  # an element more: walked, read in full
        (lambda ds: delattr(ds, "SliceThickness"), 1),  # an element fewer
        (lambda ds: setattr(ds, "PixelSpacing", [0.5, 0.5]), 1),
        (lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "LOCALIZER"]), 1),
    ],
    ids=["rescale", "patient name", "longer value", "extra element", "missing element", "spacing", "localizer"],
)
def test_a_file_that_differs_from_the_one_before_is_read_in_full(change, full_reads, tmp_path, monkeypatch):
    paths = sorted(write_series(tmp_path, SeriesSpec()))
    ds = pydicom.dcmread(paths[1])
    change(ds)
    ds.save_as(paths[1])
    reader = ImageReader()
    reader.read(SourceFile(paths[0].name, paths[0]))
    calls = count_calls(monkeypatch, reader_module, "image_from_dataset")
    second = reader.read(SourceFile(paths[1].name, paths[1]))
    assert len(calls) == full_reads
    assert repr(second) == repr(read_alone(SourceFile(paths[1].name, paths[1])))


@pytest.mark.parametrize(
    "position, instance, uid",
    [
        ("+1.5e1\\-.5\\0022.50 ", " +7 ", "1.2.3.4\0"),  # plain numbers in unusual spellings
        ("1\\2\\3.00000000000000001", "1234567890123", "1.2.3 "),  # longer than DS and IS allow
        ("1\\2\\x", "1A", "1.2\\3.4"),  # not numbers; two UIDs
        ("1\\2", "", ""),  # two numbers of three; empty values
    ],
    ids=["unusual spellings", "too long", "malformed", "short and empty"],
)
def test_per_file_values_of_a_followed_file_are_read_as_pydicom_reads_them(position, instance, uid, tmp_path, monkeypatch):
    """The per-file values of a file that follows the one before are read from its bytes where they are
    plain numbers: the image is still the one read alone (pydicom's values, or None)."""
    paths = sorted(write_series(tmp_path, SeriesSpec()))
    ds = pydicom.dcmread(paths[1])
    written = (("ImagePositionPatient", "DS", position), ("InstanceNumber", "IS", instance), ("SOPInstanceUID", "UI", uid))
    for keyword, vr, text in written:
        value = text.encode() + b" " * (len(text) % 2)  # as written, not as pydicom would check it
        ds[keyword] = RawDataElement(Tag(tag_for_keyword(keyword)), vr, len(value), value, 0, False, True)
    ds.save_as(paths[1])
    reader = ImageReader()
    reader.read(SourceFile(paths[0].name, paths[0]))
    calls = count_calls(monkeypatch, reader_module, "image_from_dataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        second = reader.read_or_reason(SourceFile(paths[1].name, paths[1]))
        assert len(calls) == 0  # followed, not read in full
        alone = read_alone(SourceFile(paths[1].name, paths[1]))
    assert repr(second) == repr(alone)


def test_a_truncated_file_after_good_ones_is_still_refused(tmp_path):
    paths = sorted(write_series(tmp_path, SeriesSpec()))
    truncate(paths[2], 100)
    reader = ImageReader()
    results = [reader.read_or_reason(SourceFile(p.name, p)) for p in paths]
    assert isinstance(results[2], NotAnImage) and "truncated pixel data" in str(results[2])
    assert described(results) == described(read_alone(SourceFile(p.name, p)) for p in paths)


def test_histograms_made_while_reading_are_those_of_the_frames(tmp_path):
    paths = sorted(write_series(tmp_path, SeriesSpec(bits_stored=12, garbage_bits=True, signed=True)))
    sources = [SourceFile(p.name, p) for p in paths]
    for image in read_images(sources, histograms=True).images:
        assert image.histograms is not None
        (made_later,) = pixels.frame_histograms(replace(image, histograms=None), range(1), forced_word_counting(BINCOUNT))
        (made,) = image.histograms
        assert made.values.tolist() == made_later.values.tolist() and made.counts.tolist() == made_later.counts.tolist()
        stored = pixels.frame_stored_values(image, 0)
        values, counts = np.unique(stored, return_counts=True)
        assert made.values.tolist() == values.tolist() and made.counts.tolist() == counts.tolist()


def histograms_by_way(paths: list[Path], method: str, processes: int = 1) -> list[list[tuple[list, list]]]:
    """Every frame's histogram of the files, read (and histogrammed) with the words counted by `method`."""
    runtime = ReadingRuntime(forced_word_counting(method))
    try:
        read = read_images([SourceFile(p.name, p) for p in paths], processes, histograms=True, runtime=runtime)
        made = []
        for image in read.images:
            frames = image.histograms or pixels.frame_histograms(image, range(image.pixels.frames), runtime.word_counting)
            made.append([(h.values.tolist(), h.counts.tolist()) for h in frames])
        return made
    finally:
        runtime.close_pools()


def unique_histograms(paths: list[Path]) -> list[list[tuple[list, list]]]:
    """Every frame's histogram by np.unique of its stored values: what each way must give."""
    made = []
    for path in paths:
        image = read_image(SourceFile(path.name, path))
        frames = [np.unique(pixels.frame_stored_values(image, i), return_counts=True) for i in range(image.pixels.frames)]
        made.append([(values.tolist(), counts.tolist()) for values, counts in frames])
    return made


@pytest.mark.parametrize("method", [BINCOUNT, SORTING])
def test_every_way_of_counting_gives_the_histograms_of_the_shared_files(method):
    paths = [SHARED_DATA / "seed-challenge" / "1-101.dcm", *sorted(PHANTOM_DIR.glob("I*"))]
    assert len(paths) == 55
    assert histograms_by_way(paths, method, processes=2) == unique_histograms(paths)


HISTOGRAM_SPECS = {
    "12 bits signed, garbage above": SeriesSpec(bits_stored=12, garbage_bits=True, signed=True),
    "16 bits": SeriesSpec(bits_stored=16),
    "16 bits signed": SeriesSpec(bits_stored=16, signed=True),
    "8 bits": SeriesSpec(signed=False, bits_allocated=8, slopes=10.0, intercepts=-1100.0),
    "big endian": SeriesSpec(transfer_syntax=ExplicitVRBigEndian),
    "rle": SeriesSpec(transfer_syntax=RLELossless),
}


@pytest.mark.parametrize("method", [BINCOUNT, SORTING])
@pytest.mark.parametrize("name", list(HISTOGRAM_SPECS))
def test_every_way_of_counting_gives_the_histograms_of_synthetic_series(tmp_path, name, method):
    paths = sorted(write_series(tmp_path, HISTOGRAM_SPECS[name]))
    assert histograms_by_way(paths, method) == unique_histograms(paths)


def test_images_copied_with_new_values_equal_those_dataclasses_replace_makes(tmp_path):
    (path, *_) = sorted(write_series(tmp_path, SeriesSpec()))
    image = read_image(SourceFile(path.name, path))
    frame = image.frames[0]
    moved = images.copy_with(frame, position_mm=(1.0, 2.0, 3.0))
    assert moved == replace(frame, position_mm=(1.0, 2.0, 3.0)) and frame.position_mm != (1.0, 2.0, 3.0)
    renamed = images.copy_with(image, name="other.dcm", frames=(moved,))
    assert renamed == replace(image, name="other.dcm", frames=(moved,)) and hash(renamed) == hash(replace(renamed))
    with pytest.raises(TypeError, match="no field positon_mm"):
        images.copy_with(frame, positon_mm=(1.0, 2.0, 3.0))


def test_a_file_followed_along_the_one_before_gives_the_elements_a_walk_gives(tmp_path):
    # Positions of different lengths move every element after them.
    paths = sorted(write_series(tmp_path, SeriesSpec(offsets_mm=(0.0, 2.5, 102.5, 1000.0, 1002.5, 5.0))))
    tags = [*header_elements.KEPT_TAGS, header_elements.PIXEL_DATA]
    previous = None
    for path in paths:
        walked = headers.scan_plain_header(path, lambda: None, headers.ConvertedValues())
        followed = headers.scan_plain_header(path, lambda: None, headers.ConvertedValues(), like=previous) if previous else walked
        for header in (walked, followed):
            assert header.layout is not None and not header.loaded
        assert [followed.get_item(tag, keep_deferred=True) for tag in tags] == [
            walked.get_item(tag, keep_deferred=True) for tag in tags
        ]
        assert [followed.file_meta.get_item(tag, keep_deferred=True) for tag in header_elements.META_TAGS] == [
            walked.file_meta.get_item(tag, keep_deferred=True) for tag in header_elements.META_TAGS
        ]
        previous = walked


def test_a_runtimes_converted_values_are_converted_once_and_bounded(tmp_path, monkeypatch):
    paths = sorted(write_series(tmp_path, SeriesSpec()))
    converted = headers.ConvertedValues()
    first, second = (headers.scan_plain_header(p, lambda: None, converted) for p in paths[:2])
    assert first.get("PixelSpacing") is second.get("PixelSpacing")  # the same bytes: converted once
    fresh = headers.scan_plain_header(paths[1], lambda: None, headers.ConvertedValues())
    assert fresh.get("PixelSpacing") == first.get("PixelSpacing") and fresh.get("PixelSpacing") is not first.get("PixelSpacing")
    monkeypatch.setattr(headers, "MAX_CONVERTED", 2)
    bounded = headers.ConvertedValues()
    header = headers.scan_plain_header(paths[0], lambda: None, bounded)
    for keyword in ("PixelSpacing", "Rows", "Columns", "RescaleIntercept"):
        header.get(keyword)
    assert len(bounded._values) <= 2
