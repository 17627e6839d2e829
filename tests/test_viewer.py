"""The result page's live parts over HTTP: status, slice pictures, masks, the live threshold, body only."""
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from scipy import ndimage

from volumes.imaging.render import GREY_LEVELS, MASK_COUNTED, MASK_LEFT_OUT
from volumes.models import Measurement
from volumes.services import viewing

from .conftest import PHANTOM_BODY_VOXELS, PHANTOM_DIR, PHANTOM_VOXELS, SEED_FILE, SEED_VOXELS

pytestmark = pytest.mark.django_db
PHANTOM_SLICES = 54


@pytest.fixture
def signed_in(client, db):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    return client


def upload(client, capture, *paths, **fields) -> Measurement:
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in paths]
    with capture(execute=True):
        response = client.post(reverse("volumes:upload"), {"files": files, **fields})
    assert response.status_code == 302
    return Measurement.objects.latest("id")


@pytest.fixture
def phantom(signed_in, django_capture_on_commit_callbacks):
    paths = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))
    return upload(signed_in, django_capture_on_commit_callbacks, *paths)


def url(name: str, measurement: Measurement, *args) -> str:
    return reverse(f"volumes:{name}", args=[measurement.pk, *args])


def picture(response) -> Image.Image:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, body[:200]
    assert response["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(body))


def mask_counts(client, measurement, query: str) -> tuple[int, int]:
    """Counted and left-out voxels summed over every slice's mask."""
    counted = left_out = 0
    for number in range(1, PHANTOM_SLICES + 1):
        indices = np.asarray(picture(client.get(f"{url('slice-mask', measurement, number)}?{query}")))
        counted += int((indices == MASK_COUNTED).sum())
        left_out += int((indices == MASK_LEFT_OUT).sum())
    return counted, left_out


def test_the_viewer_learns_the_slices_their_positions_and_the_files_window(signed_in, phantom):
    info = signed_in.get(url("measurement-viewer", phantom)).json()
    assert (info["slices"], info["rows"], info["columns"]) == (PHANTOM_SLICES, 512, 512)
    assert info["file_window"] == {"center": 40.0, "width": 80.0}
    assert info["default_window"] == info["file_window"]
    assert [(p["label"], p["center"], p["width"]) for p in info["presets"]] == [
        ("Brain", 40.0, 80.0), ("Soft tissue", 40.0, 400.0), ("Lung", -600.0, 1500.0), ("Bone", 400.0, 1800.0)
    ]
    gaps = np.diff(info["positions_mm"])
    assert np.allclose(gaps, 2.5 * np.cos(np.radians(18.5)), atol=1e-3)
    assert sum(info["histogram"]["counts"]) == PHANTOM_SLICES * 512 * 512
    assert (info["histogram"]["min"], info["histogram"]["max"]) == (-1024.0, 793.0)
    assert info["body_ready"] is False


def test_a_slice_is_the_stored_file_windowed_and_is_rendered_once_per_window(signed_in, phantom, monkeypatch):
    first = picture(signed_in.get(url("slice-picture", phantom, 28) + "?center=40&width=80"))
    assert (first.mode, first.size) == ("L", (512, 512))
    grey = np.asarray(first)
    assert grey.min() == 0 and grey.max() == 255  # air black, bone white at the brain window
    wide = np.asarray(picture(signed_in.get(url("slice-picture", phantom, 28) + "?center=40&width=4000")))
    assert 0 < wide.min() and wide.max() < 255

    def no_reading(*args, **kwargs):
        raise AssertionError("the slice was read again")

    monkeypatch.setattr(viewing, "slice_modality", no_reading)
    assert np.array_equal(np.asarray(picture(signed_in.get(url("slice-picture", phantom, 28) + "?center=40&width=80"))), grey)


@pytest.mark.parametrize(
    "number, query, status, message",
    [
        (55, "center=40&width=80", 404, "This series has slices 1 to 54, not 55."),
        (0, "center=40&width=80", 404, "This series has slices 1 to 54, not 0."),
        (1, "center=40&width=0", 400, "Give the window as center and width"),
        (1, "center=abc&width=80", 400, "Give the window as center and width"),
    ],
)
def test_a_slice_that_is_not_there_or_a_bad_window_is_a_clear_4xx(signed_in, phantom, number, query, status, message):
    response = signed_in.get(f"{url('slice-picture', phantom, number)}?{query}")
    assert response.status_code == status
    assert message in response.json()["error"]


def test_the_masks_of_all_slices_count_exactly_the_voxels_of_the_measurement(signed_in, phantom):
    assert mask_counts(signed_in, phantom, "mode=normalized&threshold=0.5") == (PHANTOM_VOXELS, 0)
    live = signed_in.get(url("measurement-live", phantom) + "?mode=modality&threshold=300&upper=700").json()
    assert mask_counts(signed_in, phantom, "mode=modality&threshold=300&upper=700") == (live["voxels_above"], 0)


def test_the_live_threshold_gives_the_figures_a_saved_measurement_would(signed_in, phantom, django_capture_on_commit_callbacks):
    live = signed_in.get(url("measurement-live", phantom) + "?mode=modality&threshold=300").json()
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(url("measurement-remeasure", phantom), {"mode": "modality", "threshold": "300"})
    saved = Measurement.objects.latest("id")
    assert (live["voxels_above"], live["volume_mm3"]) == (saved.voxels_above, saved.volume_mm3)
    assert live["voxels_above"] < PHANTOM_VOXELS
    assert Measurement.objects.count() == 2  # the live figures stored nothing
    # Printed as the saved measurement's page prints them: mm³ to 3 decimals of a mL.
    page = signed_in.get(saved.get_absolute_url()).content.decode()
    shown = live["shown"]
    assert f"<strong>{shown['volume_mm3']} mm³</strong>" in page and f"<span>{shown['volume_ml']} mL</span>" in page
    assert shown["volume_mm3"] == f"{saved.volume_mm3:,.0f}" and shown["volume_ml"] == f"{saved.volume_mm3 / 1000:,.3f}"
    assert shown["voxels_above"] == f"{saved.voxels_above:,}"

    refused = signed_in.get(url("measurement-live", phantom) + "?mode=normalized&threshold=0.5&upper=0.2")
    assert refused.status_code == 400
    assert refused.json()["fields"]["upper"] == ["the upper bound (0.2) must be above the lower threshold (0.5)"]


def test_body_only_is_found_once_then_live_and_the_masks_show_what_it_left_out(
    signed_in, phantom, django_capture_on_commit_callbacks
):
    missing = signed_in.get(url("measurement-live", phantom) + "?mode=normalized&threshold=0.5&body_only=on")
    assert missing.status_code == 409
    assert "has not been found yet" in missing.json()["error"]

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            url("measurement-remeasure", phantom), {"mode": "normalized", "threshold": "0.5", "body_only": "on"}
        )
    body_only = Measurement.objects.latest("id")
    assert response["Location"] == body_only.get_absolute_url()
    assert (body_only.state, body_only.body_only, body_only.voxels_above) == ("done", True, PHANTOM_BODY_VOXELS)
    page = signed_in.get(body_only.get_absolute_url()).content.decode()
    assert "inside the body only (couch and air left out)" in page

    live = signed_in.get(url("measurement-live", phantom) + "?mode=normalized&threshold=0.5&body_only=on").json()
    assert (live["voxels_above"], live["body_only"]) == (PHANTOM_BODY_VOXELS, True)
    assert signed_in.get(url("measurement-viewer", phantom)).json()["body_ready"] is True
    counted, left_out = mask_counts(signed_in, body_only, "mode=normalized&threshold=0.5&body_only=on")
    assert (counted, left_out) == (PHANTOM_BODY_VOXELS, PHANTOM_VOXELS - PHANTOM_BODY_VOXELS)

    # The thumbnail (the middle slice) tints what the middle slice's mask counts: the couch is not orange.
    middle = np.asarray(picture(signed_in.get(f"{url('slice-mask', body_only, PHANTOM_SLICES // 2 + 1)}?mode=normalized&threshold=0.5&body_only=on")))
    for measurement, expected in [(body_only, int((middle == MASK_COUNTED).sum())), (phantom, int((middle != 0).sum()))]:
        thumbnail = np.asarray(picture(signed_in.get(url("measurement-preview", measurement))))
        assert thumbnail.shape == middle.shape and int((thumbnail >= GREY_LEVELS).sum()) == expected
    assert int((middle == MASK_LEFT_OUT).sum()) > 0


