"""How the figures read: precision, the threshold an automatic mode chose, reasons in plain sight, admin's list."""
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import floatformat
from django.urls import reverse

from volumes.models import Measurement, Upload
from volumes.figures import fixed, ml, mm3, modality_value

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOXELS, forget_volume
from .test_command import MANAGE_PY

PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:3]

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured(client, django_capture_on_commit_callbacks):
    """The seed slice measured at 0.5 by a signed-in user: (client, measurement)."""
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("volumes:upload"), {"files": [SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())]})
    return client, Measurement.objects.get()


@pytest.mark.parametrize(
    "volume_mm3, as_mm3, as_ml",
    [
        (143_280.029296875, "143,280", "143.280"),
        (1_000.4, "1,000", "1.000"),
        (999.7, "1,000", "1.000"),
        (12.3456, "12.3", "0.0123"),
        (0.0, "0", "0"),
    ],
)
def test_volumes_are_given_to_three_decimals_of_a_millilitre(volume_mm3, as_mm3, as_ml):
    assert (mm3(volume_mm3), ml(volume_mm3)) == (as_mm3, as_ml)


@pytest.mark.parametrize("value, text", [(57.633, "57.6"), (-26.0, "-26"), (1033.04, "1,033.0"), (None, "")])
def test_modality_values_are_given_to_one_decimal(value, text):
    assert modality_value(value) == text


def test_the_result_page_gives_sensible_precision(measured):
    client, measurement = measured
    page = client.get(measurement.get_absolute_url()).content.decode()
    assert "143,280 mm³" in page and "143.280 mL" in page and "143,280.029" not in page
    mean = measurement.result["stats"]["mean"]
    assert f"<dd>{mean:,.1f}</dd>" in page


def test_an_automatic_mode_shows_the_threshold_it_chose_not_a_stale_value(measured):
    client, measurement = measured
    client.post(reverse("volumes:measurement-remeasure", args=[measurement.pk]), {"mode": "otsu", "threshold": "0.5"})
    otsu = Measurement.objects.get(mode="otsu")
    page = client.get(otsu.get_absolute_url()).content.decode()
    field = re.search(r'<input[^>]*name="threshold"[^>]*>', page).group(0)
    assert f'data-chosen="Otsu chose {otsu.result["threshold_modality"]:.1f} HU"' in field
    assert 'data-chosen-mode="otsu"' in field
    assert 'value="0.5"' not in field


def test_a_reason_for_no_volume_is_in_plain_sight(measured):
    client, measurement = measured
    forget_volume(measurement, "no spacing: test")
    page = client.get(measurement.get_absolute_url()).content.decode()
    assert '<span class="error">no spacing: test</span>' in page
    assert 'title="no spacing: test"' not in page


def test_admin_lists_formatted_figures(measured):
    client, measurement = measured
    client.force_login(get_user_model().objects.create_superuser("root", password="another-secret-2"))
    listing = client.get(reverse("admin:volumes_measurement_changelist")).content.decode()
    assert "143,280 mm³" in listing and f"{SEED_VOXELS:,} voxels" in listing
    assert "&gt; -26.0 (0.5 normalised)" in listing
    assert "143280.029296875" not in listing
    by_volume = client.get(reverse("admin:volumes_measurement_changelist"), {"o": "7"})
    assert by_volume.status_code == 200


def test_the_upload_page_counts_what_is_measured_and_what_is_not_yet(client, django_capture_on_commit_callbacks):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in (SEED_FILE, *PHANTOM_SLICES)]
    client.post(reverse("volumes:upload"), {"files": files})  # no on-commit callbacks: nothing measured yet
    upload = Upload.objects.get()
    page = client.get(upload.get_absolute_url()).content.decode()
    assert "2 volumes (0 measured, 2 to measure)" in page
    Measurement.objects.filter(pk=upload.measurements.first().pk).update(state=Measurement.State.DONE)
    assert "2 volumes (1 measured, 1 to measure)" in client.get(upload.get_absolute_url()).content.decode()
    Measurement.objects.update(state=Measurement.State.DONE)
    page = client.get(upload.get_absolute_url()).content.decode()
    assert "2 volumes measured" in page and "to measure" not in page and 'http-equiv="refresh"' not in page


@pytest.mark.parametrize(
    "value, argument",
    [(143_280.029296875, "0g"), (143.280029296875, "3g"), (0.0123456, "-4g"), (57.633, "-1g"), (-26.0, "-1g"),
     (1033.04, "-1g"), (0.125, "-2g"), (-0.04, "-1g"), (2.5, "0g"), (-1_234_567.25, "-1g"), (7.5, "-2g")],
)
def test_figures_print_as_djangos_floatformat_without_needing_the_apps(value, argument):
    decimals = abs(int(argument.rstrip("g")))
    assert fixed(value, decimals, whole_without_decimals=argument.startswith("-")) == floatformat(value, argument)


def test_the_command_line_prints_the_figures_without_loading_the_apps():
    completed = subprocess.run(
        [sys.executable, str(MANAGE_PY), "measure", str(SEED_FILE), "--no-color"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert "volume: 143,280 mm³ (143.280 mL)" in completed.stdout
    assert "normalised = -26 in modality units" in completed.stdout
    assert "above the threshold: mean 57.6, std 76.9, min -25, median 45, max 972" in completed.stdout


def test_the_command_line_says_the_count_is_of_the_body_with_body_only():
    completed = subprocess.run(
        [sys.executable, str(MANAGE_PY), "measure", str(SEED_FILE), "--body-only", "--no-color"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"voxels above: [\d,]+ of [\d,]+ inside the body\n", completed.stdout), completed.stdout
    assert "body only: the couch and the air left out" in completed.stdout
