"""Every page checked by axe-core in Debian's Chromium (no critical violation), and the phone layout at 390 px.

axe-core comes from the npm registry, pinned in package.json and package-lock.json (`make test` runs
`npm ci` when node_modules is missing); its script is injected into each page. Screenshots of each
page checked go to the screenshot folder (test_browser.screenshot_folder; .ci/run prints where).
"""
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Measurement

from .conftest import INVALID_FILES, PHANTOM_DIR, SEED_FILE
from .test_browser import (  # noqa: F401 (fixtures)
    BROWSER_MISSING,
    PASSWORD,
    USERNAME,
    browser,
    save_screenshot,
    user,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE_WIDTH, PHONE_HEIGHT = 390, 844

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER_MISSING, reason="needs Debian's chromium and chromium-driver"),
    pytest.mark.skipif(not AXE_SCRIPT.is_file(), reason="axe-core is not installed: run `npm ci` (make test does)"),
]


@pytest.fixture
def measured(user):  # noqa: F811
    """Two uploads: the seed slice, and three phantom slices with a file that is not DICOM (skipped)."""
    seed = services.upload_ingest(
        owner=user, files=[SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())], request=ThresholdRequest(value=0.5)
    )
    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:3]
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in [*slices, INVALID_FILES[0]]]
    phantom = services.upload_ingest(owner=user, files=files, request=ThresholdRequest(value=0.5))
    return Measurement.objects.get(upload=seed), phantom


@pytest.fixture
def signed_in_browser(browser, live_server, measured):  # noqa: F811
    browser.get(live_server.url + reverse("login"))
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "nav[aria-label=Main]")))
    return browser


def axe_violations(browser) -> list[dict]:
    browser.execute_script(AXE_SCRIPT.read_text())
    return browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(function (r) { done(r.violations); }, function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]); });"
    )


def describe(violations: list[dict]) -> list[str]:
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}" for v in violations]


def page_paths(measured) -> dict[str, str]:
    seed, phantom = measured
    return {
        "upload-form": reverse("volumes:upload"),
        "result": seed.get_absolute_url(),
        "history": reverse("volumes:measurement-list"),
        "history-search": reverse("volumes:measurement-list") + "?q=stereotaxis&sort=largest",
        "upload-detail": phantom.get_absolute_url(),
        "delete-confirm": reverse("volumes:upload-delete", args=[phantom.pk]),
        "not-found": "/measurements/999999/",
    }


def test_no_page_has_a_critical_accessibility_violation(signed_in_browser, live_server, measured):
    browser = signed_in_browser
    found = {}
    for name, path in page_paths(measured).items():
        browser.get(live_server.url + path)
        violations = axe_violations(browser)
        save_screenshot(browser, f"axe-{name}")
        found[name] = describe([v for v in violations if v["impact"] == "critical"])
    browser.delete_all_cookies()
    for name, path in (("login", reverse("login")), ("signup", reverse("volumes:signup"))):
        browser.get(live_server.url + path)
        found[name] = describe([v for v in axe_violations(browser) if v["impact"] == "critical"])
        save_screenshot(browser, f"axe-{name}")
    assert found == {name: [] for name in found}


def test_the_pages_have_no_serious_accessibility_violation_either(signed_in_browser, live_server, measured):
    browser = signed_in_browser
    found = {}
    for name, path in page_paths(measured).items():
        browser.get(live_server.url + path)
        found[name] = describe([v for v in axe_violations(browser) if v["impact"] == "serious"])
    assert found == {name: [] for name in found}


def phone(browser) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "deviceScaleFactor": 1, "mobile": True},
    )


def horizontal_overflow(browser) -> int:
    """How many CSS pixels the page is wider than the screen (0 when nothing sticks out)."""
    return browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def test_on_a_phone_the_volume_is_above_the_fold_and_nothing_overflows(signed_in_browser, live_server, measured):
    browser = signed_in_browser
    phone(browser)
    seed, _ = measured
    browser.get(live_server.url + seed.get_absolute_url())
    assert browser.execute_script("return window.innerWidth") == PHONE_WIDTH
    volume = browser.find_element(By.ID, "volume")
    assert "143,280 mm³" in volume.text
    bottom = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", volume)
    preview_top = browser.execute_script("return document.getElementById('preview').getBoundingClientRect().top")
    assert bottom <= PHONE_HEIGHT, f"the volume ends {bottom:.0f} px down a {PHONE_HEIGHT} px screen"
    assert bottom < preview_top  # the figure first, the picture after it
    # Once the viewer and the live threshold run (each its own script, ready in either order): the slices
    # right under the volume, then the threshold that moves them, then the rest.
    wait_for(browser, lambda b: b.execute_script(
        "return document.getElementById('viewer').dataset.ready === '1' && document.getElementById('live-threshold').dataset.ready === '1';"
    ))
    tops = browser.execute_script(
        "return ['volume', 'viewer-stage', 'live-threshold', 'threshold-heading'].map(function (id) {"
        "  return document.getElementById(id).getBoundingClientRect().top; });"
    )
    assert tops == sorted(tops), f"volume, slices, live threshold, threshold card lie at {tops} px"
    save_screenshot(browser, "phone-result")
    for name, path in page_paths(measured).items():
        browser.get(live_server.url + path)
        assert horizontal_overflow(browser) <= 0, f"{name} is {horizontal_overflow(browser)} px too wide at {PHONE_WIDTH} px"
        save_screenshot(browser, f"phone-{name}")
