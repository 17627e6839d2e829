"""Downloads of one measurement: its JSON document, and its mask as DICOM SEG and NIfTI.

Plain Django views checked against the owner; the API's token authentication can wrap them.
"""
import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from . import services
from .models import Measurement


def owned_measurement(request, pk: int) -> Measurement:
    return get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)


def attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def measurement_json(request, pk: int):
    measurement = owned_measurement(request, pk)
    document = services.measurement_document(
        measurement=measurement, url=request.build_absolute_uri(measurement.get_absolute_url())
    )
    return attachment(
        json.dumps(document, indent=2).encode(), "application/json", f"measurement-{measurement.pk}.json"
    )


@login_required
@require_GET
def measurement_seg(request, pk: int):
    measurement = owned_measurement(request, pk)
    try:
        content = services.measurement_seg(measurement=measurement)
    except services.ExportError as error:
        return export_refused(request, measurement, "DICOM SEG", error)
    return attachment(content, "application/dicom", f"measurement-{measurement.pk}-seg.dcm")


@login_required
@require_GET
def measurement_nifti(request, pk: int):
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
