"""What the API reads and answers, declared once: DRF validates with these and drf-spectacular documents them."""
from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from .imaging.thresholds import MODES, InvalidThreshold, ThresholdRequest
from .models import Measurement

NO_FILES = "Choose at least one DICOM file, a folder or a .zip archive."


class ThresholdRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES, required=False, allow_blank=True, help_text="Default: normalized.")
    threshold = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="A number: in [0, 1] for normalized, in modality units for modality (required there); "
        "automatic modes ignore it. Default: VOLUMES_THRESHOLD.",
    )
    upper = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Makes it a range: voxels above the threshold and at most this (same units). Empty: no upper bound.",
    )
    body_only = serializers.BooleanField(
        required=False, default=False,
        help_text="Count only the voxels inside the body (its largest connected part, each time point's own in a time series: couch and air left out).",
    )

    def validate(self, attrs):
        try:
            attrs["request"] = ThresholdRequest.from_fields(attrs, settings.VOLUMES_THRESHOLD)
        except InvalidThreshold as error:
            raise serializers.ValidationError({error.field: [str(error)]}) from None
        return attrs


class TimePointQuerySerializer(serializers.Serializer):
    """Which time point a slice picture is of."""

    t = serializers.IntegerField(
        required=False, default=1, min_value=1,
        help_text="The time point (1 = the first acquired) of a time series; 1 for a series without time points.",
    )


class MaskQuerySerializer(ThresholdRequestSerializer, TimePointQuerySerializer):
    """A slice's counted voxels: the threshold as the API takes it, the time point, and how to draw them."""

    outline = serializers.BooleanField(required=False, default=False, help_text="Only the edges of the counted voxels.")


class WindowQuerySerializer(TimePointQuerySerializer):
    """A grey window in modality units, and the time point."""

    center = serializers.FloatField(help_text="The window's centre (level), in modality units (HU for CT).")
    width = serializers.FloatField(min_value=1e-6, help_text="The window's width (> 0), in modality units.")


class HistoryQuerySerializer(serializers.Serializer):
    """The history's search and sort, as its page takes them (a wrong value is ignored)."""

    q = serializers.CharField(required=False, help_text="Words in the series or study description, a modality, a date, or the start of a UID.")
    modality = serializers.CharField(required=False)
    study_from = serializers.DateField(required=False)
    study_to = serializers.DateField(required=False)
    sort = serializers.ChoiceField(required=False, choices=["newest", "oldest", "largest", "smallest"])


class UploadRequestSerializer(ThresholdRequestSerializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        allow_empty=False,
        error_messages={"required": NO_FILES, "empty": NO_FILES},
        help_text="DICOM files (any name) or .zip archives; repeat the field for each file.",
    )


class SkippedSerializer(serializers.Serializer):
    file = serializers.CharField()
    reason = serializers.CharField()


class SlabSerializer(serializers.Serializer):
    min = serializers.FloatField()
    max = serializers.FloatField()
    mean = serializers.FloatField()


class StatsSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)


class TimePointSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    voxels_above = serializers.IntegerField()
    volume_mm3 = serializers.FloatField(allow_null=True)


class MeasurementSerializer(serializers.Serializer):
    """A measurement: its state, and once done the figures `manage.py measure --json` prints, and its picture.

    The fields not required are there once the measurement is done (`skipped`: when it came from an upload).
    """

    id = serializers.IntegerField()
    url = serializers.URLField()
    page_url = serializers.URLField()
    state = serializers.ChoiceField(choices=Measurement.State.choices)
    error_message = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    series_instance_uid = serializers.CharField(required=False)
    volume_label = serializers.CharField(
        required=False, allow_blank=True, help_text="Which contrast of the series (echo, b-value, image type…); empty when whole"
    )
    modality = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    slices = serializers.IntegerField(required=False, allow_null=True)
    rows = serializers.IntegerField(required=False)
    columns = serializers.IntegerField(required=False)
    pixel_spacing_mm = serializers.ListField(required=False, child=serializers.FloatField(), allow_null=True)
    slab_mm = SlabSerializer(required=False, allow_null=True)
    mode = serializers.ChoiceField(required=False, choices=MODES)
    threshold = serializers.FloatField(required=False, allow_null=True)
    threshold_modality = serializers.FloatField(required=False, allow_null=True)
    voxels_above = serializers.IntegerField(required=False, allow_null=True)
    total_voxels = serializers.IntegerField(required=False, allow_null=True)
    volume_mm3 = serializers.FloatField(required=False, allow_null=True, help_text="null exactly when volume_unavailable_reason says why")
    volume_ml = serializers.FloatField(required=False, allow_null=True)
    warnings = serializers.ListField(required=False, child=serializers.CharField())
    volume_unavailable_reason = serializers.CharField(required=False, allow_null=True)
    stats = StatsSerializer(required=False, allow_null=True)
    threshold_upper = serializers.FloatField(required=False, allow_null=True, help_text="A range's upper bound, normalised")
    threshold_upper_modality = serializers.FloatField(
        required=False, allow_null=True, help_text="A range's upper bound (at most), in modality units"
    )
    body_only = serializers.BooleanField(required=False, help_text="Only the voxels inside the body were counted")
    time_points = TimePointSerializer(
        required=False, allow_null=True, many=True,
        help_text="One entry per time point, in acquisition order, when the contrast was acquired several times",
    )
    thumbnail_url = serializers.URLField(required=False, help_text="The picture (PNG); fetch it with the same credentials")
    attempts = serializers.IntegerField(help_text="Times a worker started it (a dead worker's measurement is retried)")
    retried_because = serializers.CharField(allow_null=True, help_text="Why it was queued again, when it was")
    skipped_count = serializers.IntegerField(required=False, help_text="Files of its upload that were not measured")
    skipped_reasons = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text="How many files were skipped for each reason (detail only)"
    )
    skipped = SkippedSerializer(
        required=False, many=True, help_text="The first 100 files of its upload that were not measured (detail only)"
    )

    def to_representation(self, measurement: Measurement) -> dict:
        request = self.context["request"]
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
            payload.update(measurement.result_dict())
            payload["thumbnail_url"] = request.build_absolute_uri(
                reverse("volumes:measurement-preview", args=[measurement.pk])
            )
        if measurement.upload_id:
            upload = measurement.upload
            payload["skipped_count"] = upload.skipped_count
            if self.context.get("detail", True):  # in lists only counted: pages of them stay small
                payload["skipped"] = upload.skipped
                payload["skipped_reasons"] = upload.skipped_reasons
        return payload


class UploadResultSerializer(serializers.Serializer):
    upload = serializers.IntegerField()
    measurements = MeasurementSerializer(many=True)
    skipped = SkippedSerializer(many=True, help_text="The first 100 files that were not measured, with why")
    skipped_count = serializers.IntegerField(help_text="Files that were not measured, in all")
    skipped_reasons = serializers.DictField(child=serializers.IntegerField(), help_text="How many for each reason")


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a message for a person, and per field or per file detail where there is some."""

    error = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    skipped = SkippedSerializer(many=True, required=False)
    skipped_count = serializers.IntegerField(required=False)
    skipped_reasons = serializers.DictField(child=serializers.IntegerField(), required=False)
