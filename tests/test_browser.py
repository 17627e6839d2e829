"""The pages in a real browser (Debian's headless Chromium): sign in, choose or drop files, read the result.

Nothing is downloaded at test time: the driver is Debian's chromedriver, given by path, so Selenium Manager
never runs. A full-page screenshot of each step goes to test-artifacts/screenshots/ (or BROWSER_SCREENSHOT_DIR,
which .ci/run sets).
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from volumes.models import Measurement, Upload

from .conftest import INVALID_FILES, PHANTOM_DIR, SEED_FILE

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
PAGE_WAIT_SECONDS = 120
"""How long to wait for a page (an upload is measured within its request): patience, not an assertion."""
USERNAME, PASSWORD = "ada", "a-long-secret-1"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"

BROWSER_MISSING = not (CHROMIUM.is_file() and CHROMEDRIVER.is_file())
if BROWSER_MISSING and os.environ.get("VOLUMES_REQUIRE_BROWSER"):
    raise RuntimeError("VOLUMES_REQUIRE_BROWSER is set but /usr/bin/chromium or /usr/bin/chromedriver is missing")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        BROWSER_MISSING,
        reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
    ),
]


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
        script_errors = [entry["message"] for entry in driver.get_log("browser") if entry["source"] == "javascript"]
        assert not script_errors, f"the page scripts raised: {script_errors}"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def user(transactional_db):
    return get_user_model().objects.create_user(USERNAME, password=PASSWORD)


@pytest.fixture
def signed_in(browser, live_server, user):
    """The browser on the upload page, signed in through the sign-in form."""
    browser.get(live_server.url + reverse("volumes:upload"))
    assert reverse("login") in browser.current_url
    screenshot(browser, "login")
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, expected_conditions.presence_of_element_located((By.ID, "upload-form")))
    return browser


def wait_for(browser, condition):
    """Wait until the condition holds; an element the page's live refresh replaced mid-read is looked up again."""
    return WebDriverWait(
        browser, PAGE_WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
    ).until(condition)


def click(browser, by: str, value: str) -> None:
    """Click the element once it takes the click: while the page still lays itself out (a picture
    loading moves what lies below it), another element may be where it was a moment before."""
    WebDriverWait(
        browser, PAGE_WAIT_SECONDS,
        ignored_exceptions=(ElementClickInterceptedException, StaleElementReferenceException, NoSuchElementException),
    ).until(lambda b: b.find_element(by, value).click() or True)


def drop(browser, paths) -> None:
    """Drop files on the drop zone: File objects from a scratch input, carried by synthetic drag events."""
    browser.execute_script(
        "var input = document.createElement('input'); input.type = 'file'; input.multiple = true;"
        "input.id = 'scratch'; document.body.appendChild(input);"
    )
    browser.find_element(By.ID, "scratch").send_keys("\n".join(str(p) for p in paths))
    browser.execute_script(
        "var transfer = new DataTransfer(), scratch = document.getElementById('scratch');"
        "Array.prototype.forEach.call(scratch.files, function (file) { transfer.items.add(file); });"
        "scratch.remove();"
        "var zone = document.getElementById('dropzone');"
        "['dragenter', 'dragover', 'drop'].forEach(function (name) {"
        "  zone.dispatchEvent(new DragEvent(name, {bubbles: true, cancelable: true, dataTransfer: transfer}));"
        "});"
    )


def screenshot_folder() -> Path:
    """Where every browser test saves its screenshots: BROWSER_SCREENSHOT_DIR (.ci/run sets one per
    database and prints it at the end), else test-artifacts/screenshots/."""
    folder = Path(os.environ.get("BROWSER_SCREENSHOT_DIR") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshot(browser, name: str) -> Path:
    """The browser's window as it is, saved as NAME.png in the screenshot folder."""
    path = screenshot_folder() / f"{name}.png"
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 0, f"no screenshot written to {path}"
    return path


def screenshot(browser, name: str) -> None:
    """The whole page (the window stretched to its height), saved as NAME.png in the screenshot folder."""
    width = browser.get_window_size()["width"]
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(height + 140, 600))
    save_screenshot(browser, name)
    browser.set_window_size(width, 900)


def picture_loaded(browser, element) -> bool:
    return browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", element)


def submit_and_wait(browser, element_id: str, sending_screenshot: str = ""):
    """Send the upload form (upload.js posts it and follows the answer) and wait for an element of the next page."""
    browser.find_element(By.ID, "submit").click()
    if sending_screenshot:
        screenshot(browser, sending_screenshot)
    return wait_for(browser, expected_conditions.presence_of_element_located((By.ID, element_id)))


