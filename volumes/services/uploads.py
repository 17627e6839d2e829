"""Uploads: store an upload's images as study, series and instance rows, and queue their measurements."""
from __future__ import annotations

import datetime
import hashlib
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from ..imaging.archives import DiskSpaceLow
from ..imaging.grouping import VolumeImages
from ..imaging.sources import Skipped, SourceFile
from ..imaging.thresholds import ThresholdRequest
from ..models import Instance, Measurement, Series, Study, Upload
from .measuring import measurement_enqueue
from .privacy import scan_deidentify
from .scanning import Scan, sources_scan
from .storing import (
    file_set_pending,
    instance_file_name,
    pending_discard,
    pending_folder,
    pending_store,
    staging_dir,
)

SKIPPED_NAMES_KEPT = 100
"""How many skipped files an upload keeps by name (with their reasons); the rest are only counted."""

INSERT_BATCH_ROWS = 500
"""Instance rows inserted by one statement (SQLite allows 32,766 values in one; a row has 9)."""

SKIPPED_REASONS_KEPT = 20
"""How many distinct reasons an upload counts apart; rarer ones are counted together."""


@dataclass(frozen=True)
class SkippedSummary:
    """What an upload keeps about the files it left out, bounded whatever was sent: how many, how
    many per reason, and the first SKIPPED_NAMES_KEPT by name."""

    count: int
    reasons: dict[str, int]
    first: tuple[Skipped, ...]

    @classmethod
    def of(cls, skipped: list[Skipped]) -> "SkippedSummary":
        counts = Counter(s.reason for s in skipped).most_common()
        reasons = dict(counts[:SKIPPED_REASONS_KEPT])
        rest = sum(n for _, n in counts[SKIPPED_REASONS_KEPT:])
        if rest:
            reasons[f"{len(counts) - SKIPPED_REASONS_KEPT} other reasons"] = rest
        return cls(count=len(skipped), reasons=reasons, first=tuple(skipped[:SKIPPED_NAMES_KEPT]))

    def files(self) -> list[dict]:
        return [s.as_dict() for s in self.first]


UPLOAD_TURNS = threading.BoundedSemaphore(settings.VOLUMES_UPLOADS_AT_ONCE)
"""How many uploads one web process unpacks, reads and stores at once. The others wait for a turn (their
bytes already received), so that the pages and API answers the process serves meanwhile do not share
the CPU with every upload in flight."""


class UploadRejected(Exception):
    """Nothing in an upload can be measured; `skipped` says why, for the first files, and counts them all."""

    def __init__(self, message: str, skipped: list[Skipped], status: int = 400):
        super().__init__(message)
        self.message = message
        self.summary = SkippedSummary.of(skipped)
        self.status = status


def upload_ingest(*, owner, files: Iterable, request: ThresholdRequest) -> Upload:
    """Store an upload's images as study, series and instance rows, and queue one measurement per volume.

    `files` are Django UploadedFile objects (streamed into the staging folder by
    StagingUploadHandler, with their SHA-256). Raises UploadRejected, storing nothing, when no file
    holds a measurable image. Files that cannot be measured are kept on the Upload as skipped.
    """
    with UPLOAD_TURNS, tempfile.TemporaryDirectory(prefix="upload-", dir=staging_dir()) as workdir:
        sources = [stage_uploaded_file(f, index, Path(workdir)) for index, f in enumerate(files)]
        if not sources:
            raise UploadRejected("No files were sent.", [])
        try:
            scan = sources_scan(sources=sources, workdir=Path(workdir))
        except DiskSpaceLow as error:
            raise UploadRejected(f"Nothing was stored: {error}.", [], status=507) from None
        scan = scan_deidentify(scan=scan, workdir=Path(workdir))  # when VOLUMES_DEIDENTIFY: before anything is stored
        if not scan.volumes:
            raise UploadRejected(rejection_message(scan), scan.skipped)
        return store_scan(owner=owner, scan=scan, request=request)