def test_a_range_and_body_only_can_be_asked_for_at_upload(signed_in, django_capture_on_commit_callbacks):
    measurement = upload(
        signed_in, django_capture_on_commit_callbacks, SEED_FILE, mode="modality", threshold="-26", upper="100"
    )
    assert (measurement.threshold_upper_requested, measurement.result["threshold_upper_modality"]) == (100.0, 100.0)
    assert 0 < measurement.voxels_above < SEED_VOXELS
    page = signed_in.get(measurement.get_absolute_url()).content.decode()
    assert 'id="upper-bound">100 HU' in page


def test_the_status_says_when_the_measurement_has_finished(signed_in, phantom):
    assert signed_in.get(url("measurement-status", phantom)).json() == {"state": "done", "finished": True}


def test_another_users_measurement_shows_nothing(client, phantom):
    client.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    for name, args in [("measurement-status", ()), ("measurement-viewer", ()), ("measurement-live", ()),
                       ("slice-picture", (1,)), ("slice-mask", (1,))]:
        assert client.get(url(name, phantom, *args) + "?center=40&width=80").status_code == 404


def test_the_api_takes_a_range_and_body_only(signed_in, phantom, django_capture_on_commit_callbacks):
    api = reverse("volumes:api-measurement-remeasure", args=[phantom.pk])
    with django_capture_on_commit_callbacks(execute=True):
        ranged = signed_in.post(api, {"mode": "modality", "threshold": "-115.5", "upper": "700", "body_only": "true"})
    assert ranged.status_code == 202  # the body is found by the worker the first time
    body = signed_in.get(reverse("volumes:api-measurement-detail", args=[ranged.json()["id"]])).json()
    assert (body["state"], body["body_only"], body["threshold_upper_modality"]) == ("done", True, 700.0)
    live = signed_in.get(url("measurement-live", phantom) + "?mode=modality&threshold=-115.5&upper=700&body_only=on").json()
    assert body["voxels_above"] == live["voxels_above"] < PHANTOM_BODY_VOXELS

    refused = signed_in.post(api, {"mode": "otsu", "upper": "700"})
    assert refused.status_code == 400
    assert refused.json()["fields"]["upper"] == [
        "an upper bound needs a threshold you type (normalised or modality), not an automatic mode"
    ]


