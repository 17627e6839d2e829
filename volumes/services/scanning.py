"""Reading what was sent: files, folders and archives → the volumes they hold, and the `measure` command's use case."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings

from ..imaging.archives import ArchiveLimits, unpack_sources
from ..imaging.export import ExportError, MaskFiles, stack_mask, write_mask_files
from ..imaging.grouping import VolumeImages, split_into_volumes
from ..imaging.histograms import MeasurementError, histogram_volume
from ..imaging.images import DicomImage
from ..imaging.measure import SeriesMeasurement, measure_histogram
from ..imaging.reader import read_images
from ..imaging.slices import time_point_stacks
from ..imaging.sources import Skipped, SourceFile, collect_paths
from ..imaging.thresholds import ThresholdRequest


@dataclass(frozen=True)
class Scan:
    """What a set of files holds: the volumes to measure, the files left out, how many files came."""

    volumes: list[VolumeImages]
    skipped: list[Skipped]
    files: int
    digests: dict[Path, str] = field(default_factory=dict)
    """The SHA-256 of the files whose digest was computed as they arrived, by path."""


@dataclass(frozen=True)
class PathsReport:
    """The outcome of measuring files on disk without the database (the `measure` command)."""

    series: list[SeriesMeasurement]
    skipped: list[Skipped]
    exports: list[dict] | None = None  # with mask files asked for: per volume, the files written or why none

    def as_dict(self) -> dict:
        report = {
            "series": [result.as_dict() for result in self.series],
            "skipped": [skipped.as_dict() for skipped in self.skipped],
        }
        if self.exports is not None:
            report["exports"] = self.exports
        return report


def decode_processes() -> int:
    return settings.VOLUMES_DECODE_PROCESSES or os.cpu_count() or 1


def archive_limits() -> ArchiveLimits:
    """The archive budget from the settings (README: VOLUMES_ARCHIVE_*, VOLUMES_DISK_RESERVE_BYTES)."""
    return ArchiveLimits(
        max_bytes=settings.VOLUMES_ARCHIVE_MAX_BYTES,
        max_ratio=settings.VOLUMES_ARCHIVE_MAX_RATIO,
        max_entries=settings.VOLUMES_ARCHIVE_MAX_ENTRIES,
        max_depth=settings.VOLUMES_ARCHIVE_MAX_DEPTH,
        disk_reserve_bytes=settings.VOLUMES_DISK_RESERVE_BYTES,
    )


# --- reading what was sent ----------------------------------------------------------------------


def sources_scan(
    *, sources: Iterable[SourceFile], workdir: Path, processes: int = 1, histograms: bool = False
) -> Scan:
    """Unpack archives, read every header, leave out what cannot be measured, group into volumes.

    A web request reads headers in its own process (`processes` 1): forking a threaded server is unsafe.
    With `histograms`, uncompressed pixel data is histogrammed in the same pass (to be measured at once).
    """
    files, skipped = unpack_sources(sources, workdir, archive_limits())
    read = read_images(files, processes, histograms=histograms)
    skipped.extend(read.skipped)
    images: list[DicomImage] = []
    seen: dict[str, str] = {}
    for image in read.images:
        if image.sop_instance_uid and image.sop_instance_uid in seen:
            skipped.append(Skipped(image.name, f"the same image (SOP Instance UID) as {seen[image.sop_instance_uid]}"))
            continue
        seen[image.sop_instance_uid] = image.name
        images.append(image)
    digests = {file.path: file.sha256 for file in files if file.sha256}
    return Scan(volumes=split_into_volumes(images), skipped=skipped, files=len(files), digests=digests)


def paths_measure(*, paths: list[Path], request: ThresholdRequest, masks: MaskFiles | None = None) -> PathsReport:
    """Measure files, folders and zip archives on disk, without the database; with `masks`, write each
    volume's mask there (numbered when there are several volumes)."""
    missing = [Skipped(str(path), "no such file or folder") for path in paths if not path.exists()]
    with tempfile.TemporaryDirectory(prefix="measure-") as workdir:
        sources = collect_paths([p for p in paths if p.exists()])
        scan = sources_scan(sources=sources, workdir=Path(workdir), processes=decode_processes(), histograms=True)
        results = []
        skipped = [*missing, *scan.skipped]
        exports = [] if masks else None
        for number, volume in enumerate(scan.volumes, start=1):
            try:
                histogram = histogram_volume(volume, processes=decode_processes())
                if request.body_only:
                    from ..imaging.body import measure_body  # scipy: imported only when asked for (start-up time)

                    histogram = measure_body(histogram, time_point_stacks(volume))[1]
            except MeasurementError as error:
                skipped.extend(Skipped(image.name, str(error)) for image in volume.images)
                continue
            result, above = measure_histogram(histogram, request)
            results.append(result)
            if masks:
                files = masks.numbered(number if len(scan.volumes) > 1 else None)
                exports.append(volume_export(volume, histogram, above, result, files))
    return PathsReport(series=results, skipped=skipped, exports=exports)


def volume_export(volume: VolumeImages, histogram, above, result: SeriesMeasurement, files: MaskFiles) -> dict:
    """Write one volume's mask files; what was written, or why nothing was."""
    entry = {"series_instance_uid": result.series_instance_uid, "description": result.description, "files": []}
    try:
        written = write_mask_files(stack_mask(volume, histogram, above), files, result)
    except ExportError as error:
        return {**entry, "error": str(error)}
    return {**entry, "files": [str(path) for path in written], "error": None}


def series_volume(*, series, images: list) -> VolumeImages:
    """The volume of a Series row (its `part` and `volume_label`) among what its stored files hold: the files of one contrast give it alone (with
    its time points); a multi-frame file holding several contrasts is split again and the row's taken."""
    volumes = split_into_volumes(images)
    if len(volumes) > 1:
        volumes = [volume for volume in volumes if volume.volume_label == series.volume_label]
    if len(volumes) != 1:
        raise MeasurementError(
            f"the series' stored files no longer hold the contrast {series.volume_label or 'of this series'!r} alone"
        )
    return replace(volumes[0], part=series.part, volume_label=series.volume_label)
