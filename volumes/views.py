"""Pages: thin layers that read the request, call a service and answer (the JSON API is in api.py)."""
import functools
import logging

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .api_responses import private_file_view
from .forms import ApiTokenForm, ThresholdForm, UploadForm
from .models import ApiToken, Measurement, Upload
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
    except SuspiciousOperation as error:  # too many files or fields for the configured limits
        form = UploadForm()
        form.add_error(None, f"The upload was refused: {error}")
        return render(request, "volumes/upload_form.html", {"form": form}, status=400)
    if not valid:
        return render(request, "volumes/upload_form.html", {"form": form}, status=400)
    try:
        upload = services.upload_ingest(
            owner=request.user, files=form.cleaned_data["files"], request=form.cleaned_data["request"]
        )
    except services.UploadRejected as rejected:
        form.add_error(None, rejected.message)
        context = {"form": form, "skipped": [s.as_dict() for s in rejected.skipped]}
        return render(request, "volumes/upload_form.html", context, status=400)
    measurements = list(upload.measurements.all())
    if len(measurements) == 1:
        return redirect(measurements[0])
    return redirect(upload)


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
    form = ThresholdForm(initial={"mode": measurement.mode, "threshold": threshold_text(measurement)})
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
        "refresh": not measurement.is_finished,
        "time_series": time_series_chart(measurement.result_dict()),
    }
    return render(request, "volumes/measurement_detail.html", context, status=status)


def threshold_text(measurement: Measurement) -> str:
    """The threshold asked for, as a person would type it (300, not 300.0); empty for automatic modes."""
    value = measurement.threshold_requested
    return "" if value is None else f"{value:g}"


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
