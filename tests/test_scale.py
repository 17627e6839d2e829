"""At scale: with 10,000 stored measurements the pages and the API list run as many queries as with two.

No query per row: the history, a result page (which lists the other measurements of its series)
and the API list each issue the same number of queries whatever the number of measurements, and
show one page at a time.
"""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from volumes.models import Measurement, Series, Study, Upload
from volumes.api import MeasurementPagination
from volumes.history_views import HISTORY_PAGE_SIZE
from volumes.views import SIBLINGS_SHOWN

pytestmark = pytest.mark.django_db

MANY = 10_000


@pytest.fixture
def signed_in(client):
    user = get_user_model().objects.create_user("ada", password="a-long-secret-1")
    client.force_login(user)
    return client, user


def add_measurements(user, count: int) -> list[Measurement]:
    """`count` finished measurements spread over two studies of two series each, with their uploads."""
    studies = [Study.objects.get_or_create(owner=user, study_instance_uid=f"1.2.{n}")[0] for n in range(2)]
    series = [
        Series.objects.get_or_create(
            study=study, series_instance_uid=f"{study.study_instance_uid}.{n}", defaults={"rows": 512, "columns": 512}
        )[0]
        for study in studies
        for n in range(2)
    ]
    upload = Upload.objects.create(owner=user, files_received=1, skipped=[{"file": "x.txt", "reason": "not DICOM"}])
    return Measurement.objects.bulk_create(
        Measurement(
            series=series[index % len(series)],
            upload=upload if index % 2 else None,
            state=Measurement.State.DONE,
            mode="normalized",
            threshold_requested=0.5,
            threshold=0.5,
            voxels_above=index,
            volume_mm3=float(index),
            result={
                "threshold_modality": 100.0 + index,
                "voxels_above": index,
                "total_voxels": 512 * 512 * 100,
                "volume_mm3": float(index),
                "slices": 100,
                "pixel_spacing_mm": [0.5, 0.5],
                "slab_mm": {"min": 1.0, "max": 1.0, "mean": 1.0},
                "warnings": ["uneven slice spacing"] if index % 3 == 0 else [],
                "time_points": None,
            },
        )
        for index in range(count)
    )


def body_rows(html: str, table_id: str) -> int:
    """How many rows the body of the table with this id shows."""
    table = html[html.index(f'id="{table_id}"') :]
    return table[table.index("<tbody>") : table.index("</tbody>")].count("<tr>")


def queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_history_runs_the_same_queries_for_ten_thousand_measurements(signed_in, django_assert_max_num_queries):
    client, user = signed_in
    add_measurements(user, 2)
    few = queries_of(client, reverse("volumes:measurement-list"))
    add_measurements(user, MANY - 2)
    with django_assert_max_num_queries(few):
        response = client.get(reverse("volumes:measurement-list"))
    html = response.content.decode()
    assert f"{MANY} measurements" in html
    assert body_rows(html, "history") == HISTORY_PAGE_SIZE
    with django_assert_max_num_queries(few):
        last = client.get(reverse("volumes:measurement-list"), {"page": MANY // HISTORY_PAGE_SIZE})
    assert f"page {MANY // HISTORY_PAGE_SIZE} of {MANY // HISTORY_PAGE_SIZE}" in last.content.decode()


def test_a_result_page_runs_the_same_queries_among_ten_thousand_measurements(signed_in, django_assert_max_num_queries):
    client, user = signed_in
    first = add_measurements(user, 2)[0]
    url = reverse("volumes:measurement-detail", args=[first.pk])
    few = queries_of(client, url)
    add_measurements(user, MANY - 2)
    with django_assert_max_num_queries(few):
        html = client.get(url).content.decode()
    assert body_rows(html, "siblings") == SIBLINGS_SHOWN


def test_the_api_list_runs_the_same_queries_for_ten_thousand_measurements(signed_in, django_assert_max_num_queries):
    client, user = signed_in
    add_measurements(user, 2)
    few = queries_of(client, reverse("volumes:api-measurement-list"))
    add_measurements(user, MANY - 2)
    with django_assert_max_num_queries(few):
        body = client.get(reverse("volumes:api-measurement-list")).json()
    assert body["count"] == MANY
    assert len(body["results"]) == MeasurementPagination.page_size == 50
    created = [r["created_at"] for r in body["results"]]
    assert created == sorted(created, reverse=True)  # newest first
