import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html

from . import services
from .models import ApiToken, Instance, Measurement, Series, Study, Upload
from . import figures
from .views import measurement_picture

# The app's lists are wide (picture, series, figures): the sidebar of every model would push them
# into a horizontal scroll at 1400 px; the admin index lists the models instead.
admin.site.enable_nav_sidebar = False


class NoAddAdmin(admin.ModelAdmin):
    """Rows that only an upload creates (with their files, hashes and owner): no add page."""

    def has_add_permission(self, request) -> bool:
        return False


class SeriesInline(admin.TabularInline):
    model = Series
    fields = ("series_instance_uid", "part", "volume_label", "modality", "description", "rows", "columns")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Study)
class StudyAdmin(NoAddAdmin):
    list_display = ("__str__", "owner", "study_date", "study_instance_uid", "created_at")
    list_filter = ("study_date", "created_at")
    search_fields = ("study_instance_uid", "description", "owner__username")
    readonly_fields = ("owner", "study_instance_uid", "created_at")
    inlines = [SeriesInline]


class InstanceInline(admin.TabularInline):
    model = Instance
    fields = ("original_name", "instance_number", "frames", "sop_instance_uid", "sha256", "size_bytes")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Series)
class SeriesAdmin(NoAddAdmin):
    list_display = ("__str__", "modality", "study", "rows", "columns", "instance_count", "created_at")
    list_filter = ("modality", "created_at")
    search_fields = ("series_instance_uid", "description", "study__study_instance_uid", "study__description")
    readonly_fields = (
        "study", "series_instance_uid", "part", "volume_label", "rows", "columns", "histogram", "body", "body_histogram",
        "created_at",
    )
    list_select_related = ("study",)
    inlines = [InstanceInline]

    @admin.display(description="instances")
    def instance_count(self, series: Series) -> int:
        return series.instances.count()


@admin.register(Instance)
class InstanceAdmin(NoAddAdmin):
    list_display = ("original_name", "series", "instance_number", "frames", "size_bytes", "created_at")
    list_filter = ("series__modality", "created_at")
    search_fields = ("sop_instance_uid", "sha256", "original_name", "series__series_instance_uid")
    readonly_fields = ("series", "sop_instance_uid", "file", "sha256", "size_bytes", "frames", "created_at")
    list_select_related = ("series",)


@admin.register(Upload)
class UploadAdmin(NoAddAdmin):
    list_display = ("__str__", "owner", "files_received", "skipped_count", "created_at")
    list_filter = ("created_at",)
    search_fields = ("owner__username",)
    readonly_fields = ("owner", "files_received", "skipped_count", "skipped_reasons", "skipped", "created_at")


@admin.register(Measurement)
class MeasurementAdmin(NoAddAdmin):
    list_display = ("id", "thumbnail_small", "series", "owner", "state", "threshold_text", "volume_text", "measured_at")
    list_display_links = ("id", "thumbnail_small")
    list_filter = ("state", "mode", "series__modality", "created_at")
    search_fields = (
        "series__series_instance_uid", "series__description", "series__study__study_instance_uid",
        "series__study__description", "series__study__owner__username",
    )
    list_select_related = ("series__study__owner",)
    actions = ["rerun"]
    readonly_fields = (
        "thumbnail_large", "series", "upload", "state", "error_message", "mode", "threshold_requested", "threshold",
        "voxels_above", "volume_mm3", "result_document", "created_at", "started_at", "finished_at",
    )
    exclude = ("thumbnail", "result")

    def get_urls(self):
        preview = path(
            "<int:pk>/preview.png", self.admin_site.admin_view(self.preview), name="volumes_measurement_preview"
        )
        return [preview, *super().get_urls()]

    def preview(self, request, pk: int):
        """The picture for staff: only with the view (or change) permission on measurements."""
        measurement = self.get_object(request, str(pk))
        if measurement is None:
            raise Http404("No such measurement.")
        if not self.has_view_permission(request, measurement):
            raise PermissionDenied
        return measurement_picture(measurement)

    @admin.display(description="owner", ordering="series__study__owner__username")
    def owner(self, measurement: Measurement):
        return measurement.series.study.owner

    @admin.display(description="measured", ordering="created_at")
    def measured_at(self, measurement: Measurement) -> str:
        return format_html('<span style="white-space: nowrap">{}</span>', f"{measurement.created_at:%Y-%m-%d %H:%M}")

    @admin.display(description="threshold", ordering="threshold")
    def threshold_text(self, measurement: Measurement) -> str:
        threshold_modality = measurement.result_dict().get("threshold_modality")
        if threshold_modality is None:
            return measurement.mode
        text = f"> {threshold_modality:,.1f}"
        if measurement.mode == "normalized":
            return f"{text} ({measurement.threshold_requested:g} normalised)"
        return text if measurement.mode == "modality" else f"{text} ({measurement.mode})"

    @admin.display(description="volume", ordering="volume_mm3")
    def volume_text(self, measurement: Measurement) -> str:
        if measurement.volume_mm3 is None:
            return "—" if measurement.state != Measurement.State.DONE else "no volume"
        return format_html(
            '<span style="white-space: nowrap">{} mm³</span><br><small>{} voxels</small>',
            figures.mm3(measurement.volume_mm3), f"{measurement.voxels_above:,}",
        )

    @admin.display(description="picture")
    def thumbnail_small(self, measurement: Measurement) -> str:
        return self.thumbnail_tag(measurement, 64)

    @admin.display(description="picture")
    def thumbnail_large(self, measurement: Measurement) -> str:
        return self.thumbnail_tag(measurement, 384)

    @staticmethod
    def thumbnail_tag(measurement: Measurement, size: int) -> str:
        if not measurement.thumbnail:
            return "—"
        url = reverse("admin:volumes_measurement_preview", args=[measurement.pk])
        return format_html('<img src="{}" width="{}" alt="middle slice with the voxels above the threshold">', url, size)

    @admin.display(description="result")
    def result_document(self, measurement: Measurement) -> str:
        """The whole result as the API gives it: time points, warnings, geometry, statistics."""
        if not measurement.result:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(measurement.result, indent=2, ensure_ascii=False))

    @admin.action(description="Re-run the selected measurements")
    def rerun(self, request, queryset) -> None:
        for measurement in queryset.select_related("series"):
            services.measurement_rerun(measurement=measurement)
        self.message_user(request, f"{queryset.count()} measurement(s) queued again.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "key_sha256", "created_at", "last_used_at")
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False  # a key is shown once, to its owner, on the account page
