"""Pages and the JSON API: thin layers that read the request, call a service and answer."""
import base64
import binascii
import functools
import logging

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import SuspiciousOperation
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import ThresholdForm, UploadForm, WindowForm
from .imaging.measure import MeasurementError
from .models import Measurement, Upload

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 25
API_PAGE_SIZE = 50
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
    measurements = upload.measurements.with_series().order_by("id")
    unfinished = any(not m.is_finished for m in measurements)
    return render(
        request,
        "volumes/upload_detail.html",
        {"upload": upload, "measurements": measurements, "refresh": unfinished},
    )


@login_required
@require_GET
def measurement_list(request):
    measurements = Measurement.objects.for_user(request.user).with_series()
    page = Paginator(measurements, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "volumes/measurement_list.html", {"page": page})


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
    }
    return render(request, "volumes/measurement_detail.html", context, status=status)


def threshold_text(value: float | None) -> str:
    """A threshold asked for, as a person would type it (300, not 300.0); empty when none."""
    return "" if value is None else f"{value:g}"


# --- the result page's live parts: its state, the slice viewer, the live threshold ---------------


def owned_measurement(request, pk: int) -> Measurement:
    return get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)


@login_required
@require_GET
def measurement_status(request, pk: int):
    """What the result page polls while queued or running (one query)."""
    measurement = owned_measurement(request, pk)
    return JsonResponse({"state": measurement.state, "finished": measurement.is_finished})


@login_required
@require_GET
def measurement_viewer(request, pk: int):
    measurement = owned_measurement(request, pk)
    if measurement.state != Measurement.State.DONE:
        return json_error("The measurement has not finished yet.", 409)
    try:
        return JsonResponse(services.measurement_viewer(measurement=measurement))
    except MeasurementError as error:
        return json_error(f"The slices cannot be shown: {error}.", 409)


@login_required
@require_GET
def measurement_live(request, pk: int):
    """The figures at the threshold in the query string, from the stored histograms; nothing is stored."""
    measurement = owned_measurement(request, pk)
    form = ThresholdForm(request.GET)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return json_error(next(iter(errors.values()))[0], 400, fields=errors)
    try:
        result = services.measurement_live(series=measurement.series, request=form.cleaned_data["request"])
    except MeasurementError as error:
        return json_error(f"The figures cannot be computed: {error}.", 409)
    return JsonResponse(result.as_dict())


