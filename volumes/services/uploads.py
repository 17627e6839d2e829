"""Uploads: store an upload's images as study, series and instance rows, and queue their measurements."""
from __future__ import annotations

import datetime
import hashlib
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from ..imaging.geometry import VolumeImages
from ..imaging.measure import ThresholdRequest
from ..imaging.sources import Skipped, SourceFile
from ..models import Instance, Measurement, Series, Study, Upload
from .measuring import measurement_enqueue
from .scanning import Scan, sources_scan


class UploadRejected(Exception):
    """Nothing in an upload can be measured; `skipped` says why for each file."""

    def __init__(self, message: str, skipped: list[Skipped]):
        super().__init__(message)
        self.message = message
        self.skipped = skipped



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


