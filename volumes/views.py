"""Pages: thin layers that read the request, call a service and answer (the JSON API is in api.py)."""
import functools
import logging

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import (
    SuspiciousOperation,
)
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .api_responses import private_file_view
from .forms import ApiTokenForm, ThresholdForm, UploadForm
from .imaging.histograms import MeasurementError
from .models import ApiToken, Measurement, Upload
from .refusals import refusal_message
from .serializers import MaskQuerySerializer, ThresholdRequestSerializer, WindowQuerySerializer
from . import figures
from .time_series import time_series_chart

logger = logging.getLogger(__name__)

SIBLINGS_SHOWN = 20


# --- pages ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def upload_create(request):
    if request.method == "GET":
        return render(request, "volumes/upload_form.html", {"form": UploadForm()})
    try:
        form = UploadForm(request.POST, request.FILES)
        valid = form.is_valid()
    except (SuspiciousOperation, MultiPartParserError) as error:  # too many files, or a cut body
        return upload_refused(request, error)
    if not valid:
        return render(request, "volumes/upload_form.html", {"form": form}, status=400)
    try:
        upload = services.upload_ingest(
            owner=request.user, files=form.cleaned_data["files"], request=form.cleaned_data["request"]
        )
    except services.UploadRejected as rejected:
        form.add_error(None, rejected.message)
        context = {
            "form": form,
            "skipped": rejected.summary.files(),
            "skipped_count": rejected.summary.count,
            "skipped_reasons": rejected.summary.reasons,
        }
        return render(request, "volumes/upload_form.html", context, status=rejected.status)
    measurements = list(upload.measurements.all())
    if len(measurements) == 1:
        return redirect(measurements[0])
    return redirect(upload)


def upload_refused(request, error: Exception):
    return render(request, "volumes/upload_form.html", {"form": UploadForm(), "refusal": refusal_message(error)}, status=400)


def bad_request(request, exception=None):
    """Django's 400 answer (handler400) for a body refused before the view, e.g. by the CSRF check
    reading it: the reason in words, as JSON under /api/, on the upload form for the upload page."""
    if exception is None or not isinstance(exception, (SuspiciousOperation, MultiPartParserError)):
        message = "The request could not be understood."
    else:
        message = refusal_message(exception)
    if request.path.startswith("/api/"):
        return json_error(message, 400)
    if request.path == reverse("volumes:upload") and request.user.is_authenticated:
        return render(request, "volumes/upload_form.html", {"form": UploadForm(), "refusal": message}, status=400)
    return render(request, "volumes/bad_request.html", {"message": message}, status=400)


@login_required
@require_GET
def upload_detail(request, pk: int):
    upload = get_object_or_404(Upload, pk=pk, owner=request.user)
    measurements = list(upload.measurements.with_series().order_by("id"))
    finished = sum(m.is_finished for m in measurements)
    return render(
        request,
        "volumes/upload_detail.html",
        {
            "upload": upload,
            "measurements": measurements,
            "finished": finished,
            "unfinished": len(measurements) - finished,
            "refresh": finished < len(measurements),
        },
    )


@login_required
@require_GET
def measurement_detail(request, pk: int):
    measurement = get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)
    form = ThresholdForm(
        initial={
            "mode": measurement.mode,
            "threshold": threshold_text(measurement.threshold_requested),
            "upper": threshold_text(measurement.threshold_upper_requested),
            "body_only": measurement.body_only,
        }
    )
    threshold_modality = measurement.result_dict().get("threshold_modality")
    if measurement.threshold_requested is None and threshold_modality is not None:
        unit = "HU" if measurement.series.modality == "CT" else "modality units"
        chosen = f"{measurement.mode.capitalize()} chose {threshold_modality:.1f} {unit}"
        form.fields["threshold"].widget.attrs.update({"data-chosen": chosen, "data-chosen-mode": measurement.mode})
    return render_measurement(request, measurement, form)


@login_required
@require_POST
def measurement_remeasure(request, pk: int):
    measurement = get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        return render_measurement(request, measurement, form, status=400)
    again = services.measurement_remeasure(measurement=measurement, request=form.cleaned_data["request"])
    return redirect(again)


def render_measurement(request, measurement: Measurement, form: ThresholdForm, status: int = 200):
    context = {
        "measurement": measurement,
        "form": form,
        "siblings": measurement.series.measurements.with_series().exclude(pk=measurement.pk)[:SIBLINGS_SHOWN],
        "refresh_without_script": not measurement.is_finished,
        "time_series": time_series_chart(measurement.result_dict()),
    }
    return render(request, "volumes/measurement_detail.html", context, status=status)


def threshold_text(value: float | None) -> str:
    """A threshold asked for, as a person would type it (300, not 300.0); empty when none."""
    return "" if value is None else f"{value:g}"


# --- the result page's live parts: its state, the slice viewer, the live threshold ---------------


def owned_measurement(request, pk: int) -> Measurement:
    return get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)


