"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
Each name is imported from its module on first use (PEP 562): `manage.py measure` uses only
`scanning`, which needs no model, and starts without loading the apps and the ORM (see manage.py).
"""
import importlib

MODULE_OF = {
    "ExportError": "exporting",
    "measurement_mask": "exporting",
    "measurement_nifti": "exporting",
    "measurement_seg": "exporting",
    "Deletion": "history",
    "HistoryQuery": "history",
    "SORTS": "history",
    "measurement_delete": "history",
    "measurement_deletion": "history",
    "measurement_document": "history",
    "measurements_search": "history",
    "measurements_write_csv": "history",
    "modalities_of": "history",
    "upload_delete": "history",
    "upload_deletion": "history",
    "Health": "health",
    "health_check": "health",
    "INTERNAL_ERROR_MESSAGE": "measuring",
    "measurement_enqueue": "measuring",
    "measurement_remeasure": "measuring",
    "measurement_rerun": "measuring",
    "measurement_run": "measuring",
    "series_histogram": "measuring",
    "PathsReport": "scanning",
    "Scan": "scanning",
    "decode_processes": "scanning",
    "paths_measure": "scanning",
    "sources_scan": "scanning",
    "token_authenticate": "tokens",
    "token_create": "tokens",
    "token_revoke": "tokens",
    "DEFAULT_MIN_AGE_SECONDS": "checking",
    "StorageReport": "checking",
    "storage_check": "checking",
    "storage_report_lines": "checking",
    "measurements_recover": "recovery",
    "DiskSpaceLow": "scanning",
    "staging_dir": "storing",
    "SkippedSummary": "uploads",
    "UploadRejected": "uploads",
    "file_sha256": "uploads",
    "upload_ingest": "uploads",
    "SliceNotFound": "viewing",
    "Window": "viewing",
    "measurement_live": "viewing",
    "measurement_viewer": "viewing",
    "series_mask_png": "viewing",
    "series_slice_png": "viewing",
}
"""Every public name of the services, and the module of one job that defines it."""

__all__ = sorted(MODULE_OF)


def __getattr__(name: str):
    if name in MODULE_OF:
        value = getattr(importlib.import_module(f"{__name__}.{MODULE_OF[name]}"), name)
    elif name in set(MODULE_OF.values()):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
