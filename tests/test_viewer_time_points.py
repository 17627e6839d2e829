"""The viewer of a time series: every time point's slices, counted voxels and body, over HTTP."""
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from volumes.imaging.render import MASK_COUNTED, MASK_LEFT_OUT
from volumes.models import Measurement

from .phantoms import write_time_points
from .test_body import BODY, BODY_LATER, COUCH, HOLE, PATIENT, PATIENT_LATER, SPECK
from .test_viewer import picture, signed_in, url  # noqa: F401 (signed_in is a fixture)

pytestmark = pytest.mark.django_db
ABOVE_ZERO = "mode=modality&threshold=0"
"""Voxels above 0 HU: the body's walls, the couch and the speck (the hole and the air are -1000)."""


@pytest.fixture
def cine(signed_in, tmp_path, django_capture_on_commit_callbacks):  # noqa: F811
    """Two time points of one patient: in the second the body is a column narrower."""
    folder = write_time_points(tmp_path, [PATIENT, PATIENT_LATER])
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in sorted(folder.iterdir())]
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("volumes:upload"), {"files": files, "mode": "modality", "threshold": "0"})
    assert response.status_code == 302
    return Measurement.objects.latest("id")


def counts(client, measurement, query: str, time_point: int) -> tuple[int, int]:
    """Counted and left-out voxels over every slice's mask of one time point."""
    counted = left_out = 0
    for number in range(1, PATIENT.slices + 1):
        indices = np.asarray(picture(client.get(f"{url('slice-mask', measurement, number)}?{query}&t={time_point}")))
        counted += int((indices == MASK_COUNTED).sum())
        left_out += int((indices == MASK_LEFT_OUT).sum())
    return counted, left_out


def test_the_viewer_learns_every_time_points_slices_and_their_positions(signed_in, cine):  # noqa: F811
    info = signed_in.get(url("measurement-viewer", cine)).json()
    assert [point["slices"] for point in info["time_points"]] == [PATIENT.slices, PATIENT_LATER.slices]
    assert info["time_points"][0]["positions_mm"] == info["positions_mm"]
    assert np.allclose(np.diff(info["time_points"][1]["positions_mm"]), 2.5)
    page = signed_in.get(cine.get_absolute_url()).content.decode()
    assert 'id="time-slider"' in page and 'max="2"' in page


def test_each_time_points_masks_count_exactly_its_own_voxels(signed_in, cine):  # noqa: F811
    couch_and_speck = COUCH.voxels + SPECK.voxels
    expected = [BODY.voxels - HOLE.voxels + couch_and_speck, BODY_LATER.voxels - HOLE.voxels + couch_and_speck]
    assert [point["voxels_above"] for point in cine.result["time_points"]] == expected
    assert [counts(signed_in, cine, ABOVE_ZERO, t)[0] for t in (1, 2)] == expected


def test_each_time_points_slice_is_its_own_picture(signed_in, cine):  # noqa: F811
    """Column 18 is the body's wall at time point 1 and air at time point 2."""
    window = "center=0&width=200"
    first, second = (
        np.asarray(picture(signed_in.get(f"{url('slice-picture', cine, 1)}?{window}&t={t}")).convert("L")) for t in (1, 2)
    )
    assert first[5, 18] > 0 and second[5, 18] == 0
    assert np.array_equal(first[:, :18], second[:, :18])


def test_body_only_masks_follow_each_time_points_own_body(signed_in, cine, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(url("measurement-remeasure", cine), {"mode": "modality", "threshold": "0", "body_only": "on"})
    body_only = Measurement.objects.latest("id")
    inside = [BODY.voxels - HOLE.voxels, BODY_LATER.voxels - HOLE.voxels]
    assert [point["voxels_above"] for point in body_only.result["time_points"]] == inside
    left_out = COUCH.voxels + SPECK.voxels
    assert [counts(signed_in, body_only, f"{ABOVE_ZERO}&body_only=on", t) for t in (1, 2)] == [
        (inside[0], left_out), (inside[1], left_out)
    ]


@pytest.mark.parametrize(
    "query, status, message",
    [
        ("t=3", 404, "This series has time points 1 to 2, not 3."),
        ("t=0", 400, "Give the time point (t) as a whole number from 1."),
        ("t=two", 400, "Give the time point (t) as a whole number from 1."),
    ],
)
def test_a_time_point_that_is_not_there_is_a_clear_4xx(signed_in, cine, query, status, message):  # noqa: F811
    response = signed_in.get(f"{url('slice-picture', cine, 1)}?center=0&width=200&{query}")
    assert (response.status_code, response.json()["error"]) == (status, message)
    mask = signed_in.get(f"{url('slice-mask', cine, 1)}?{ABOVE_ZERO}&{query}")
    assert mask.status_code == status
