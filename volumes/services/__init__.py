"""The use cases: the only place that joins the ORM, file storage and the imaging pipeline.

Views, the API, the task, admin and the `measure` command call these functions and nothing deeper.
Each name is imported from its module on first use (PEP 562): `manage.py measure` uses only
`scanning`, which needs no model, and starts without loading the apps and the ORM (see manage.py).
"""
import importlib

MODULE_OF = {
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
    "UploadRejected": "uploads",
    "file_sha256": "uploads",
    "upload_ingest": "uploads",
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
