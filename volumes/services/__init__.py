"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
"""
from ..imaging.archives import DiskSpaceLow
from .measuring import (
    INTERNAL_ERROR_MESSAGE,
    measurement_enqueue,
    measurement_remeasure,
    measurement_rerun,
    measurement_run,
    series_histogram,
)
from .scanning import PathsReport, Scan, decode_processes, paths_measure, sources_scan
from .checking import DEFAULT_MIN_AGE_SECONDS, StorageReport, storage_check, storage_report_lines
from .recovery import measurements_recover
from .storing import staging_dir
from .uploads import SkippedSummary, UploadRejected, file_sha256, upload_ingest

__all__ = [
    "DiskSpaceLow",
    "INTERNAL_ERROR_MESSAGE", "PathsReport", "Scan", "UploadRejected", "decode_processes", "file_sha256",
    "measurement_enqueue", "measurements_recover", "measurement_remeasure", "measurement_rerun", "measurement_run", "paths_measure",
    "series_histogram", "SkippedSummary", "sources_scan", "staging_dir", "storage_check", "DEFAULT_MIN_AGE_SECONDS", "StorageReport",
    "storage_report_lines", "upload_ingest",
]
