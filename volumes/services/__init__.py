"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
"""
from .exporting import ExportError, measurement_mask, measurement_nifti, measurement_seg
from .history import (
    SORTS,
    Deletion,
    HistoryQuery,
    measurement_delete,
    measurement_deletion,
    measurement_document,
    measurements_search,
    measurements_write_csv,
    modalities_of,
    upload_delete,
    upload_deletion,
)
from .measuring import (
    INTERNAL_ERROR_MESSAGE,
    measurement_enqueue,
    measurement_remeasure,
    measurement_rerun,
    measurement_run,
    series_histogram,
)
from .scanning import PathsReport, Scan, decode_processes, paths_measure, sources_scan
from .tokens import token_authenticate, token_create, token_revoke
from .uploads import UploadRejected, file_sha256, upload_ingest
from .viewing import (
    SliceNotFound,
    Window,
    measurement_live,
    measurement_viewer,
    series_mask_png,
    series_slice_png,
)

__all__ = [
    "ExportError", "measurement_mask", "measurement_nifti", "measurement_seg",
    "SORTS", "Deletion", "HistoryQuery", "measurement_delete", "measurement_deletion", "measurement_document",
    "measurements_search", "measurements_write_csv", "modalities_of", "upload_delete", "upload_deletion",
    "INTERNAL_ERROR_MESSAGE", "PathsReport", "Scan", "UploadRejected", "decode_processes", "file_sha256",
    "measurement_enqueue", "measurement_remeasure", "measurement_rerun", "measurement_run", "paths_measure",
    "series_histogram", "sources_scan", "token_authenticate", "token_create", "token_revoke", "upload_ingest",
    "SliceNotFound", "Window", "measurement_live", "measurement_viewer", "series_mask_png", "series_slice_png",
]
