from django.conf import settings
from django.db import models
from django.urls import reverse

from .imaging.grouping import volume_description
from .imaging.thresholds import MODES, ThresholdRequest


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
    """One measurable volume: one contrast of a DICOM series (or of one part of a series split by
    geometry), with all its time points."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, help_text="Series Instance UID (0020,000E)")
    part = models.CharField(
        max_length=200,
        blank=True,
        help_text="Which part of a series whose images form several volumes (orientation, size); empty when whole",
    )
    volume_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="Which contrast of the series (e.g. 'echo 2 (TE 7.4 ms)', 'b=1000, direction 3'); empty when only one",
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
    body = models.FileField(
        upload_to="bodies/",
        blank=True,
        help_text="Which parts of each slice are the body (couch and air left out), found at the first 'body only'",
    )
    body_histogram = models.FileField(
        upload_to="histograms/",
        blank=True,
        help_text="Per-slice histograms of the voxels inside the body: 'body only' re-measures read these",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "series_instance_uid", "part", "volume_label"], name="unique_series_part_contrast"
            ),
        ]

    def __str__(self) -> str:
        return self.display_description

    @property
    def display_description(self) -> str:
        return volume_description(self.description, self.part, self.modality, self.volume_label)


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
    threshold_upper_requested = models.FloatField(
        null=True, blank=True, help_text="Upper bound of a range (same units as the threshold); empty for 'above'"
    )
    body_only = models.BooleanField(default=False, help_text="Count only the voxels inside the body (couch and air left out)")
    threshold = models.FloatField(null=True, blank=True, help_text="Threshold used, normalised to [0, 1] over the series")
    voxels_above = models.BigIntegerField(null=True, blank=True, help_text="Of the first time point")
    volume_mm3 = models.FloatField(null=True, blank=True, help_text="Of the first time point; empty when unknown")
    result = models.JSONField(
        null=True,
        blank=True,
        help_text="The whole result, as the API and `manage.py measure --json` give it (with time_points)",
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
        return ThresholdRequest(
            mode=self.mode, value=self.threshold_requested, upper=self.threshold_upper_requested, body_only=self.body_only
        )

    def result_dict(self) -> dict:
        """The result as the API, the page's JSON and the command give it: empty until done."""
        return dict(self.result) if self.state == self.State.DONE and self.result else {}


class ApiTokenQuerySet(models.QuerySet):
    def for_user(self, user) -> "ApiTokenQuerySet":
        return self.filter(user=user)

    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal API key. Only its SHA-256 is kept: the key itself is shown once, when created."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, as its owner named it")
    prefix = models.CharField(max_length=PREFIX_LENGTH, help_text="The key's first characters, to recognise it in lists")
    key_sha256 = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key (hex)")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="When revoked; a revoked token signs nobody in")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def get_absolute_url(self) -> str:
        return reverse("volumes:account")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
