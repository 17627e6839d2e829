"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .imaging.geometry import VolumeImages, split_into_volumes
from .imaging.measure import (
    MeasurementError,
    SeriesMeasurement,
    ThresholdRequest,
    VolumeHistogram,
    histogram_volume,
    measure_histogram,
)
from .imaging.reading import (
    DicomImage,
    NotAnImage,
    Skipped,
    SourceFile,
    collect_paths,
    read_images,
    unpack_sources,
)
from .imaging.render import preview_png
from .models import Instance, Measurement, Series, Study, Upload

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "The measurement failed because of an internal error; it has been logged for the administrators."


class UploadRejected(Exception):
    """Nothing in an upload can be measured; `skipped` says why for each file."""

    def __init__(self, message: str, skipped: list[Skipped]):
        super().__init__(message)
        self.message = message
        self.skipped = skipped


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


# --- reading what was sent ----------------------------------------------------------------------


def sources_scan(
    *, sources: Iterable[SourceFile], workdir: Path, processes: int = 1, histograms: bool = False
) -> Scan:
    """Unpack archives, read every header, leave out what cannot be measured, group into volumes.

    A web request reads headers in its own process (`processes` 1): forking a threaded server is unsafe.
    With `histograms`, uncompressed pixel data is histogrammed in the same pass (to be measured at once).
    """
    files, skipped = unpack_sources(sources, workdir)
    images: list[DicomImage] = []
    seen: dict[str, str] = {}
    for source, image in zip(files, read_images(files, processes, histograms=histograms)):
        if isinstance(image, NotAnImage):
            skipped.append(Skipped(source.name, str(image)))
            continue
        if image.sop_instance_uid and image.sop_instance_uid in seen:
            skipped.append(Skipped(source.name, f"the same image (SOP Instance UID) as {seen[image.sop_instance_uid]}"))
            continue
        seen[image.sop_instance_uid] = source.name
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


# --- uploads ------------------------------------------------------------------------------------


def upload_ingest(*, owner, files: Iterable, request: ThresholdRequest) -> Upload:
    """Store an upload's images as study, series and instance rows, and queue one measurement per volume.

    `files` are Django UploadedFile objects. Raises UploadRejected, storing nothing, when no file
    holds a measurable image. Files that cannot be measured are kept on the Upload as skipped.
    """
    with tempfile.TemporaryDirectory(prefix="upload-") as workdir:
        sources = [stage_uploaded_file(f, index, Path(workdir)) for index, f in enumerate(files)]
        if not sources:
            raise UploadRejected("No files were sent.", [])
        scan = sources_scan(sources=sources, workdir=Path(workdir))
        if not scan.volumes:
            raise UploadRejected(rejection_message(scan), scan.skipped)
        return store_scan(owner=owner, scan=scan, request=request)


