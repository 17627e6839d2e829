"""Contrasts and time points through the database: a series row per contrast, the result document with
its time points, re-measuring on stored histograms, the page's table and plot, the API's JSON."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from volumes import services
from volumes.imaging import pixels
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement, Series
from volumes import figures

from .acquisitions_phantoms import (
    ENHANCED_ECHO_TIME,
    volume_mm3,
    voxels,
    write_enhanced_mr,
    write_volumes,
)

pytestmark = pytest.mark.django_db
ABOVE_ZERO = ThresholdRequest(mode="modality", value=0.0)


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


def ingest(user, folder, capture, request=ABOVE_ZERO):
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in sorted(folder.iterdir())]
    with capture(execute=True):
        return services.upload_ingest(owner=user, files=files, request=request)


def test_each_echo_is_a_series_row_and_a_measurement_of_its_own(user, tmp_path, django_capture_on_commit_callbacks):
    write_volumes(tmp_path, [(2, {"EchoNumbers": 1, "EchoTime": "2.46"}), (5, {"EchoNumbers": 2, "EchoTime": "7.38"})])
    upload = ingest(user, tmp_path, django_capture_on_commit_callbacks)
    rows = {series.volume_label: series for series in Series.objects.all()}
    assert sorted(rows) == ["echo 1 (TE 2.46 ms)", "echo 2 (TE 7.38 ms)"]
    assert {label: row.instances.count() for label, row in rows.items()} == {label: 4 for label in rows}
    measured = {m.series.volume_label: m for m in upload.measurements.all()}
    assert measured["echo 2 (TE 7.38 ms)"].voxels_above == voxels(5)
    assert measured["echo 2 (TE 7.38 ms)"].result["volume_label"] == "echo 2 (TE 7.38 ms)"
    assert measured["echo 1 (TE 2.46 ms)"].volume_mm3 == pytest.approx(volume_mm3(2))


def test_a_time_series_is_stored_as_one_result_with_its_time_points_and_remeasured_on_histograms(
    user, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    write_volumes(tmp_path, [(6, {"TriggerTime": "500"}), (2, {"TriggerTime": "0"}), (4, {"TriggerTime": "250"})])
    measurement = ingest(user, tmp_path, django_capture_on_commit_callbacks).measurements.get()
    assert measurement.state == "done", measurement.error_message
    points = measurement.result["time_points"]
    assert [(p["index"], p["trigger_time_ms"], p["voxels_above"]) for p in points] == [
        (1, 0.0, voxels(2)), (2, 250.0, voxels(4)), (3, 500.0, voxels(6))
    ]
    assert (measurement.voxels_above, measurement.result["voxels_above"]) == (voxels(2), voxels(2))

    def no_pixel_reading(*args, **kwargs):
        raise AssertionError("pixels were read again")

    monkeypatch.setattr(pixels, "iter_stored_frames", no_pixel_reading)
    # Above 0.5 of 0..100 normalised: the same boxes (their value is 100).
    again = services.measurement_remeasure(measurement=measurement, request=ThresholdRequest("normalized", 0.5))
    assert again.state == "done"
    assert [p["voxels_above"] for p in again.result["time_points"]] == [voxels(2), voxels(4), voxels(6)]
    assert [p["volume_mm3"] for p in again.result["time_points"]] == pytest.approx([volume_mm3(k) for k in (2, 4, 6)])


def test_a_contrast_of_an_enhanced_file_is_measured_again_from_the_stored_file(
    user, tmp_path, django_capture_on_commit_callbacks
):
    # The histograms are thrown away: the row's contrast is found again among the file's frames.
    volumes = [
        (1, {"echo_time": 2.5, "index": (1, 1)}),
        (3, {"echo_time": 2.5, "index": (2, 1)}),
        (7, {"echo_time": 7.5, "index": (1, 2)}),
        (5, {"echo_time": 7.5, "index": (2, 2)}),
    ]
    write_enhanced_mr(tmp_path / "enhanced.dcm", volumes, dimensions=ENHANCED_ECHO_TIME)
    upload = ingest(user, tmp_path, django_capture_on_commit_callbacks)
    assert Instance.objects.count() == 2  # the one file, in each contrast's row
    second = upload.measurements.get(series__volume_label="echo 2 (TE 7.5 ms)")
    series = second.series
    series.histogram.delete(save=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.measurement_remeasure(measurement=second, request=ABOVE_ZERO)
    again.refresh_from_db()
    assert again.state == "done", again.error_message
    assert [p["voxels_above"] for p in again.result["time_points"]] == [voxels(7), voxels(5)]
    assert again.result["description"] == "acquisitions [echo 2 (TE 7.5 ms)]"


def test_the_result_page_shows_the_time_points_the_plot_and_the_largest_and_smallest(
    client, user, tmp_path, django_capture_on_commit_callbacks
):
    write_volumes(tmp_path, [(6, {"TriggerTime": "500"}), (2, {"TriggerTime": "0"}), (4, {"TriggerTime": "250"})])
    measurement = ingest(user, tmp_path, django_capture_on_commit_callbacks).measurements.get()
    client.force_login(user)
    html = client.get(measurement.get_absolute_url()).content.decode()
    assert "Volume over time: 3 time points" in html
    assert "Time point 1 of 3, the first acquired (0 ms after the trigger)" in html
    assert html.count("<circle") == 3
    assert "<polyline" in html
    largest, smallest = figures.mm3(volume_mm3(6)), figures.mm3(volume_mm3(2))  # 3 significant digits below 1 mL
    assert (largest, smallest) == ("22.5", "7.50")
    assert f'<strong id="largest-volume">{largest} mm³</strong> at time point 3 (500 ms)' in html
    assert f'<strong id="smallest-volume">{smallest} mm³</strong> at time point 1 (0 ms)' in html
    table = html[html.index('id="time-points-table"') :]
    assert table.count("ms after the trigger") == 3

    history = client.get(reverse("volumes:measurement-list")).content.decode()
    assert "<strong>7.50 mm³</strong><br><small>0.00750 mL</small><br><small>at time point 1 of 3</small>" in history

    body = client.get(reverse("volumes:api-measurement-detail", args=[measurement.pk])).json()
    assert [p["voxels_above"] for p in body["time_points"]] == [voxels(2), voxels(4), voxels(6)]
    assert body["volume_label"] == ""
    assert body["voxels_above"] == voxels(2)


def test_a_refused_volume_fails_its_measurement_with_the_reason(user, tmp_path, django_capture_on_commit_callbacks):
    write_volumes(tmp_path, [(2, {}), (5, {})])  # two volumes nothing tells apart
    measurement = ingest(user, tmp_path, django_capture_on_commit_callbacks).measurements.get()
    assert measurement.state == Measurement.State.FAILED
    assert measurement.error_message.startswith("8 images lie at 4 shared positions along the slice normal")


def test_an_uploaded_mosaic_series_is_measured_tile_by_tile_with_its_time_points(
    user, tmp_path, django_capture_on_commit_callbacks
):
    from .acquisitions_phantoms import PIXEL_MM, write_mosaic

    for number, n in ((1, 3), (2, 6)):
        write_mosaic(tmp_path / f"{n}.dcm", n, acquisition_number=number, series_uid="1.2.3.6")
    measurement = ingest(user, tmp_path, django_capture_on_commit_callbacks).measurements.get()
    assert measurement.state == "done", measurement.error_message
    assert (measurement.series.rows, measurement.series.columns) == (8, 6)
    assert [p["voxels_above"] for p in measurement.result["time_points"]] == [voxels(3), voxels(6)]
    assert measurement.result["slab_mm"]["mean"] == pytest.approx(3.6)
    assert measurement.volume_mm3 == pytest.approx(voxels(3) * PIXEL_MM[0] * PIXEL_MM[1] * 3.6)


def test_the_page_the_api_and_the_command_give_each_contrast_and_time_point_the_same_json(
    client, user, tmp_path, django_capture_on_commit_callbacks
):
    # Two echoes, each acquired twice: two entries, each with two time points.
    import io
    import json

    from django.core.management import call_command

    from .test_api import post_files, token_client
    from .conftest import page_upload

    write_volumes(tmp_path, [
        (2, {"EchoNumbers": 1, "EchoTime": "2.46", "AcquisitionNumber": 1}),
        (5, {"EchoNumbers": 2, "EchoTime": "7.38", "AcquisitionNumber": 1}),
        (3, {"EchoNumbers": 1, "EchoTime": "2.46", "AcquisitionNumber": 2}),
        (6, {"EchoNumbers": 2, "EchoTime": "7.38", "AcquisitionNumber": 2}),
    ])
    out = io.StringIO()
    call_command("measure", str(tmp_path), "--mode", "modality", "--threshold", "0", "--json", stdout=out)
    command = {entry["volume_label"]: entry for entry in json.loads(out.getvalue())["series"]}
    assert sorted(command) == ["echo 1 (TE 2.46 ms)", "echo 2 (TE 7.38 ms)"]
    assert [p["voxels_above"] for p in command["echo 2 (TE 7.38 ms)"]["time_points"]] == [voxels(5), voxels(6)]
    assert [p["acquisition_number"] for p in command["echo 1 (TE 2.46 ms)"]["time_points"]] == [1, 2]

    paths = sorted(tmp_path.iterdir())
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert page_upload(client, *paths, mode="modality", threshold="0").status_code == 302
    api = token_client(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_files(api, *paths, mode="modality", threshold="0").status_code == 202
    measurements = Measurement.objects.all()
    assert measurements.count() == 4  # each contrast, from the page and from the API
    for measurement in measurements:
        assert measurement.state == "done", measurement.error_message
        expected = command[measurement.series.volume_label]
        detail = api.get(reverse("volumes:api-measurement-detail", args=[measurement.pk])).json()
        page = json.loads(client.get(reverse("volumes:measurement-json", args=[measurement.pk])).content)
        for answer in (detail, page):
            assert {key: answer.get(key) for key in expected} == expected