def png_response(picture: bytes) -> HttpResponse:
    response = HttpResponse(picture, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def slice_picture(request, pk: int, number: int):
    """Slice `number` (1-based, in stack order) windowed at ?center=&width= (modality units)."""
    measurement = owned_measurement(request, pk)
    form = WindowForm(request.GET)
    if not form.is_valid():
        return json_error("Give the window as center and width (a positive number) in modality units.", 400)
    window = services.Window(center=form.cleaned_data["center"], width=form.cleaned_data["width"])
    try:
        return png_response(services.series_slice_png(series=measurement.series, number=number - 1, window=window))
    except services.SliceNotFound as error:
        return json_error(str(error), 404)
    except MeasurementError as error:
        return json_error(f"The slice cannot be shown: {error}.", 409)


@login_required
@require_GET
def slice_mask(request, pk: int, number: int):
    """Slice `number`'s counted voxels at the threshold in the query string, transparent elsewhere
    (?outline=1: only their edges)."""
    measurement = owned_measurement(request, pk)
    form = ThresholdForm(request.GET)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return json_error(next(iter(errors.values()))[0], 400, fields=errors)
    try:
        picture = services.series_mask_png(
            series=measurement.series,
            number=number - 1,
            request=form.cleaned_data["request"],
            outline=request.GET.get("outline") == "1",
        )
    except services.SliceNotFound as error:
        return json_error(str(error), 404)
    except MeasurementError as error:
        return json_error(f"The mask cannot be shown: {error}.", 409)
    return png_response(picture)


@login_required
@require_GET
def measurement_preview(request, pk: int):
    """The thumbnail PNG: to its owner, and to staff (for admin)."""
    measurements = Measurement.objects.all() if request.user.is_staff else Measurement.objects.for_user(request.user)
    measurement = get_object_or_404(measurements, pk=pk)
    if not measurement.thumbnail:
        raise Http404("This measurement has no picture yet.")
    response = FileResponse(measurement.thumbnail.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_http_methods(["GET", "POST"])
def signup(request):
    if not settings.VOLUMES_ALLOW_SIGNUP:
        raise Http404("Sign-up is closed; ask an administrator for an account.")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("volumes:upload")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


# --- JSON API ---------------------------------------------------------------------------------


def json_error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_view(*methods: str):
    """An API endpoint: sign-in by session (with its CSRF check) or HTTP Basic; every answer JSON."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = json_error(f"Use {' or '.join(methods)} here.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            try:
                if not request.user.is_authenticated:
                    user = basic_auth_user(request)
                    if user is None:
                        response = json_error("Sign in first: a session cookie, or HTTP Basic credentials.", 401)
                        response["WWW-Authenticate"] = 'Basic realm="volumes"'
                        return response
                    request.user = user
                elif request.method != "GET" and not csrf_passes(request):
                    return json_error("CSRF check failed: send the csrftoken cookie's value as X-CSRFToken.", 403)
                return view(request, *args, **kwargs)
            except Http404:
                return json_error("No such measurement.", 404)
            except SuspiciousOperation as error:
                return json_error(f"The request was refused: {error}", 400)
            except Exception:
                logger.exception("API request failed")
                return json_error("Internal error; it has been logged for the administrators.", 500)

        return wrapper

    return decorate


def csrf_passes(request) -> bool:
    """Django's own CSRF check, for API requests signed in by session cookie."""
    return CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is None


def basic_auth_user(request):
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return authenticate(request, username=username, password=password)


def measurement_payload(request, measurement: Measurement) -> dict:
    payload = {
        "id": measurement.pk,
        "url": request.build_absolute_uri(reverse("volumes:api-measurement-detail", args=[measurement.pk])),
        "page_url": request.build_absolute_uri(measurement.get_absolute_url()),
        "state": measurement.state,
        "error_message": measurement.error_message or None,
        "created_at": measurement.created_at.isoformat(),
    }
    if measurement.state == Measurement.State.DONE:
        payload.update(measurement.as_series_measurement().as_dict())
        payload["thumbnail_url"] = request.build_absolute_uri(
            reverse("volumes:measurement-preview", args=[measurement.pk])
        )
    if measurement.upload_id:
        payload["skipped"] = measurement.upload.skipped
    return payload


@api_view("GET", "POST")
def api_measurements(request):
    """GET: the user's measurements, newest first, a page at a time. POST: upload and measure."""
    if request.method == "GET":
        return api_measurement_list(request)
    return api_measurement_create(request)


def api_measurement_list(request):
    measurements = Measurement.objects.for_user(request.user).with_series()
    page = Paginator(measurements, API_PAGE_SIZE).get_page(request.GET.get("page"))
    base = request.build_absolute_uri(reverse("volumes:api-measurement-list"))
    return JsonResponse(
        {
            "count": page.paginator.count,
            "next": f"{base}?page={page.next_page_number()}" if page.has_next() else None,
            "previous": f"{base}?page={page.previous_page_number()}" if page.has_previous() else None,
            "results": [measurement_payload(request, m) for m in page.object_list],
        }
    )


def api_measurement_create(request):
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        first = next(iter(errors.values()))[0]
        return json_error(first, 400, fields=errors)
    try:
        upload = services.upload_ingest(
            owner=request.user, files=form.cleaned_data["files"], request=form.cleaned_data["request"]
        )
    except services.UploadRejected as rejected:
        return json_error(rejected.message, 400, skipped=[s.as_dict() for s in rejected.skipped])
    measurements = upload.measurements.with_series().order_by("id")
    body = {
        "upload": upload.pk,
        "measurements": [measurement_payload(request, m) for m in measurements],
        "skipped": upload.skipped,
    }
    return JsonResponse(body, status=202)


@api_view("GET")
def api_measurement_detail(request, pk: int):
    measurement = get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)
    return JsonResponse(measurement_payload(request, measurement))


@api_view("POST")
def api_measurement_remeasure(request, pk: int):
    measurement = get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return json_error(next(iter(errors.values()))[0], 400, fields=errors)
    again = services.measurement_remeasure(measurement=measurement, request=form.cleaned_data["request"])
    status = 201 if again.is_finished else 202
    return JsonResponse(measurement_payload(request, again), status=status)