def test_a_cache_entry_written_by_older_code_is_rebuilt_not_a_500(signed_in, phantom, monkeypatch):
    cache = viewing.slice_cache()

    def stale(key, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'volumes.imaging.reading'")  # what unpickling an old entry raised

    monkeypatch.setattr(cache, "get", stale)
    assert signed_in.get(url("measurement-viewer", phantom)).json()["slices"] == PHANTOM_SLICES
    assert picture(signed_in.get(url("slice-picture", phantom, 3) + "?center=40&width=80")).size == (512, 512)


def test_an_outlined_mask_draws_the_edges_of_the_counted_voxels_only(signed_in, phantom):
    query = "mode=normalized&threshold=0.5"
    filled = np.asarray(picture(signed_in.get(f"{url('slice-mask', phantom, 28)}?{query}"))) == MASK_COUNTED
    edges = np.asarray(picture(signed_in.get(f"{url('slice-mask', phantom, 28)}?{query}&outline=1"))) == MASK_COUNTED
    assert 0 < edges.sum() < filled.sum()
    # Two pixels thick: what two erosions (scipy's, as a second opinion) take away.
    assert np.array_equal(edges, filled & ~ndimage.binary_erosion(filled, iterations=2, border_value=0))


def test_a_stored_file_cut_short_since_gives_a_409_with_the_reason_not_a_500(signed_in, phantom):
    assert signed_in.get(url("measurement-viewer", phantom)).status_code == 200  # the slices' order is known
    for instance in phantom.series.instances.all():
        path = instance.file.path
        with open(path, "r+b") as f:
            f.truncate(4096)
    response = signed_in.get(url("slice-picture", phantom, 5) + "?center=40&width=80")
    assert response.status_code == 409
    assert response.json()["error"].startswith("The slice cannot be shown: slice 5 cannot be read: ")


def test_scrolling_the_slices_counts_against_the_files_limit_not_the_apis(signed_in, phantom, settings):
    """A viewer asks for a slice and its mask at every step of a scroll: past the API's rate for a person
    it still gets its pictures, until the files' own limit, answered 429 with Retry-After."""
    settings.VOLUMES_API_RATES = {"user": "3/minute", "address": "100/minute", "file_user": "8/minute",
                                  "file_address": "100/minute"}
    assert [signed_in.get(reverse("volumes:api-measurement-list")).status_code for _ in range(4)] == [200] * 3 + [429]
    pictures = [signed_in.get(url("slice-picture", phantom, number) + "?center=40&width=80") for number in range(1, 9)]
    assert [p.status_code for p in pictures] == [200] * 8
    refused = signed_in.get(url("slice-mask", phantom, 9) + "?mode=normalized&threshold=0.5")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["error"].startswith("Too many requests")
