"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
"""
from .health import Health, health_check
from .measuring import (
    INTERNAL_ERROR_MESSAGE,
    measurement_enqueue,
    measurement_remeasure,
    measurement_rerun,
    measurement_run,
    series_histogram,
)
from .scanning import PathsReport, Scan, decode_processes, paths_measure, sources_scan
from .uploads import UploadRejected, file_sha256, upload_ingest

__all__ = [
    "INTERNAL_ERROR_MESSAGE", "Health", "PathsReport", "Scan", "UploadRejected", "decode_processes", "file_sha256",
    "health_check",
    "measurement_enqueue", "measurement_remeasure", "measurement_rerun", "measurement_run", "paths_measure",
    "series_histogram", "sources_scan", "upload_ingest",
]
