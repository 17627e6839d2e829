"""Downloads of one measurement: its JSON document, and its mask as DICOM SEG and NIfTI.

Plain Django views checked against the owner; the API's token authentication can wrap them.
"""
import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
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
