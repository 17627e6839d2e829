"""Downloads of one measurement: its JSON document, and its mask as DICOM SEG and NIfTI.

Served to their owner, signed in by session or by API token (`private_file_view`).
"""
import json

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from . import services
from .api_responses import private_file_view
from .models import Measurement


def owned_measurement(request, pk: int) -> Measurement:
    return get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)


def attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@private_file_view("application/json")
def measurement_json(request, pk: int):
    """The measurement as one JSON document (what the API gives, with its series and study)."""
    measurement = owned_measurement(request, pk)
    document = services.measurement_document(
        measurement=measurement, url=request.build_absolute_uri(measurement.get_absolute_url())
    )
    return attachment(
        json.dumps(document, indent=2).encode(), "application/json", f"measurement-{measurement.pk}.json"
    )


@private_file_view("application/dicom")
def measurement_seg(request, pk: int):
    """The counted voxels as a DICOM SEG file referencing the source series."""
    measurement = owned_measurement(request, pk)
    try:
        content = services.measurement_seg(measurement=measurement)
    except services.ExportError as error:
        return export_refused(request, measurement, "DICOM SEG", error)
    return attachment(content, "application/dicom", f"measurement-{measurement.pk}-seg.dcm")


@private_file_view("application/gzip")
def measurement_nifti(request, pk: int):
    """The counted voxels as a gzipped NIfTI-1 file with the scanner's affine."""
    measurement = owned_measurement(request, pk)
    try:
        content = services.measurement_nifti(measurement=measurement)
    except services.ExportError as error:
        return export_refused(request, measurement, "NIfTI", error)
    return attachment(content, "application/gzip", f"measurement-{measurement.pk}-mask.nii.gz")


def export_refused(request, measurement: Measurement, kind: str, error: Exception) -> HttpResponse:
    """409: the mask cannot be made from what is stored (not measured yet, files changed, no geometry)."""
    context = {"measurement": measurement, "kind": kind, "reason": str(error)}
    return render(request, "volumes/measurement_export_refused.html", context, status=409)
