"""Reading what was sent: files, folders and archives → the volumes they hold, and the `measure` command's use case."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ..imaging.archives import ArchiveLimits, unpack_sources
from ..imaging.geometry import VolumeImages, split_into_volumes
from ..imaging.images import DicomImage
from ..imaging.measure import (
    MeasurementError,
    SeriesMeasurement,
    ThresholdRequest,
    histogram_volume,
    measure_histogram,
)
from ..imaging.reader import read_images
from ..imaging.sources import Skipped, SourceFile, collect_paths


@dataclass(frozen=True)
class Scan:
    """What a set of files holds: the volumes to measure, the files left out, how many files came."""

    volumes: list[VolumeImages]
    skipped: list[Skipped]
    files: int


@dataclass(frozen=True)
class PathsReport:
    """The outcome of measuring files on disk without the database (the `measure` command)."""

    series: list[SeriesMeasurement]
    skipped: list[Skipped]

    def as_dict(self) -> dict:
        return {
            "series": [result.as_dict() for result in self.series],
            "skipped": [skipped.as_dict() for skipped in self.skipped],
        }


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
    return Scan(volumes=split_into_volumes(images), skipped=skipped, files=len(files))


def paths_measure(*, paths: list[Path], request: ThresholdRequest) -> PathsReport:
    """Measure files, folders and zip archives on disk, without the database."""
    missing = [Skipped(str(path), "no such file or folder") for path in paths if not path.exists()]
    with tempfile.TemporaryDirectory(prefix="measure-") as workdir:
        sources = collect_paths([p for p in paths if p.exists()])
        scan = sources_scan(sources=sources, workdir=Path(workdir), processes=decode_processes(), histograms=True)
        results = []
        skipped = [*missing, *scan.skipped]
        for volume in scan.volumes:
            try:
                histogram = histogram_volume(volume, processes=decode_processes())
            except MeasurementError as error:
                skipped.extend(Skipped(image.name, str(error)) for image in volume.images)
                continue
            results.append(measure_histogram(histogram, request)[0])
    return PathsReport(series=results, skipped=skipped)


