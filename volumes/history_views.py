"""The history's pages: search and sort, the CSV of what is shown, deleting a measurement or an upload."""
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from . import services
from .api_responses import private_file_view
from .forms import HistoryForm
from .models import Measurement, Upload
from .serializers import HistoryQuerySerializer

HISTORY_PAGE_SIZE = 25


@login_required
@require_GET
def measurement_list(request):
    form = HistoryForm(request.GET)
    query = form.query()
    measurements = services.measurements_search(user=request.user, query=query)
    page = Paginator(measurements, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    context = {
        "page": page,
        "form": form,
        "modalities": services.modalities_of(user=request.user),
        "filtered": bool(query.text or query.modality or query.study_date_from or query.study_date_to),
        "filters": filters.urlencode(),
        "query": query,
    }
    return render(request, "volumes/measurement_list.html", context)


@private_file_view("text/csv", parameters=[HistoryQuerySerializer])
def measurement_list_csv(request):
    """The history as CSV, with the same search and sort as the page (every row, not one page)."""
    query = HistoryForm(request.GET).query()
    measurements = services.measurements_search(user=request.user, query=query)
    stream = io.StringIO()
    services.measurements_write_csv(
        measurements=measurements.iterator(chunk_size=500),
        stream=stream,
        url_of=lambda m: request.build_absolute_uri(m.get_absolute_url()),
    )
    response = HttpResponse(stream.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="measurements-{stamp}.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def measurement_delete(request, pk: int):
    """GET: what deleting the measurement removes, and a button; POST: delete it."""
    measurement = get_object_or_404(Measurement.objects.for_user(request.user).with_series(), pk=pk)
    if request.method == "POST":
        services.measurement_delete(measurement=measurement)
        messages.success(request, f"Measurement {pk} of {measurement.series.display_description} deleted.")
        return redirect("volumes:measurement-list")
    deletion = services.measurement_deletion(measurement=measurement)
    context = {"deletion": deletion, "what": f"measurement {pk} of {measurement.series.display_description}",
               "back": measurement.get_absolute_url()}
    return render(request, "volumes/deletion_confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def upload_delete(request, pk: int):
    """GET: what deleting the upload removes, and a button; POST: delete it."""
    upload = get_object_or_404(Upload, pk=pk, owner=request.user)
    if request.method == "POST":
        deletion = services.upload_delete(upload=upload)
        messages.success(
            request,
            f"Upload of {upload.created_at:%Y-%m-%d %H:%M} deleted: {len(deletion.measurements)} "
            f"measurement(s), {deletion.files} file(s).",
        )
        return redirect("volumes:measurement-list")
    deletion = services.upload_deletion(upload=upload)
    context = {"deletion": deletion, "what": f"the upload of {upload.created_at:%Y-%m-%d %H:%M}",
               "back": upload.get_absolute_url()}
    return render(request, "volumes/deletion_confirm.html", context)
