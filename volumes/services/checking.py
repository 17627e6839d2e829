"""Finding and repairing what a crash left in storage: files without rows, rows without files, leftovers
in the staging folder (`manage.py check_storage`)."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from ..models import Instance, Measurement, Series
from .storing import PENDING_FOLDER, pending_path, pending_store, staging_dir

STORED_FOLDERS = ("instances", "histograms", "thumbnails")
"""The media folders whose every file belongs to a row."""

DEFAULT_MIN_AGE_SECONDS = 3600
"""Files younger than this are left alone: an upload or a measurement may still be writing them."""


@dataclass
class StorageReport:
    """What `storage_check` found, and (with repair) what it did about each."""

    files_without_rows: list[str] = field(default_factory=list)
    rows_without_files: list[str] = field(default_factory=list)
    stores_completed: list[str] = field(default_factory=list)
    staging_leftovers: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return sum(map(len, (self.files_without_rows, self.rows_without_files, self.stores_completed, self.staging_leftovers)))


def storage_check(*, repair: bool, min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS) -> StorageReport:
    """Compare the media files with the rows that name them, and the staging folder with what waits there.

    With `repair`: a row whose file still waits in `staging/pending/` (a crash after the commit) gets
    it moved into place; a row whose file is gone is deleted (an instance; the series' histograms are
    built again) or emptied (a histogram or picture field); files without rows and staging leftovers
    older than `min_age_seconds` are deleted. Without it, nothing changes.
    """
    report = StorageReport()
    now = time.time()
    check_instances(report, repair)
    check_file_fields(report, repair)
    referenced = referenced_names()
    for folder in STORED_FOLDERS:
        for name in storage_files(folder):
            if name in referenced or now - storage_mtime(name) < min_age_seconds:
                continue
            report.files_without_rows.append(name)
            if repair:
                default_storage.delete(name)
    check_staging(report, repair, now - min_age_seconds)
    return report


def check_instances(report: StorageReport, repair: bool) -> None:
    for pk, name, digest, series_id in Instance.objects.values_list("pk", "file", "sha256", "series_id").iterator():
        if default_storage.exists(name):
            continue
        if pending_path(digest).exists():
            report.stores_completed.append(name)
            if repair:
                pending_store(digest=digest)
            continue
        report.rows_without_files.append(f"instance {pk}: {name}")
        if repair:
            with transaction.atomic():
                Instance.objects.filter(pk=pk).delete()
                series = Series.objects.get(pk=series_id)
                if series.histogram:  # built from the files: built again from those left
                    series.histogram.delete(save=False)
                    series.histogram = ""
                    series.save(update_fields=["histogram"])


def check_file_fields(report: StorageReport, repair: bool) -> None:
    for model, field_name in ((Series, "histogram"), (Measurement, "thumbnail")):
        rows = model.objects.exclude(**{field_name: ""}).values_list("pk", field_name)
        for pk, name in rows.iterator():
            if default_storage.exists(name):
                continue
            report.rows_without_files.append(f"{model._meta.model_name} {pk} {field_name}: {name}")
            if repair:
                model.objects.filter(pk=pk).update(**{field_name: ""})


def referenced_names() -> set[str]:
    names = set(Instance.objects.values_list("file", flat=True))
    names.update(Series.objects.exclude(histogram="").values_list("histogram", flat=True))
    names.update(Measurement.objects.exclude(thumbnail="").values_list("thumbnail", flat=True))
    return names


def storage_files(folder: str):
    """Every file name under a storage folder, through the storage API (local or S3)."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            directories, files = default_storage.listdir(current)
        except FileNotFoundError:  # a local folder nothing was stored in yet
            continue
        pending.extend(f"{current}/{d}" for d in directories)
        yield from (f"{current}/{f}" for f in files)


def storage_mtime(name: str) -> float:
    try:
        return default_storage.get_modified_time(name).timestamp()
    except (NotImplementedError, OSError):
        return 0.0


def check_staging(report: StorageReport, repair: bool, older_than: float) -> None:
    """Uploads cut by a crash (`upload-*`), and pending files whose rows never committed."""
    root = staging_dir()
    entries = [*root.iterdir(), *(root / PENDING_FOLDER).glob("*")] if (root / PENDING_FOLDER).exists() else list(root.iterdir())
    for entry in entries:
        if entry.name == PENDING_FOLDER or entry.lstat().st_mtime > older_than:
            continue
        report.staging_leftovers.append(str(entry.relative_to(root)))
        if repair:
            remove(entry)


def remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def storage_report_lines(report: StorageReport, repaired: bool) -> list[str]:
    """The report for a person: one line per finding, what was done, and a total."""
    done = {
        "stores_completed": "moved into place" if repaired else "waits in staging/pending: --repair moves it into place",
        "rows_without_files": "row removed or emptied" if repaired else "the file is missing",
        "files_without_rows": "deleted" if repaired else "no row names it",
        "staging_leftovers": "deleted" if repaired else "left by an upload that never finished",
    }
    lines = []
    for kind, what in done.items():
        for item in getattr(report, kind):
            lines.append(f"{kind.replace('_', ' ')}: {item} ({what})")
    verb = "repaired" if repaired else "found"
    lines.append(f"{report.problems} problem(s) {verb} at {timezone.now():%Y-%m-%d %H:%M:%S %Z}")
    return lines
