from django.conf import settings
from django.db import models
from django.urls import reverse

from .imaging.geometry import volume_description
from .imaging.measure import MODES, SeriesMeasurement, ThresholdRequest


class Study(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64, help_text="Study Instance UID (0020,000D)")
    description = models.CharField(max_length=255, blank=True, help_text="Study Description (0008,1030)")
    study_date = models.DateField(null=True, blank=True, help_text="Study Date (0008,0020)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(fields=["owner", "study_instance_uid"], name="unique_study_per_owner"),
        ]

    def __str__(self) -> str:
        return self.description or self.study_instance_uid


class Series(models.Model):
    """One measurable volume: a DICOM series, or one part of a series split by geometry."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, help_text="Series Instance UID (0020,000E)")
    part = models.CharField(
        max_length=200,
        blank=True,
        help_text="Which part of a series whose images form several volumes (orientation, size); empty when whole",
    )
    modality = models.CharField(max_length=16, blank=True, help_text="Modality (0008,0060)")
    description = models.CharField(max_length=255, blank=True, help_text="Series Description (0008,103E)")
    series_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    histogram = models.FileField(
        upload_to="histograms/",
        blank=True,
        help_text="Per-slice histograms of modality values: re-measuring reads these, not the pixels",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid", "part"], name="unique_series_part"),
        ]

    def __str__(self) -> str:
        return self.display_description

    @property
    def display_description(self) -> str:
        return volume_description(self.description, self.part, self.modality)


class Instance(models.Model):
    """A stored DICOM file. Files are kept once per content (named by SHA-256)."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, help_text="SOP Instance UID (0008,0018)")
    instance_number = models.IntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=1)
    file = models.FileField(upload_to="instances/")
    original_name = models.CharField(max_length=500, help_text="The file's name in the upload or archive")
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series", "instance_number", "original_name"]
        constraints = [
            models.UniqueConstraint(fields=["series", "sop_instance_uid"], name="unique_instance_per_series"),
        ]

    def __str__(self) -> str:
        return self.original_name


class Upload(models.Model):
    """One submission of files: what it measured and what it skipped, and why."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    files_received = models.PositiveIntegerField(help_text="Files received, after unpacking archives")
    skipped = models.JSONField(
        default=list, blank=True, help_text='The first 100 files not measured: [{"file", "reason"}]'
    )
    skipped_count = models.PositiveIntegerField(default=0, help_text="Files not measured, in all")
    skipped_reasons = models.JSONField(
        default=dict, blank=True, help_text="Files not measured per reason: {reason: count}, the 20 most common"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Upload {self.pk} by {self.owner} ({self.files_received} files)"

    def get_absolute_url(self) -> str:
        return reverse("volumes:upload-detail", args=[self.pk])


class MeasurementQuerySet(models.QuerySet):
    def for_user(self, user) -> "MeasurementQuerySet":
        return self.filter(series__study__owner=user)

    def with_series(self) -> "MeasurementQuerySet":
        return self.select_related("series__study", "upload")


class Measurement(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    Mode = models.TextChoices("Mode", [(mode, mode) for mode in MODES])

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="measurements")
    upload = models.ForeignKey(
        Upload, on_delete=models.SET_NULL, null=True, blank=True, related_name="measurements",
        help_text="The upload that created it; empty for a re-measurement",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    error_message = models.TextField(blank=True, help_text="Why it failed, for the user")
    mode = models.CharField(max_length=16, choices=Mode.choices, default="normalized")
    threshold_requested = models.FloatField(
        null=True, blank=True, help_text="The value asked for (normalised or modality units); empty for automatic modes"
    )
    threshold = models.FloatField(null=True, blank=True, help_text="Threshold used, normalised to [0, 1] over the series")
    threshold_modality = models.FloatField(null=True, blank=True, help_text="Threshold used, in modality units")
    voxels_above = models.BigIntegerField(null=True, blank=True)
    total_voxels = models.BigIntegerField(null=True, blank=True)
    volume_mm3 = models.FloatField(null=True, blank=True)
    volume_unavailable_reason = models.TextField(blank=True)
    slices = models.PositiveIntegerField(null=True, blank=True)
    pixel_spacing_row_mm = models.FloatField(null=True, blank=True)
    pixel_spacing_column_mm = models.FloatField(null=True, blank=True)
    slab_min_mm = models.FloatField(null=True, blank=True)
    slab_max_mm = models.FloatField(null=True, blank=True)
    slab_mean_mm = models.FloatField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    stats = models.JSONField(
        null=True, blank=True, help_text="Mean, std, min, max, median of the modality values above the threshold"
    )
    thumbnail = models.FileField(upload_to="thumbnails/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="The process that runs it: host:pid")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it")
    retry_reason = models.TextField(blank=True, help_text="Why it was queued again: its worker died")
    task_id = models.CharField(max_length=64, blank=True, help_text="The queued task that runs it; empty until queued")

    objects = MeasurementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Measurement {self.pk} of {self.series}"

    def get_absolute_url(self) -> str:
        return reverse("volumes:measurement-detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def volume_ml(self) -> float | None:
        return None if self.volume_mm3 is None else self.volume_mm3 / 1000.0

    def threshold_request(self) -> ThresholdRequest:
        return ThresholdRequest(mode=self.mode, value=self.threshold_requested)

    def as_series_measurement(self) -> SeriesMeasurement:
        """The stored result in the shape the pipeline produced it (for the JSON of the API)."""
        spacing = None
        if self.pixel_spacing_row_mm is not None:
            spacing = (self.pixel_spacing_row_mm, self.pixel_spacing_column_mm)
        slab = None
        if self.slab_mean_mm is not None:
            slab = {"min": self.slab_min_mm, "max": self.slab_max_mm, "mean": self.slab_mean_mm}
        series = self.series
        return SeriesMeasurement(
            series_instance_uid=series.series_instance_uid,
            modality=series.modality,
            description=series.display_description,
            slices=self.slices,
            rows=series.rows,
            columns=series.columns,
            pixel_spacing_mm=spacing,
            slab_mm=slab,
            mode=self.mode,
            threshold=self.threshold,
            threshold_modality=self.threshold_modality,
            voxels_above=self.voxels_above,
            total_voxels=self.total_voxels,
            volume_mm3=self.volume_mm3,
            warnings=tuple(self.warnings),
            volume_unavailable_reason=self.volume_unavailable_reason or None,
            stats=self.stats,
        )