def check_seed_result(browser, measurement: Measurement | None = None) -> Measurement:
    measurement = measurement or Measurement.objects.get()
    assert browser.current_url.endswith(measurement.get_absolute_url())
    assert "143,280 mm³" in browser.find_element(By.ID, "volume").text
    assert "143.280 mL" in browser.find_element(By.ID, "volume").text
    assert browser.find_element(By.ID, "voxels-above").text == "50,080"
    preview = browser.find_element(By.ID, "preview")
    wait_for(browser, lambda b: picture_loaded(b, preview))
    assert browser.execute_script("return arguments[0].naturalWidth", preview) > 0
    return measurement


def test_a_file_chosen_on_the_page_is_measured_shown_and_listed(signed_in, live_server):
    browser = signed_in
    screenshot(browser, "upload-empty")
    browser.find_element(By.ID, "id_files").send_keys(str(SEED_FILE))
    chosen = wait_for(browser, lambda b: "1 file" in b.find_element(By.ID, "selection").text and b.find_element(By.ID, "selection").text)
    assert SEED_FILE.name in chosen
    screenshot(browser, "upload-chosen")
    submit_and_wait(browser, "volume")
    measurement = check_seed_result(browser)
    screenshot(browser, "result-seed")

    browser.get(live_server.url + reverse("volumes:measurement-list"))
    row = browser.find_element(By.CSS_SELECTOR, f"tr:has(a[href='{measurement.get_absolute_url()}'])")
    assert "143,280 mm³" in row.text
    thumbnail = row.find_element(By.TAG_NAME, "img")
    wait_for(browser, lambda b: picture_loaded(b, thumbnail))
    screenshot(browser, "history")


def test_a_file_dropped_on_the_drop_zone_is_measured(signed_in):
    browser = signed_in
    drop(browser, [SEED_FILE])
    wait_for(browser, lambda b: "1 file" in b.find_element(By.ID, "selection").text)
    screenshot(browser, "upload-dropped")
    submit_and_wait(browser, "volume")
    check_seed_result(browser)


def test_a_folder_is_measured_with_its_skipped_files_and_the_tilt_warning(signed_in):
    browser = signed_in
    browser.find_element(By.ID, "folder-input").send_keys(str(PHANTOM_DIR))
    chosen = wait_for(browser, lambda b: "56 files chosen" in b.find_element(By.ID, "selection").text and b.find_element(By.ID, "selection").text)
    assert "ct-phantom-philips/ 56 files" in chosen
    screenshot(browser, "upload-folder-chosen")
    volume = submit_and_wait(browser, "volume", sending_screenshot="upload-sending")
    measurement = Measurement.objects.get()
    assert browser.current_url.endswith(measurement.get_absolute_url())
    assert Upload.objects.get().files_received == 56
    assert "651,664 mm³" in volume.text
    assert browser.find_element(By.ID, "voxels-above").text == "1,181,064"
    assert "gantry tilt of 18.5°" in browser.find_element(By.CSS_SELECTOR, ".warnings").text
    skipped = browser.find_element(By.CSS_SELECTOR, ".skipped").text
    assert "2 files not measured" in skipped
    assert "DIRFILE: a DICOM directory (DICOMDIR)" in skipped
    assert "LICENSE: not a DICOM file" in skipped
    wait_for(browser, lambda b: picture_loaded(b, b.find_element(By.ID, "preview")))
    screenshot(browser, "result-phantom")


def test_an_upload_of_two_series_lists_both_and_leads_to_each(signed_in):
    browser = signed_in
    browser.find_element(By.ID, "folder-input").send_keys(str(PHANTOM_DIR))
    browser.find_element(By.ID, "id_files").send_keys(str(SEED_FILE))
    wait_for(browser, lambda b: "57 files chosen" in b.find_element(By.ID, "selection").text)
    listing = submit_and_wait(browser, "upload-measurements")
    upload = Upload.objects.get()
    assert browser.current_url.endswith(upload.get_absolute_url())
    assert "651,664 mm³" in listing.text and "143,280 mm³" in listing.text
    assert "2 files not measured" in browser.find_element(By.CSS_SELECTOR, ".skipped").text
    for picture in listing.find_elements(By.TAG_NAME, "img"):
        wait_for(browser, lambda b, picture=picture: picture_loaded(b, picture))
    screenshot(browser, "upload-detail")

    seed = Measurement.objects.get(result__slices=1)
    listing.find_element(By.CSS_SELECTOR, f"a[href='{seed.get_absolute_url()}']:not([tabindex])").click()
    wait_for(browser, expected_conditions.presence_of_element_located((By.ID, "volume")))
    check_seed_result(browser, seed)


def test_a_file_that_is_not_dicom_shows_its_reason_on_the_upload_page(signed_in):
    browser = signed_in
    browser.find_element(By.ID, "id_files").send_keys(str(INVALID_FILES[0]))
    browser.find_element(By.ID, "submit").click()
    alert = wait_for(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert f"{INVALID_FILES[0].name} cannot be measured: not a DICOM file" in alert.text
    assert browser.find_element(By.ID, "upload-form")
    assert not Upload.objects.exists()
    screenshot(browser, "upload-refused")
