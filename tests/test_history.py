"""The history: search, sort, CSV and JSON downloads, deleting a measurement or an upload with its files."""
import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from volumes import services
from volumes.models import Instance, Measurement, Series, Study, Upload

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOLUME_MM3, SEED_VOXELS, forget_volume
from .conftest import page_upload as upload

pytestmark = pytest.mark.django_db

PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:3]


@pytest.fixture
def two_uploads(signed_in, django_capture_on_commit_callbacks):
    """The seed slice (no descriptions, study of 2008-09-18), then three phantom slices ('STEREOTAXIS')."""
    with django_capture_on_commit_callbacks(execute=True):
        upload(signed_in, SEED_FILE)
        upload(signed_in, *PHANTOM_SLICES)
    seed = Measurement.objects.get(series__description="")
    phantom = Measurement.objects.get(series__description="STEREOTAXIS")
    return seed, phantom


def history(client, **params) -> str:
    response = client.get(reverse("volumes:measurement-list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_rows_say_which_study_and_series_they_are(signed_in, two_uploads):
    page = history(signed_in)
    assert "Untitled CT series" in page
    assert "CT · series 0 · 1 slice · 512 × 512" in page
    assert "study of <time datetime=\"2008-09-18\">2008-09-18</time>" in page
    assert "1A TRAUMA/PLAIN HEAD DM" in page and "series 201" in page
    assert "143,280 mm³" in page and "143.280 mL" in page


@pytest.mark.parametrize(
    "params, found",
    [
        ({"q": "stereo"}, {"phantom"}),
        ({"q": "trauma head"}, {"phantom"}),
        ({"q": "trauma lung"}, set()),
        ({"q": "ct"}, {"seed", "phantom"}),
        ({"modality": "CT"}, {"seed", "phantom"}),
        ({"modality": "MR"}, set()),
        ({"study_from": "2015-01-01"}, {"phantom"}),
        ({"study_to": "2010-12-31"}, {"seed"}),
        ({"study_from": "2008-09-18", "study_to": "2008-09-18"}, {"seed"}),
        ({"study_from": "not a date"}, {"seed", "phantom"}),
        ({"q": "2015-02-06"}, {"phantom"}),
        ({"q": "20080918 ct"}, {"seed"}),
        ({"q": "2015-02-07"}, set()),
    ],
)
def test_search_narrows_the_history(signed_in, two_uploads, params, found):
    seed, phantom = two_uploads
    page = history(signed_in, **params)
    shown = {name for name, m in (("seed", seed), ("phantom", phantom)) if m.get_absolute_url() in page}
    assert shown == found
    if not found:
        assert "No measurement matches this search" in page


def test_the_measuring_day_is_searched_too(signed_in, two_uploads):
    seed, phantom = two_uploads
    today = seed.created_at.date().isoformat()
    page = history(signed_in, q=today)
    assert seed.get_absolute_url() in page and phantom.get_absolute_url() in page


def test_sort_by_date_or_volume_with_no_volume_last(signed_in, two_uploads):
    seed, phantom = two_uploads
    assert phantom.volume_mm3 > seed.volume_mm3

    def order(sort: str) -> list:
        page = history(signed_in, sort=sort)
        return sorted((seed, phantom), key=lambda m: page.index(m.get_absolute_url()))

    assert order("newest") == [phantom, seed] and order("oldest") == [seed, phantom]
    assert order("largest") == [phantom, seed] and order("smallest") == [seed, phantom]
    forget_volume(phantom, "test: no depth")
    assert order("largest") == [seed, phantom] and order("smallest") == [seed, phantom]


def test_a_reason_for_no_volume_shows_without_hovering(signed_in, two_uploads):
    _, phantom = two_uploads
    forget_volume(phantom, "the slices overlap")
    assert '<small class="reason">the slices overlap</small>' in history(signed_in)


def test_csv_has_every_filtered_row_with_its_figures(signed_in, two_uploads):
    seed, _ = two_uploads
    response = signed_in.get(reverse("volumes:measurement-list-csv"), {"study_to": "2010-12-31"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="measurements-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["id"]) == seed.pk
    assert int(row["voxels_above"]) == SEED_VOXELS
    # The page's precision (mm³ to 3 decimals of a mL, HU to 1 decimal), without thousands separators.
    assert (row["volume_mm3"], row["volume_ml"]) == (f"{SEED_VOLUME_MM3:.0f}", "143.280") == ("143280", "143.280")
    assert (row["threshold_normalized"], row["threshold_modality"]) == ("0.5", "-26.0")
    assert row["study_date"] == "2008-09-18" and row["modality"] == "CT" and row["series_number"] == "0"
    assert row["url"].endswith(seed.get_absolute_url())


def test_csv_cells_never_run_as_formulas(signed_in, two_uploads):
    seed, _ = two_uploads
    Series.objects.filter(pk=seed.series_id).update(description="=HYPERLINK(\"http://x\")")
    rows = list(csv.DictReader(io.StringIO(signed_in.get(reverse("volumes:measurement-list-csv")).content.decode())))
    assert "'=HYPERLINK(\"http://x\")" in [row["series_description"] for row in rows]


def test_the_measurement_downloads_as_json(signed_in, two_uploads):
    seed, _ = two_uploads
    response = signed_in.get(reverse("volumes:measurement-json", args=[seed.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="measurement-{seed.pk}.json"'
    document = json.loads(response.content)
    assert document["voxels_above"] == SEED_VOXELS
    assert document["volume_mm3"] == SEED_VOLUME_MM3
    assert document["study"]["study_date"] == "2008-09-18"
    assert document["series_number"] == 0


def test_another_user_sees_none_of_it(two_uploads):
    seed, _ = two_uploads
    client = Client()
    client.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    assert seed.get_absolute_url() not in history(client)
    only_header = list(csv.reader(io.StringIO(client.get(reverse("volumes:measurement-list-csv")).content.decode())))
    assert len(only_header) == 1 and only_header[0][:2] == ["id", "measured_at"]
    for name in ("measurement-json", "measurement-delete"):
        assert client.get(reverse(f"volumes:{name}", args=[seed.pk])).status_code == 404
    assert client.post(reverse("volumes:measurement-delete", args=[seed.pk])).status_code == 404
    assert client.post(reverse("volumes:upload-delete", args=[seed.upload_id])).status_code == 404
    assert Measurement.objects.filter(pk=seed.pk).exists()


def test_deleting_asks_first_and_a_get_deletes_nothing(signed_in, two_uploads):
    seed, _ = two_uploads
    page = signed_in.get(reverse("volumes:measurement-delete", args=[seed.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 series with 1 stored file" in text and 'method="post"' in text
    assert Measurement.objects.filter(pk=seed.pk).exists()


def test_deleting_the_last_measurement_of_a_series_removes_its_rows_and_files(
    signed_in, two_uploads, private_media, django_capture_on_commit_callbacks
):
    seed, phantom = two_uploads
    seed_file = private_media / Instance.objects.get(series=seed.series).file.name
    thumbnail = private_media / seed.thumbnail.name
    assert seed_file.is_file() and thumbnail.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("volumes:measurement-delete", args=[seed.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("volumes:measurement-list")
    assert not Measurement.objects.filter(pk=seed.pk).exists()
    assert not Series.objects.filter(pk=seed.series_id).exists()
    assert not Study.objects.filter(pk=seed.series.study_id).exists()
    assert not Upload.objects.filter(pk=seed.upload_id).exists()
    assert not seed_file.exists() and not thumbnail.exists()
    assert Measurement.objects.filter(pk=phantom.pk).exists()
    assert len(list((private_media / "instances").rglob("*.dcm"))) == len(PHANTOM_SLICES)
    assert "deleted" in signed_in.get(response["Location"]).content.decode()


def test_deleting_a_re_measurement_keeps_the_series(signed_in, two_uploads, private_media):
    seed, _ = two_uploads
    signed_in.post(reverse("volumes:measurement-remeasure", args=[seed.pk]), {"mode": "modality", "threshold": "300"})
    again = Measurement.objects.get(upload__isnull=True)
    signed_in.post(reverse("volumes:measurement-delete", args=[again.pk]))
    assert not Measurement.objects.filter(pk=again.pk).exists()
    assert Measurement.objects.filter(pk=seed.pk).exists()
    assert (private_media / Instance.objects.get(series=seed.series).file.name).is_file()


def test_deleting_an_upload_removes_its_series_re_measurements_and_files(
    signed_in, two_uploads, private_media, django_capture_on_commit_callbacks
):
    seed, phantom = two_uploads
    signed_in.post(reverse("volumes:measurement-remeasure", args=[phantom.pk]), {"mode": "otsu"})
    assert Measurement.objects.filter(series=phantom.series).count() == 2
    confirm = signed_in.get(reverse("volumes:upload-delete", args=[phantom.upload_id])).content.decode()
    assert "2 measurements" in confirm and f"{len(PHANTOM_SLICES)} stored files" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("volumes:upload-delete", args=[phantom.upload_id]))
    assert response.status_code == 302
    assert not Upload.objects.filter(pk=phantom.upload_id).exists()
    assert not Series.objects.filter(pk=phantom.series_id).exists()
    assert list(Measurement.objects.all()) == [seed]
    assert len(list((private_media / "instances").rglob("*.dcm"))) == 1


def test_a_file_another_user_also_stored_is_kept(signed_in, two_uploads, private_media, django_capture_on_commit_callbacks):
    seed, _ = two_uploads
    bob = get_user_model().objects.create_user("bob", password="a-long-secret-3")
    client = Client()
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, SEED_FILE)
    stored = private_media / Instance.objects.filter(series=seed.series).get().file.name
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(reverse("volumes:upload-delete", args=[seed.upload_id]))
    assert not Series.objects.filter(pk=seed.series_id).exists()
    assert stored.is_file()
    bobs = Measurement.objects.get(series__study__owner=bob)
    assert bobs.voxels_above == SEED_VOXELS


def test_delete_accepts_only_get_and_post(signed_in, two_uploads):
    seed, _ = two_uploads
    assert signed_in.put(reverse("volumes:measurement-delete", args=[seed.pk])).status_code == 405


def test_a_row_shows_the_measurement_as_it_is_now_not_as_first_shown(signed_in, django_capture_on_commit_callbacks):
    """The rows are rendered once and kept ({% cache %}): whatever changes what a row shows renders it anew."""
    with django_capture_on_commit_callbacks(execute=True):
        upload(signed_in, SEED_FILE)
    assert "143,280 mm³" in history(signed_in)

    Measurement.objects.update(state=Measurement.State.QUEUED, volume_mm3=None, voxels_above=None, finished_at=None)
    page = history(signed_in)
    assert "state-queued" in page and "mm³" not in page

    services.measurement_run(measurement=Measurement.objects.get())
    assert "143,280 mm³" in history(signed_in)

    Series.objects.update(description="Renamed in admin")
    Study.objects.update(description="A study renamed too")
    page = history(signed_in)
    assert "Renamed in admin" in page and "A study renamed too" in page and "Untitled CT series" not in page


def test_the_modality_filter_offers_each_modality_once(signed_in, two_uploads):
    page = history(signed_in)
    assert page.count('<option value="CT"') == 1