@private_file_view("application/json")
def measurement_status(request, pk: int):
    """What the result page polls while queued or running (one query)."""
    measurement = owned_measurement(request, pk)
    return JsonResponse({"state": measurement.state, "finished": measurement.is_finished})


@private_file_view("application/json", refusals=(409,))
def measurement_viewer(request, pk: int):
    """What the slice viewer needs: the number of slices, their positions, the default and file windows,
    the histogram's range."""
    measurement = owned_measurement(request, pk)
    if measurement.state != Measurement.State.DONE:
        return json_error("The measurement has not finished yet.", 409)
    try:
        return JsonResponse(services.measurement_viewer(measurement=measurement))
    except MeasurementError as error:
        return json_error(f"The slices cannot be shown: {error}.", 409)


@private_file_view("application/json", parameters=[ThresholdRequestSerializer], refusals=(400, 409))
def measurement_live(request, pk: int):
    """The figures at the threshold in the query string, from the stored histograms; nothing is stored."""
    measurement = owned_measurement(request, pk)
    query = ThresholdRequestSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    try:
        result = services.measurement_live(series=measurement.series, request=query.validated_data["request"])
    except MeasurementError as error:
        return json_error(f"The figures cannot be computed: {error}.", 409)
    shown = {
        "voxels_above": f"{result.voxels_above:,}", "total_voxels": f"{result.total_voxels:,}",
        "volume_mm3": figures.mm3(result.volume_mm3), "volume_ml": figures.ml(result.volume_mm3),
    }
    return JsonResponse({**result.as_dict(), "shown": shown})


def json_error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def png_response(picture: bytes) -> HttpResponse:
    response = HttpResponse(picture, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@private_file_view("image/png", parameters=[WindowQuerySerializer], refusals=(400, 409))
def slice_picture(request, pk: int, number: int):
    """Slice `number` (1-based, in stack order) windowed at ?center=&width= (modality units), of time
    point ?t= (1-based) in a time series."""
    measurement = owned_measurement(request, pk)
    query = WindowQuerySerializer(data=request.query_params)
    if not query.is_valid():
        if set(query.errors) == {"t"}:
            return json_error("Give the time point (t) as a whole number from 1.", 400)
        return json_error("Give the window as center and width (a positive number) in modality units.", 400)
    window = services.Window(center=query.validated_data["center"], width=query.validated_data["width"])
    try:
        picture = services.series_slice_png(
            series=measurement.series, number=number - 1, window=window, time_point=query.validated_data["t"] - 1
        )
        return png_response(picture)
    except services.SliceNotFound as error:
        return json_error(str(error), 404)
    except MeasurementError as error:
        return json_error(f"The slice cannot be shown: {error}.", 409)


@private_file_view("image/png", parameters=[MaskQuerySerializer], refusals=(400, 409))
def slice_mask(request, pk: int, number: int):
    """Slice `number`'s counted voxels at the threshold in the query string, transparent elsewhere
    (?outline=1: only their edges; ?t=: the time point, 1-based)."""
    measurement = owned_measurement(request, pk)
    query = MaskQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    try:
        picture = services.series_mask_png(
            series=measurement.series,
            number=number - 1,
            request=query.validated_data["request"],
            outline=query.validated_data["outline"],
            time_point=query.validated_data["t"] - 1,
        )
    except services.SliceNotFound as error:
        return json_error(str(error), 404)
    except MeasurementError as error:
        return json_error(f"The mask cannot be shown: {error}.", 409)
    return png_response(picture)


@private_file_view("image/png")
def measurement_preview(request, pk: int):
    """The thumbnail PNG, to its owner only (staff see it through admin, with the view permission)."""
    measurement = get_object_or_404(Measurement.objects.for_user(request.user), pk=pk)
    return measurement_picture(measurement)


def measurement_picture(measurement: Measurement) -> FileResponse:
    if not measurement.thumbnail:
        raise Http404("This measurement has no picture yet.")
    response = FileResponse(measurement.thumbnail.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@never_cache  # the answer to a creation holds the new key
@require_http_methods(["GET", "POST"])
def account(request):
    """The account page: personal API tokens, created (the key shown once), listed and revoked."""
    form = ApiTokenForm(request.POST or None)
    created_key = None
    if request.method == "POST" and form.is_valid():
        token, created_key = services.token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    context = {"form": form, "tokens": ApiToken.objects.for_user(request.user), "created_key": created_key}
    return render(request, "volumes/account.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def api_token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken.objects.for_user(request.user), pk=pk)
    services.token_revoke(token=token)
    return redirect("volumes:account")


def offered_with_mail_only(view):
    """A password-reset page: 404 while no mail is configured (EMAIL_URL), since no reset could be sent."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.VOLUMES_MAIL_CONFIGURED:
            raise Http404("Password reset is not offered: no mail is configured.")
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def signup(request):
    if not settings.VOLUMES_ALLOW_SIGNUP:
        raise Http404("Sign-up is closed; ask an administrator for an account.")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("volumes:upload")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)
