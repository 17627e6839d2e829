"""In Chromium: downloading the mask and the history, the threshold box of automatic modes, admin's list at 1400 px."""
import gzip
import time
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Measurement

from .conftest import SEED_FILE, SEED_VOXELS
from .test_browser import (  # noqa: F401 (fixtures)
    BROWSER_MISSING,
    PASSWORD,
    USERNAME,
    browser,
    click,
    save_screenshot,
    user,
    wait_for,
)

DOWNLOAD_WAIT_SECONDS = 60
"""How long to wait for a download to finish: patience, not an assertion."""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER_MISSING, reason="needs Debian's chromium and chromium-driver"),
]


@pytest.fixture
def seed(user):  # noqa: F811
    upload = services.upload_ingest(
        owner=user, files=[SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())], request=ThresholdRequest(value=0.5)
    )
    return Measurement.objects.get(upload=upload)


def sign_in(browser, live_server, username=USERNAME, password=PASSWORD):  # noqa: F811
    browser.get(live_server.url + reverse("login"))
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "nav[aria-label=Main], #user-tools")))


def downloaded(folder: Path, name: str) -> Path:
    deadline = time.monotonic() + DOWNLOAD_WAIT_SECONDS
    target = folder / name
    while time.monotonic() < deadline:
        if target.is_file() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.2)
    raise AssertionError(f"{name} was not downloaded; the folder holds {sorted(p.name for p in folder.iterdir())}")


def test_the_mask_and_the_history_download_from_the_pages(browser, live_server, seed, tmp_path):  # noqa: F811
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    sign_in(browser, live_server)
    browser.get(live_server.url + seed.get_absolute_url())
    save_screenshot(browser, "take-away-result")
    click(browser, By.LINK_TEXT, "Mask as DICOM SEG")
    seg = pydicom.dcmread(downloaded(tmp_path, f"measurement-{seed.pk}-seg.dcm"))
    assert int(seg.pixel_array.sum()) == SEED_VOXELS
    click(browser, By.LINK_TEXT, "Mask as NIfTI (.nii.gz)")
    nifti = nibabel.Nifti1Image.from_bytes(gzip.decompress(downloaded(tmp_path, f"measurement-{seed.pk}-mask.nii.gz").read_bytes()))
    assert int(np.asanyarray(nifti.dataobj).sum()) == SEED_VOXELS
    click(browser, By.LINK_TEXT, "Measurement as JSON")
    assert f'"voxels_above": {SEED_VOXELS}' in downloaded(tmp_path, f"measurement-{seed.pk}.json").read_text()
    save_screenshot(browser, "take-away-downloaded")

    browser.get(live_server.url + reverse("volumes:measurement-list"))
    click(browser, By.LINK_TEXT, "Download as CSV")
    deadline = time.monotonic() + DOWNLOAD_WAIT_SECONDS
    while not list(tmp_path.glob("measurements-*.csv")) and time.monotonic() < deadline:
        time.sleep(0.2)
    (history,) = tmp_path.glob("measurements-*.csv")
    assert str(SEED_VOXELS) in history.read_text()


def test_an_automatic_mode_empties_the_greyed_box_and_says_what_it_chose(browser, live_server, seed):  # noqa: F811
    sign_in(browser, live_server)
    browser.get(live_server.url + reverse("volumes:upload"))
    mode = Select(browser.find_element(By.ID, "id_mode"))
    box = browser.find_element(By.ID, "id_threshold")
    assert box.get_attribute("value") == "0.5"
    mode.select_by_value("otsu")
    assert not box.is_enabled() and box.get_attribute("value") == ""
    assert box.get_attribute("placeholder") == "chosen from the histogram"
    mode.select_by_value("normalized")
    assert box.is_enabled() and box.get_attribute("value") == "0.5"

    otsu = services.measurement_remeasure(measurement=seed, request=ThresholdRequest(mode="otsu"))
    browser.get(live_server.url + otsu.get_absolute_url())
    box = browser.find_element(By.ID, "id_threshold")
    assert not box.is_enabled() and box.get_attribute("value") == ""
    assert box.get_attribute("placeholder") == f"Otsu chose {otsu.result['threshold_modality']:.1f} HU"
    save_screenshot(browser, "automatic-threshold-chosen")


def test_admin_lists_every_column_within_1400_px(browser, live_server, seed):  # noqa: F811
    get_user_model().objects.create_superuser("root", password="another-secret-2")
    browser.set_window_size(1400, 900)
    sign_in(browser, live_server, "root", "another-secret-2")
    browser.get(live_server.url + reverse("admin:volumes_measurement_changelist"))
    table = browser.find_element(By.ID, "result_list")
    scroller = browser.find_element(By.CSS_SELECTOR, "#changelist .results")
    assert browser.execute_script("return arguments[0].scrollWidth - arguments[0].clientWidth", scroller) <= 0
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", table)
    assert right <= browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    volume = browser.find_element(By.CSS_SELECTOR, "#result_list td.field-volume_text")
    assert volume.is_displayed() and "143,280 mm³" in volume.text
    save_screenshot(browser, "admin-measurements-1400")


def test_deleting_from_the_history_asks_then_removes_the_row(browser, live_server, seed):  # noqa: F811
    sign_in(browser, live_server)
    browser.get(live_server.url + reverse("volumes:measurement-list"))
    browser.find_element(By.CSS_SELECTOR, "#history a.delete-link").click()
    confirm = wait_for(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "main form button.danger")))
    assert browser.current_url.endswith(reverse("volumes:measurement-delete", args=[seed.pk]))
    confirm = browser.find_element(By.TAG_NAME, "main").text
    assert "1 series with 1 stored file" in confirm
    save_screenshot(browser, "delete-confirm")
    browser.find_element(By.CSS_SELECTOR, "main form button.danger").click()
    message = wait_for(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messages"))).text
    assert f"Measurement {seed.pk} of Untitled CT series deleted." in message
    assert "Nothing measured yet." in browser.find_element(By.TAG_NAME, "main").text
    assert not Measurement.objects.exists()
    save_screenshot(browser, "deleted")
