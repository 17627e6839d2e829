"""Migration 0002_result_document: a finished measurement's columns become its result document."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("volumes", "0001_initial")]
AFTER = [("volumes", "0002_result_document")]


@pytest.mark.django_db(transaction=True)
def test_existing_results_are_copied_into_the_document_and_back():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("auth", "User")
    Study, Series, Measurement = (apps.get_model("volumes", name) for name in ("Study", "Series", "Measurement"))
    owner = User.objects.create(username="ada")
    study = Study.objects.create(owner=owner, study_instance_uid="1.2")
    series = Series.objects.create(study=study, series_instance_uid="1.2.3", part="axial, 512×512", description="head", modality="CT", rows=512, columns=512)
    done = Measurement.objects.create(
        series=series, state="done", mode="normalized", threshold_requested=0.5, threshold=0.5,
        threshold_modality=-26.0, voxels_above=50080, total_voxels=262144, volume_mm3=143280.029296875,
        volume_unavailable_reason="", slices=1, pixel_spacing_row_mm=0.9765625, pixel_spacing_column_mm=0.9765625,
        slab_min_mm=3.0, slab_max_mm=3.0, slab_mean_mm=3.0, warnings=["a warning"], stats={"mean": 1.0},
    )
    queued = Measurement.objects.create(series=series, state="queued", mode="normalized", threshold_requested=0.5)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Measurement = apps.get_model("volumes", "Measurement")
    result = Measurement.objects.get(pk=done.pk).result
    assert result == {
        "series_instance_uid": "1.2.3", "volume_label": "", "modality": "CT", "description": "head [axial, 512×512]",
        "slices": 1, "rows": 512, "columns": 512, "pixel_spacing_mm": [0.9765625, 0.9765625],
        "slab_mm": {"min": 3.0, "max": 3.0, "mean": 3.0}, "mode": "normalized", "threshold": 0.5,
        "threshold_modality": -26.0, "voxels_above": 50080, "total_voxels": 262144, "volume_mm3": 143280.029296875,
        "volume_ml": 143.280029296875, "warnings": ["a warning"], "volume_unavailable_reason": None,
        "stats": {"mean": 1.0}, "time_points": None,
    }
    assert Measurement.objects.get(pk=queued.pk).result is None
    assert apps.get_model("volumes", "Series").objects.get().volume_label == ""

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    Measurement = executor.loader.project_state(BEFORE).apps.get_model("volumes", "Measurement")
    back = Measurement.objects.get(pk=done.pk)
    assert (back.slices, back.total_voxels, back.slab_mean_mm, back.warnings) == (1, 262144, 3.0, ["a warning"])
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