def stage_uploaded_file(uploaded, index: int, workdir: Path) -> SourceFile:
    """A path on disk for an uploaded file: its temporary file when Django streamed it to one."""
    name = uploaded.name or f"file-{index + 1}"
    if hasattr(uploaded, "temporary_file_path"):
        return SourceFile(name=name, path=Path(uploaded.temporary_file_path()))
    target = workdir / f"uploaded-{index}"
    with open(target, "wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return SourceFile(name=name, path=target)


def rejection_message(scan: Scan) -> str:
    if scan.files == 0:
        return "The upload holds no files."
    if scan.files == 1 and len(scan.skipped) == 1:
        only = scan.skipped[0]
        return f"{only.name} cannot be measured: {only.reason}."
    return f"None of the {scan.files} files holds an image that can be measured."


def store_scan(*, owner, scan: Scan, request: ThresholdRequest) -> Upload:
    """Write the files, then the rows in one transaction; on any failure remove the files written."""
    written: list[str] = []
    skipped = list(scan.skipped)
    try:
        with transaction.atomic():
            upload = Upload(owner=owner, files_received=scan.files, skipped=[])
            upload.full_clean()
            upload.save()
            measurements = []
            for volume in scan.volumes:
                series = series_store(owner=owner, volume=volume, written=written, skipped=skipped)
                measurement = Measurement(
                    series=series,
                    upload=upload,
                    mode=request.mode,
                    threshold_requested=request.value,
                )
                measurement.full_clean()
                measurement.save()
                measurements.append(measurement)
            upload.skipped = [s.as_dict() for s in skipped]
            upload.save(update_fields=["skipped"])
            for measurement in measurements:
                measurement_enqueue(measurement=measurement)
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return upload


def series_store(*, owner, volume: VolumeImages, written: list[str], skipped: list[Skipped]) -> Series:
    first = volume.first
    study, _ = Study.objects.get_or_create(
        owner=owner,
        study_instance_uid=first.study_instance_uid,
        defaults={"description": first.study_description[:255], "study_date": parse_dicom_date(first.study_date)},
    )
    series, _ = Series.objects.get_or_create(
        study=study,
        series_instance_uid=first.series_instance_uid,
        part=volume.part,
        defaults={
            "modality": first.modality[:16],
            "description": first.series_description[:255],
            "series_number": first.series_number,
            "rows": first.rows,
            "columns": first.columns,
        },
    )
    stored = dict(series.instances.values_list("sop_instance_uid", "sha256"))
    added = False
    for image in volume.images:
        digest = file_sha256(image.path)
        if image.sop_instance_uid in stored:
            if stored[image.sop_instance_uid] != digest:
                skipped.append(
                    Skipped(image.name, "another file with this SOP Instance UID is already stored in the series; that one is kept")
                )
            continue
        name = store_file(image.path, digest, written)
        instance = Instance(
            series=series,
            sop_instance_uid=image.sop_instance_uid,
            instance_number=image.instance_number,
            frames=len(image.frames),
            file=name,
            original_name=image.name[:500],
            sha256=digest,
            size_bytes=image.path.stat().st_size,
        )
        instance.full_clean()
        instance.save()
        stored[image.sop_instance_uid] = digest
        added = True
    if added and series.histogram:
        # New slices change the volume: the histograms are built again at the next measurement.
        series.histogram.delete(save=False)
        series.histogram = ""
        series.save(update_fields=["histogram"])
    return series


def store_file(path: Path, digest: str, written: list[str]) -> str:
    """Store a file under its SHA-256, once: identical content is never written twice."""
    name = f"instances/{digest[:2]}/{digest}.dcm"
    if not default_storage.exists(name):
        with open(path, "rb") as f:
            saved = default_storage.save(name, File(f))
        written.append(saved)
        return saved
    return name


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def parse_dicom_date(value: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


# --- measuring ------------------------------------------------------------------------------------


def measurement_enqueue(*, measurement: Measurement) -> None:
    """Queue the measurement for the worker once the rows it needs are committed."""
    from .tasks import measure_task

    measurement_id = measurement.pk
    transaction.on_commit(lambda: measure_task.enqueue(measurement_id=measurement_id))


def measurement_remeasure(*, measurement: Measurement, request: ThresholdRequest) -> Measurement:
    """Measure the same volume again at another threshold; the earlier measurement is kept.

    When the series' histograms are stored this is arithmetic on them and runs at once; otherwise
    (the first measurement has not finished) the new one is queued.
    """
    again = Measurement(series=measurement.series, mode=request.mode, threshold_requested=request.value)
    again.full_clean()
    again.save()
    if measurement.series.histogram:
        return measurement_run(measurement=again)
    measurement_enqueue(measurement=again)
    return again


def measurement_run(*, measurement: Measurement) -> Measurement:
    """Measure: histograms of the series (read once, then kept), the threshold, the volume, the picture."""
    measurement.state = Measurement.State.RUNNING
    measurement.started_at = timezone.now()
    measurement.error_message = ""
    measurement.save(update_fields=["state", "started_at", "error_message"])
    try:
        histogram = series_histogram(series=measurement.series)
        result, above = measure_histogram(histogram, measurement.threshold_request())
        picture = preview_png(histogram, above)
    except MeasurementError as error:
        return measurement_fail(measurement=measurement, message=str(error))
    except Exception:
        logger.exception("measurement %s failed", measurement.pk)
        return measurement_fail(measurement=measurement, message=INTERNAL_ERROR_MESSAGE)
    record_result(measurement, result)
    if measurement.thumbnail:
        measurement.thumbnail.delete(save=False)
    measurement.thumbnail.save(f"measurement-{measurement.pk}.png", ContentFile(picture), save=False)
    measurement.state = Measurement.State.DONE
    measurement.finished_at = timezone.now()
    measurement.full_clean()
    measurement.save()
    return measurement


def record_result(measurement: Measurement, result: SeriesMeasurement) -> None:
    measurement.threshold = result.threshold
    measurement.threshold_modality = result.threshold_modality
    measurement.voxels_above = result.voxels_above
    measurement.total_voxels = result.total_voxels
    measurement.volume_mm3 = result.volume_mm3
    measurement.volume_unavailable_reason = result.volume_unavailable_reason or ""
    measurement.slices = result.slices
    spacing = result.pixel_spacing_mm or (None, None)
    measurement.pixel_spacing_row_mm, measurement.pixel_spacing_column_mm = spacing
    slab = result.slab_mm or {}
    measurement.slab_min_mm = slab.get("min")
    measurement.slab_max_mm = slab.get("max")
    measurement.slab_mean_mm = slab.get("mean")
    measurement.warnings = list(result.warnings)
    measurement.stats = result.stats


def measurement_fail(*, measurement: Measurement, message: str) -> Measurement:
    measurement.state = Measurement.State.FAILED
    measurement.error_message = message
    measurement.finished_at = timezone.now()
    measurement.save(update_fields=["state", "error_message", "finished_at"])
    return measurement


def series_histogram(*, series: Series) -> VolumeHistogram:
    """The series' histograms: loaded when stored, else built from its files (reading every pixel once)."""
    if series.histogram:
        with series.histogram.open("rb") as f:
            return VolumeHistogram.load(f)
    sources = [SourceFile(name=i.original_name, path=Path(i.file.path)) for i in series.instances.all()]
    images = []
    unreadable = []
    for source, image in zip(sources, read_images(sources, decode_processes(), histograms=True)):
        if isinstance(image, NotAnImage):
            unreadable.append(f"{source.name}: {image}")
        else:
            images.append(image)
    if not images:
        raise MeasurementError("none of the series' stored files can be read: " + "; ".join(unreadable[:3]))
    histogram = histogram_volume(VolumeImages(images=tuple(images), part=series.part), processes=decode_processes())
    if unreadable:
        histogram = replace(histogram, warnings=(*histogram.warnings, *(f"left out {text}" for text in unreadable)))
    series.histogram.save(f"series-{series.pk}.npz", ContentFile(histogram.to_bytes()), save=False)
    series.save(update_fields=["histogram"])
    return histogram


def measurement_rerun(*, measurement: Measurement) -> Measurement:
    """Queue a measurement again (admin): for one stuck or failed, or after the files were replaced."""
    measurement.state = Measurement.State.QUEUED
    measurement.error_message = ""
    measurement.save(update_fields=["state", "error_message"])
    measurement_enqueue(measurement=measurement)
    return measurement
