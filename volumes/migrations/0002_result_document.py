"""A measurement's result kept as one document (Measurement.result) instead of twelve columns; series
rows per contrast (Series.volume_label). Existing results are copied into the document first."""
from django.db import migrations, models

MOVED_FIELDS = (
    "threshold_modality", "total_voxels", "volume_unavailable_reason", "slices", "pixel_spacing_row_mm",
    "pixel_spacing_column_mm", "slab_min_mm", "slab_max_mm", "slab_mean_mm", "warnings", "stats",
)


def description_of(series) -> str:
    base = series.description or f"Untitled {series.modality or 'DICOM'} series"
    return f"{base} [{series.part}]" if series.part else base


def columns_to_document(apps, schema_editor):
    """The document each finished measurement's columns describe, in the shape the API gave it."""
    Measurement = apps.get_model("volumes", "Measurement")
    for measurement in Measurement.objects.filter(state="done").select_related("series").iterator():
        series = measurement.series
        spacing = None
        if measurement.pixel_spacing_row_mm is not None:
            spacing = [measurement.pixel_spacing_row_mm, measurement.pixel_spacing_column_mm]
        slab = None
        if measurement.slab_mean_mm is not None:
            slab = {"min": measurement.slab_min_mm, "max": measurement.slab_max_mm, "mean": measurement.slab_mean_mm}
        volume = measurement.volume_mm3
        measurement.result = {
            "series_instance_uid": series.series_instance_uid,
            "volume_label": "",
            "modality": series.modality,
            "description": description_of(series),
            "slices": measurement.slices,
            "rows": series.rows,
            "columns": series.columns,
            "pixel_spacing_mm": spacing,
            "slab_mm": slab,
            "mode": measurement.mode,
            "threshold": measurement.threshold,
            "threshold_modality": measurement.threshold_modality,
            "voxels_above": measurement.voxels_above,
            "total_voxels": measurement.total_voxels,
            "volume_mm3": volume,
            "volume_ml": None if volume is None else volume / 1000.0,
            "warnings": list(measurement.warnings or []),
            "volume_unavailable_reason": measurement.volume_unavailable_reason or None,
            "stats": measurement.stats,
            "time_points": None,
        }
        measurement.save(update_fields=["result"])


def document_to_columns(apps, schema_editor):
    Measurement = apps.get_model("volumes", "Measurement")
    for measurement in Measurement.objects.exclude(result=None).iterator():
        result = measurement.result
        spacing = result.get("pixel_spacing_mm") or [None, None]
        slab = result.get("slab_mm") or {}
        measurement.threshold_modality = result.get("threshold_modality")
        measurement.total_voxels = result.get("total_voxels")
        measurement.volume_unavailable_reason = result.get("volume_unavailable_reason") or ""
        measurement.slices = result.get("slices")
        measurement.pixel_spacing_row_mm, measurement.pixel_spacing_column_mm = spacing
        measurement.slab_min_mm, measurement.slab_max_mm = slab.get("min"), slab.get("max")
        measurement.slab_mean_mm = slab.get("mean")
        measurement.warnings = result.get("warnings") or []
        measurement.stats = result.get("stats")
        measurement.save(update_fields=list(MOVED_FIELDS))


class Migration(migrations.Migration):

    dependencies = [
        ("volumes", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="measurement",
            name="result",
            field=models.JSONField(
                blank=True,
                help_text="The whole result, as the API and `manage.py measure --json` give it (with time_points)",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="series",
            name="volume_label",
            field=models.CharField(
                blank=True,
                help_text="Which contrast of the series (e.g. 'echo 2 (TE 7.4 ms)', 'b=1000, direction 3'); empty when only one",
                max_length=200,
            ),
        ),
        migrations.RunPython(columns_to_document, document_to_columns),
        *(migrations.RemoveField(model_name="measurement", name=name) for name in MOVED_FIELDS),
        migrations.AlterField(
            model_name="measurement",
            name="volume_mm3",
            field=models.FloatField(blank=True, help_text="Of the first time point; empty when unknown", null=True),
        ),
        migrations.AlterField(
            model_name="measurement",
            name="voxels_above",
            field=models.BigIntegerField(blank=True, help_text="Of the first time point", null=True),
        ),
        migrations.RemoveConstraint(
            model_name="series",
            name="unique_series_part",
        ),
        migrations.AddConstraint(
            model_name="series",
            constraint=models.UniqueConstraint(
                fields=("study", "series_instance_uid", "part", "volume_label"), name="unique_series_part_contrast"
            ),
        ),
    ]
