"""Pages and the JSON API: thin layers that read the request, call a service and answer."""
import base64
import binascii
import functools
import logging

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import ThresholdForm, UploadForm
from .models import Measurement, Upload
from .upload_handlers import UploadCut

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


def refusal_message(error: Exception) -> str:
    """What to tell the sender of a request body that Django refused before any view could read it."""
    if isinstance(error, TooManyFilesSent):
        return (
            f"An upload may hold at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files (VOLUMES_MAX_UPLOAD_FILES) "
            "and this one held more: send them as a .zip archive, or in several uploads. Nothing was stored."
        )
    if isinstance(error, TooManyFieldsSent):
        return f"The form held more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields. Nothing was stored."
    if isinstance(error, RequestDataTooBig):
        return "The form's fields (besides its files) were too large. Nothing was stored."
    if isinstance(error, UploadCut):
        return f"Nothing was stored: {error}."
    return f"The upload was refused: {error}"


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
    form = ThresholdForm(initial={"mode": measurement.mode, "threshold": threshold_text(measurement)})
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
    }
    return render(request, "volumes/measurement_detail.html", context, status=status)


def threshold_text(measurement: Measurement) -> str:
    """The threshold asked for, as a person would type it (300, not 300.0); empty for automatic modes."""
    value = measurement.threshold_requested
    return "" if value is None else f"{value:g}"


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
            except (SuspiciousOperation, MultiPartParserError) as error:
                return json_error(refusal_message(error), 400)
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


def measurement_payload(request, measurement: Measurement, detail: bool = True) -> dict:
    """A measurement as JSON; in lists (`detail` False) its upload's skipped files only counted."""
    payload = {
        "id": measurement.pk,
        "url": request.build_absolute_uri(reverse("volumes:api-measurement-detail", args=[measurement.pk])),
        "page_url": request.build_absolute_uri(measurement.get_absolute_url()),
        "state": measurement.state,
        "error_message": measurement.error_message or None,
        "attempts": measurement.attempts,
        "retried_because": measurement.retry_reason or None,
        "created_at": measurement.created_at.isoformat(),
    }
    if measurement.state == Measurement.State.DONE:
        payload.update(measurement.as_series_measurement().as_dict())
        payload["thumbnail_url"] = request.build_absolute_uri(
            reverse("volumes:measurement-preview", args=[measurement.pk])
        )
    if measurement.upload_id:
        payload.update(skipped_payload(measurement.upload, names=detail))
    return payload


def skipped_payload(upload: Upload, names: bool) -> dict:
    """The upload's bounded account of skipped files: the count, per reason, and the first 100 by name."""
    payload = {"skipped_count": upload.skipped_count}
    if names:
        payload["skipped"] = upload.skipped
        payload["skipped_reasons"] = upload.skipped_reasons
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
            "results": [measurement_payload(request, m, detail=False) for m in page.object_list],
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
        summary = rejected.summary
        return json_error(
            rejected.message, rejected.status, skipped=summary.files(), skipped_count=summary.count,
            skipped_reasons=summary.reasons,
        )
    measurements = upload.measurements.with_series().order_by("id")
    body = {
        "upload": upload.pk,
        "measurements": [measurement_payload(request, m, detail=False) for m in measurements],
        **skipped_payload(upload, names=True),
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
