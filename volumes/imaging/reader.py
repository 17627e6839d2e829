"""Files → DICOM images: every file read, its header then (optionally) its pixels' histograms.

Nothing here knows about Django. A file that cannot be measured gives a `Skipped` with a reason written
for the person who uploaded it; callers get the images and the skipped files apart (`ReadResult`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword

from .acquisition_header import read_time_values
from .collector import collector_paused
from .headers import PlainHeader, scan_plain_header
from .image_header import PIXEL_DATA_TAG, image_from_dataset, parse_header
from .images import DicomImage, NotAnImage, PixelLayout, copy_with, describe
from .packed_runs import PackedRun, pack_run, unpack_run
from .pixels import FrameBuffer, frame_histograms, histogram_keeping_frame
from .pools import parallel_runs
from .runtime import ReadingRuntime, process_runtime
from .sources import Skipped, SourceFile
from .values import optional_int, plain_decimals, plain_integer, read_floats

IMAGE_POSITION_TAG = 0x00200032
INSTANCE_NUMBER_TAG = 0x00200013
SOP_INSTANCE_UID_TAG = 0x00080018


PARALLEL_MIN_FILES = 24
"""Below this many files, parsing the headers in one process beats starting others."""


@dataclass(frozen=True)
class ReadResult:
    """What reading files gave: the images, in the order of their files, and the files left out with why."""

    images: list[DicomImage]
    skipped: list[Skipped]


@collector_paused()
def read_images(
    sources: list[SourceFile], processes: int = 1, histograms: bool = False, runtime: ReadingRuntime | None = None
) -> ReadResult:
    """`read_image` of every source; a file that cannot be measured is skipped with its reason.

    With `processes` > 1 and at least PARALLEL_MIN_FILES files, the files are read in that many
    processes, each taking runs of consecutive files (`pools.shrinking_runs`). With `histograms`, the frames of uncompressed
    files and of compressed files of one frame are histogrammed while the files are read (one pass over
    the series instead of two: `histogrammed_while_read`); the histograms of other files are left to
    the measurement. The decoded frame of the `preview_candidates` is kept on their image, so that
    the preview does not decode it again.
    `runtime`: what is kept between calls (pools, converted values); by default this process's.
    """
    runtime = runtime or process_runtime()
    keep_frames_of = preview_candidates(sources) if histograms else frozenset()
    if processes > 1 and len(sources) >= PARALLEL_MIN_FILES:
        read = functools.partial(read_packed_run, histograms=histograms, keep_frames_of=keep_frames_of)
        outcomes = parallel_runs(read, sources, processes, runtime, unpack=unpack_run)
    else:
        outcomes = read_run(sources, histograms=histograms, runtime=runtime, keep_frames_of=keep_frames_of)
    result = ReadResult(images=[], skipped=[])
    for source, outcome in zip(sources, outcomes):
        if isinstance(outcome, NotAnImage):
            result.skipped.append(Skipped(source.name, str(outcome)))
        else:
            result.images.append(outcome)
    return result


@collector_paused()
def read_run(
    sources: list[SourceFile],
    histograms: bool = False,
    runtime: ReadingRuntime | None = None,
    keep_frames_of: frozenset[SourceFile] = frozenset(),
) -> list[DicomImage | NotAnImage]:
    """Read a run of consecutive files in one reader (one process): an image or why not, per file.

    Every header of the run is read first, then (with `histograms`) every frame: the decoder then runs
    from frame to frame without the header code in between, which measured faster (README, Benchmark).
    The image of a file in `keep_frames_of` keeps its decoded frame (`DicomImage.kept_frame`).
    """
    runtime = runtime or process_runtime()
    reader = ImageReader(runtime=runtime)
    outcomes = [reader.read_or_reason(source) for source in sources]
    if not histograms:
        return outcomes
    buffer = FrameBuffer()
    return [
        outcome if isinstance(outcome, NotAnImage) else histogrammed(outcome, runtime, buffer, source in keep_frames_of)
        for source, outcome in zip(sources, outcomes)
    ]


def read_packed_run(sources: list[SourceFile], histograms: bool, keep_frames_of: frozenset[SourceFile]) -> PackedRun:
    """`read_run` in a reading process, its outcomes packed to be sent (packed_runs.py)."""
    return pack_run(read_run(sources, histograms=histograms, keep_frames_of=keep_frames_of))


def histogrammed(image: DicomImage, runtime: ReadingRuntime, buffer: FrameBuffer, keep_frame: bool) -> DicomImage:
    """The image with its frames' histograms, when they are made while reading (`histogrammed_while_read`);
    with `keep_frame`, a compressed frame is kept too. A frame that cannot be read is left to the
    measurement, which reads it again and says why it cannot."""
    if not histogrammed_while_read(image.pixels):
        return image
    try:
        if keep_frame and image.pixels.native_offset is None and image.mosaic is None:
            histogram, kept = histogram_keeping_frame(image, runtime.word_counting)
            return copy_with(image, histograms=(histogram,), kept_frame=kept)
        histograms = frame_histograms(image, range(len(image.frames)), runtime.word_counting, buffer)
    except NotAnImage:
        return image
    return copy_with(image, histograms=tuple(histograms))


def preview_candidates(sources: list[SourceFile]) -> frozenset[SourceFile]:
    """The files whose frame the preview most likely shows: the middle of the listing, counted from
    either end (a series named in slice order, ascending or descending, has its middle slice there)."""
    if not sources:
        return frozenset()
    return frozenset((sources[len(sources) // 2], sources[(len(sources) - 1) // 2]))


def read_image(source: SourceFile, runtime: ReadingRuntime | None = None) -> DicomImage:
    """Parse the header of one file, leaving pixel data on disk.

    Raises NotAnImage when the file is not DICOM, holds no pixel data, holds colour pixels, or its
    pixel data is shorter than Rows × Columns × frames.
    """
    return ImageReader(runtime=runtime).read(source)


def histogrammed_while_read(pixels: PixelLayout) -> bool:
    """Whether `read_images(histograms=True)` histograms a file's frames while reading it: uncompressed
    pixels, and compressed files of one frame. The frames of a compressed multi-frame file are left to
    the measurement, which spreads them over its processes (histograms.frame_chunks)."""
    if pixels.native_offset is not None:
        return True
    return pixels.frames == 1 and pixels.encapsulated


class ImageReader:
    """Reads files one after another, each like `read_image`, faster when they belong to one series.

    The files of a series repeat most of their header. The header of the last file walked is kept:
    the next file is first checked against its layout (`scan_plain_header(like=...)`), and when
    everything the image is made of is the same but for the values that differ from one slice to
    the next (PER_FILE_TAGS), the image is the previous one with those values replaced. Anything
    else, and the file is read in full.
    """

    TIME_TAGS_IN_ORDER = tuple(
        tag_for_keyword(k)
        for k in ("AcquisitionNumber", "TemporalPositionIdentifier", "TriggerTime", "FrameReferenceTime", "AcquisitionTime")
    )
    """What differs from one time point of a series to the next (acquisition_header.read_time_values)."""
    TIME_TAGS = frozenset(TIME_TAGS_IN_ORDER)
    PER_FILE_TAGS = frozenset(
        (
            *(tag_for_keyword(k) for k in ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient")),
            *TIME_TAGS,
            PIXEL_DATA_TAG,
        )
    )
    """Pixel Data among them: a small one is read with the header, but only its length (the same in a
    file that follows the layout) and its position are used."""

    def __init__(self, runtime: ReadingRuntime | None = None) -> None:
        self.runtime = runtime or process_runtime()
        self._template: Template | None = None  # the last image read in full, that the next files are checked against

    def read_or_reason(self, source: SourceFile) -> DicomImage | NotAnImage:
        try:
            image = self.read(source)
        except NotAnImage as error:
            return error
        except OSError as error:
            return NotAnImage(f"the file cannot be read ({error.strerror or error})")
        except Exception as error:  # pydicom converts values lazily and raises many kinds on damaged ones
            return NotAnImage(f"a damaged DICOM file: a header value cannot be read ({describe(error)})")
        return image

    def read(self, source: SourceFile) -> DicomImage:
        if not self.runtime.walks_headers():
            return image_from_dataset(parse_header(source.path), source)
        template = self._template
        like = template.header if template else None
        header = scan_plain_header(source.path, lambda: parse_header(source.path), self.runtime.converted, like=like)
        if header is None:
            return image_from_dataset(parse_header(source.path), source)
        if header.layout is None:  # no Pixel Data, or not all of the header could be laid out
            return image_from_dataset(header, source)
        pixels_at = header.get_item(PIXEL_DATA_TAG, keep_deferred=True).value_tell
        pixels_to_end = header.file_bytes - pixels_at
        image = template.follow(header, source, pixels_at, pixels_to_end) if template else None
        if image is None:
            image = image_from_dataset(header, source)
            if not header.loaded and image.pixels.frames == 1 and image.mosaic is None:
                self._template = Template(header, image, pixels_to_end)
        return image


class Template:
    """An image read in full, and the files of its series that follow it: each is the template with
    its per-file values (ImageReader.PER_FILE_TAGS) replaced, when nothing else differs.

    What files share (the same time values, position or pixel offset) is made once and shared by
    their images: fewer objects to make, to send from a reading process and to rebuild in the parent.
    """

    def __init__(self, header: PlainHeader, image: DicomImage, pixels_to_end: int) -> None:
        self.header = header
        self.image = image
        self.pixels_to_end = pixels_to_end  # bytes from the start of the pixel data to the end of the file
        frame = image.frames[0]
        self._acquisitions = {self._time_key(header): frame.acquisition}
        self._positions = {self._raw_value(header, IMAGE_POSITION_TAG): frame.position_mm}
        pixels = image.pixels
        self._pixels = {pixels.native_offset if pixels.native_offset is not None else pixels.encapsulated_offset: pixels}

    @staticmethod
    def _raw_value(header: PlainHeader, tag: int) -> tuple | None:
        raw = header.kept(tag)
        return None if raw is None else (raw.VR, raw.value)

    @classmethod
    def _time_key(cls, header: PlainHeader) -> tuple:
        return tuple(cls._raw_value(header, tag) for tag in ImageReader.TIME_TAGS_IN_ORDER)

    def follow(self, header: PlainHeader, source: SourceFile, pixels_at: int, pixels_to_end: int) -> DicomImage | None:
        """The template with this file's per-file values, when nothing else differs; else None."""
        previous_header, previous = self.header, self.image
        if header.layout is not previous_header.layout:
            return None
        # Uncompressed pixel data must be as long as the previous file's; each file's compressed frames have a length of their own.
        if pixels_to_end != self.pixels_to_end and previous.pixels.encapsulated_offset is None:
            return None
        if header.file_meta.differs_from(previous_header.file_meta) or header.differs_from(
            previous_header, ignoring=ImageReader.PER_FILE_TAGS
        ):
            return None
        frame = previous.frames[0]
        position_key = self._raw_value(header, IMAGE_POSITION_TAG)
        position = self._positions.get(position_key, self)
        if position is self:
            raw = header.kept(IMAGE_POSITION_TAG)
            position = plain_decimals(raw.value) if raw.VR in ("DS", None) else None
            if position is None or len(position) != 3:
                position = read_floats(header, "ImagePositionPatient", 3)[0]
            self._positions[position_key] = position
        time_key = self._time_key(header)
        acquisition = self._acquisitions.get(time_key)
        if acquisition is None:
            acquisition = self._acquisitions[time_key] = copy_with(frame.acquisition, **read_time_values(header))
        pixels = self._pixels.get(pixels_at)
        if pixels is None:
            pixels = previous.pixels
            if pixels.native_offset is not None:
                pixels = copy_with(pixels, native_offset=pixels_at)
            elif pixels.encapsulated_offset is not None:
                pixels = copy_with(pixels, encapsulated_offset=pixels_at)
            self._pixels[pixels_at] = pixels
        return copy_with(
            previous,
            path=source.path,
            name=source.name,
            sop_instance_uid=self._uid(header),
            instance_number=self._instance_number(header),
            frames=(copy_with(frame, position_mm=position, acquisition=acquisition),),
            pixels=pixels,
        )

    @staticmethod
    def _uid(header: PlainHeader) -> str:
        """SOP Instance UID as image_from_dataset reads it (pydicom's UI: the text without trailing nulls and spaces)."""
        raw = header.kept(SOP_INSTANCE_UID_TAG)
        if raw is not None and raw.VR in ("UI", None) and raw.value and b"\\" not in raw.value:
            return raw.value.decode("latin-1").rstrip("\0 ")
        return str(header.get("SOPInstanceUID", ""))

    @staticmethod
    def _instance_number(header: PlainHeader) -> int | None:
        raw = header.kept(INSTANCE_NUMBER_TAG)
        if raw is not None and raw.VR in ("IS", None):
            number = plain_integer(raw.value)
            if number is not None:
                return number
        return optional_int(header, "InstanceNumber")