def stage_uploaded_file(uploaded, index: int, workdir: Path) -> SourceFile:
    """A path on disk for an uploaded file: where the staging handler streamed it (hash known, a zip's
    stored entries split out), else a copy."""
    name = uploaded.name or f"file-{index + 1}"
    if hasattr(uploaded, "temporary_file_path"):
        return SourceFile(
            name=name,
            path=Path(uploaded.temporary_file_path()),
            sha256=getattr(uploaded, "sha256", ""),
            split_entries=getattr(uploaded, "split_entries", None),
        )
    target = workdir / f"uploaded-{index}"
    with open(target, "wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return SourceFile(name=name, path=target)


def rejection_message(scan: Scan) -> str:
    if scan.files == 0 and not scan.skipped:
        return "The upload holds no files."
    if len(scan.skipped) == 1:
        only = scan.skipped[0]
        return f"{only.name} cannot be measured: {only.reason}."
    # Nothing unpacked (every archive refused or empty): count what was refused instead.
    return f"None of the {scan.files or len(scan.skipped):,} files holds an image that can be measured."


def store_scan(*, owner, scan: Scan, request: ThresholdRequest) -> Upload:
    """The rows in one transaction, the files renamed to wait for them; once it commits, the files moved
    into place, then the measurements queued. On any failure before the commit, nothing stays."""
    skipped = list(scan.skipped)
    pending: dict[str, Path] = {}
    placed: list[str] = []  # pending files this upload put there: removed again if it fails
    try:
        with transaction.atomic():
            upload = Upload(owner=owner, files_received=scan.files, skipped=[])
            upload.full_clean()
            upload.save()
            measurements = []
            for volume in scan.volumes:
                series = series_store(owner=owner, volume=volume, digests=scan.digests, pending=pending, skipped=skipped)
                measurement = Measurement(
                    series=series,
                    upload=upload,
                    mode=request.mode,
                    threshold_requested=request.value,
                    threshold_upper_requested=request.upper,
                    body_only=request.body_only,
                )
                measurement.full_clean()
                measurement.save()
                measurements.append(measurement)
            summary = SkippedSummary.of(skipped)
            upload.skipped = summary.files()
            upload.skipped_count = summary.count
            upload.skipped_reasons = summary.reasons
            upload.save(update_fields=["skipped", "skipped_count", "skipped_reasons"])
            folder = pending_folder()
            for digest, path in pending.items():
                if file_set_pending(path=path, digest=digest, folder=folder):
                    placed.append(digest)
            digests_to_store = list(pending)
            transaction.on_commit(lambda: pending_store_all(digests=digests_to_store, folder=folder))
            for measurement in measurements:
                measurement_enqueue(measurement=measurement)  # on commit too, after the files are in place
    except BaseException:
        for digest in placed:
            pending_discard(digest=digest)
        raise
    return upload


def pending_store_all(*, digests: list[str], folder: Path) -> None:
    for digest in digests:
        pending_store(digest=digest, folder=folder)


def series_store(
    *, owner, volume: VolumeImages, digests: dict[Path, str], pending: dict[str, Path], skipped: list[Skipped]
) -> Series:
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
        volume_label=volume.volume_label,
        defaults={
            "modality": first.modality[:16],
            "description": first.series_description[:255],
            "series_number": first.series_number,
            "rows": first.rows,
            "columns": first.columns,
        },
    )
    stored = dict(series.instances.values_list("sop_instance_uid", "sha256"))
    added: list[Instance] = []
    for image in volume.images:
        digest = digests.get(image.path) or file_sha256(image.path)
        if image.sop_instance_uid in stored:
            if stored[image.sop_instance_uid] != digest:
                skipped.append(
                    Skipped(image.name, "another file with this SOP Instance UID is already stored in the series; that one is kept")
                )
            continue
        name = instance_file_name(digest)
        if digest not in pending and not default_storage.exists(name):
            pending[digest] = image.path
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
        # Checked here without a query a row: the series was just fetched or created, and `stored`
        # holds its SOP Instance UIDs (the unique constraint), then inserted together.
        instance.full_clean(exclude=["series"], validate_constraints=False)
        added.append(instance)
        stored[image.sop_instance_uid] = digest
    Instance.objects.bulk_create(added, batch_size=INSERT_BATCH_ROWS)
    if added and series.histogram:
        # New slices change the volume: the histograms are built again at the next measurement.
        for stored_file in (series.histogram, series.body, series.body_histogram):
            if stored_file:
                stored_file.delete(save=False)
        series.save(update_fields=["histogram", "body", "body_histogram"])
    return series


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def parse_dicom_date(value: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


