from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import Instance, Measurement, Series, Study, Upload


class NoAddAdmin(admin.ModelAdmin):
    """Rows that only an upload creates (with their files, hashes and owner): no add page."""

    def has_add_permission(self, request) -> bool:
        return False


class SeriesInline(admin.TabularInline):
    model = Series
    fields = ("series_instance_uid", "part", "modality", "description", "rows", "columns")
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
    readonly_fields = ("study", "series_instance_uid", "part", "rows", "columns", "histogram", "created_at")
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
    list_display = (
        "id", "thumbnail_small", "series", "owner", "state", "mode", "threshold", "volume_mm3", "voxels_above", "created_at",
    )
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
        "threshold_modality", "voxels_above", "total_voxels", "volume_mm3", "volume_unavailable_reason", "slices",
        "pixel_spacing_row_mm", "pixel_spacing_column_mm", "slab_min_mm", "slab_max_mm", "slab_mean_mm", "warnings",
        "stats", "created_at", "started_at", "finished_at",
    )
    exclude = ("thumbnail",)

    @admin.display(description="owner", ordering="series__study__owner__username")
    def owner(self, measurement: Measurement):
        return measurement.series.study.owner

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
        url = reverse("volumes:measurement-preview", args=[measurement.pk])
        return format_html('<img src="{}" width="{}" alt="middle slice with the voxels above the threshold">', url, size)

    @admin.action(description="Re-run the selected measurements")
    def rerun(self, request, queryset) -> None:
        for measurement in queryset.select_related("series"):
            services.measurement_rerun(measurement=measurement)
        self.message_user(request, f"{queryset.count()} measurement(s) queued again.", messages.SUCCESS)
