"""The result page in a real browser: watch the measurement finish without a reload, scroll the slices,
change the window, move the threshold, switch on "body only" and download its mask. A screenshot of each step goes to
test-artifacts/screenshots/ (see test_browser.screenshot)."""
import gzip

import nibabel
import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Measurement
from volumes import figures

from .conftest import PHANTOM_DIR, PHANTOM_VOXELS
from .test_browser import (  # noqa: F401 (fixtures)
    drop,
    picture_loaded,
    BROWSER_MISSING,
    browser,
    click,
    screenshot,
    signed_in,
    user,
    wait_for,
)
from .test_browser_take_away import downloaded

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER_MISSING, reason="needs Debian's chromium and chromium-driver"),
]


def text_of(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def attribute(browser, element_id: str, name: str) -> str:
    return browser.find_element(By.ID, element_id).get_attribute(name) or ""


def finish_queued_measurement() -> Measurement:
    """Play the worker: run the measurement the page is waiting for."""
    measurement = Measurement.objects.filter(state=Measurement.State.QUEUED).latest("id")
    return services.measurement_run(measurement=measurement)


def set_slider(browser, element_id: str, value) -> None:
    browser.execute_script(
        "var s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('input', {bubbles: true}));",
        element_id, str(value),
    )


def test_see_scroll_window_threshold_and_body_only_on_the_tilted_phantom(signed_in, settings, tmp_path):
    browser = signed_in
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # the test is the worker

    # Drop the series; the result page waits for the worker.
    drop(browser, sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I")))
    wait_for(browser, lambda b: "54 files" in text_of(b, "selection"))
    screenshot(browser, "viewer-01-dropped")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda b: "Waiting for a worker" in b.find_element(By.ID, "measurement-state").text)
    screenshot(browser, "viewer-02-waiting")

    # While it waits, the user types in the remeasure form; the page must not reload and lose it.
    browser.execute_script("window.notReloaded = true;")
    threshold_input = browser.find_element(By.CSS_SELECTOR, "form.threshold-form input[name=threshold]")
    threshold_input.clear()
    threshold_input.send_keys("0.42")
    finish_queued_measurement()
    wait_for(browser, lambda b: b.execute_script("var v = document.getElementById('viewer'); return v && v.dataset.ready === '1';"))
    assert browser.execute_script("return window.notReloaded === true;")
    assert browser.find_element(By.CSS_SELECTOR, "form.threshold-form input[name=threshold]").get_attribute("value") == "0.42"
    assert text_of(browser, "voxels-above") == f"{PHANTOM_VOXELS:,}"
    assert "Done" in text_of(browser, "measurement-head")
    wait_for(browser, lambda b: "/slices/28.png" in attribute(b, "viewer-slice", "src"))
    assert text_of(browser, "slice-number") == "28" and text_of(browser, "slice-count") == "54"
    assert "level 40 / width 80 HU" in text_of(browser, "window-readout")  # the file's own window
    # The mask downloads came with the result, without a reload.
    assert browser.find_element(By.LINK_TEXT, "Mask as NIfTI (.nii.gz)").is_displayed()
    screenshot(browser, "viewer-03-done")

    # Scroll: arrow key, wheel, slider.
    stage = browser.find_element(By.ID, "viewer-stage")
    stage.send_keys(Keys.ARROW_UP)
    wait_for(browser, lambda b: text_of(b, "slice-number") == "29")
    browser.execute_script(
        "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: 120, bubbles: true, cancelable: true}));", stage
    )
    wait_for(browser, lambda b: text_of(b, "slice-number") == "30")
    set_slider(browser, "slice-slider", 12)
    wait_for(browser, lambda b: "/slices/12.png" in attribute(b, "viewer-slice", "src"))
    assert "mm" in text_of(browser, "slice-position")
    screenshot(browser, "viewer-04-slice-12")

    # Window: a preset, then dragging.
    browser.find_element(By.XPATH, "//div[@id='window-presets']/button[normalize-space()='Lung']").click()
    wait_for(browser, lambda b: "center=-600&width=1500" in attribute(b, "viewer-slice", "src"))
    assert "level -600 / width 1500 HU" in text_of(browser, "window-readout")
    ActionChains(browser).click_and_hold(stage).move_by_offset(60, -30).release().perform()
    wait_for(browser, lambda b: "center=-600&" not in attribute(b, "viewer-slice", "src"))
    assert "level -600 / width 1500" not in text_of(browser, "window-readout")
    screenshot(browser, "viewer-05-window-dragged")

    # The counted voxels: "O" hides and shows them.
    browser.find_element(By.TAG_NAME, "body").send_keys("o")
    wait_for(browser, lambda b: not b.find_element(By.ID, "viewer-mask").is_displayed())
    browser.find_element(By.TAG_NAME, "body").send_keys("o")
    wait_for(browser, lambda b: b.find_element(By.ID, "viewer-mask").is_displayed())
    set_slider(browser, "overlay-opacity", 80)
    wait_for(browser, lambda b: b.find_element(By.ID, "viewer-mask").value_of_css_property("opacity") == "0.8")
    browser.find_element(By.ID, "overlay-outline").click()
    wait_for(browser, lambda b: "outline=1" in attribute(b, "viewer-mask", "src"))
    screenshot(browser, "viewer-05b-outlined")
    browser.find_element(By.ID, "overlay-outline").click()

    # Move the threshold: the figures follow, from the stored histograms.
    series = Measurement.objects.get().series
    at_300 = services.measurement_live(series=series, request=ThresholdRequest("modality", 300.0))
    set_slider(browser, "live-lower", 300)
    wait_for(browser, lambda b: text_of(b, "voxels-above") == f"{at_300.voxels_above:,}")
    assert f"{figures.mm3(at_300.volume_mm3)} mm³" in text_of(browser, "volume")  # as the page prints a saved one
    assert "." not in figures.mm3(at_300.volume_mm3)  # whole mm³: 3 decimals of a mL
    # The caption follows the figure: which threshold, what share of the voxels, that it is not saved.
    assert text_of(browser, "volume-threshold") == "> 300 HU (not saved)"
    assert text_of(browser, "voxels-percent") == f"{round(100 * at_300.voxels_above / at_300.total_voxels)} %"
    wait_for(browser, lambda b: "threshold=300" in attribute(b, "viewer-mask", "src"))
    screenshot(browser, "viewer-06-threshold-300")

    # Body only: the first time it is found by the worker, then the couch leaves the count.
    browser.find_element(By.ID, "live-body").click()
    wait_for(browser, lambda b: b.find_element(By.ID, "live-body-help").is_displayed())
    browser.find_element(By.ID, "live-save").click()
    wait_for(browser, lambda b: "Waiting for a worker" in b.find_element(By.ID, "measurement-state").text)
    body_only = finish_queued_measurement()
    wait_for(browser, lambda b: b.execute_script("var v = document.getElementById('viewer'); return v && v.dataset.ready === '1';"))
    assert body_only.body_only and body_only.result["threshold_modality"] == 300.0
    assert text_of(browser, "voxels-above") == f"{body_only.voxels_above:,}"
    assert body_only.voxels_above < at_300.voxels_above
    assert "inside the body only" in text_of(browser, "body-only")
    assert text_of(browser, "voxels-total") == f"{body_only.result['total_voxels']:,} voxels inside the body"
    wait_for(browser, lambda b: "body_only=on" in attribute(b, "viewer-mask", "src"))
    screenshot(browser, "viewer-07-body-only")

    # Its mask, downloaded as the user would: exactly the voxels counted inside the body.
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    click(browser, By.LINK_TEXT, "Mask as NIfTI (.nii.gz)")
    nifti = nibabel.Nifti1Image.from_bytes(gzip.decompress(downloaded(tmp_path, f"measurement-{body_only.pk}-mask.nii.gz").read_bytes()))
    assert int(np.asanyarray(nifti.dataobj).sum()) == body_only.voxels_above
    screenshot(browser, "viewer-07b-body-only-mask-downloaded")

    # Now the slider moves over the body's histograms too.
    series.refresh_from_db()
    set_slider(browser, "live-lower", -115)
    at_half_body = services.measurement_live(
        series=series, request=ThresholdRequest("modality", -115.0, body_only=True)
    )
    at_half_all = services.measurement_live(series=series, request=ThresholdRequest("modality", -115.0))
    wait_for(browser, lambda b: text_of(b, "voxels-above") == f"{at_half_body.voxels_above:,}")
    assert at_half_body.voxels_above < at_half_all.voxels_above
    screenshot(browser, "viewer-08-body-only-moved")


def test_the_time_slider_shows_each_time_point_of_a_time_series(signed_in, tmp_path):
    from .phantoms import write_time_points
    from .test_body import PATIENT, PATIENT_LATER

    browser = signed_in
    drop(browser, sorted(write_time_points(tmp_path, [PATIENT, PATIENT_LATER]).iterdir()))
    wait_for(browser, lambda b: "16 files" in text_of(b, "selection"))
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda b: b.execute_script("var v = document.getElementById('viewer'); return v && v.dataset.ready === '1';"))
    assert browser.find_element(By.ID, "viewer-time").is_displayed()
    assert text_of(browser, "time-number") == "1"
    wait_for(browser, lambda b: "t=1" in attribute(b, "viewer-slice", "src") and "t=1" in attribute(b, "viewer-mask", "src"))
    screenshot(browser, "viewer-time-point-1")

    set_slider(browser, "time-slider", 2)
    assert text_of(browser, "time-number") == "2"
    wait_for(browser, lambda b: "t=2" in attribute(b, "viewer-slice", "src") and "t=2" in attribute(b, "viewer-mask", "src"))
    wait_for(browser, lambda b: picture_loaded(b, b.find_element(By.ID, "viewer-slice")))
    assert text_of(browser, "slice-count") == str(PATIENT_LATER.slices)
    screenshot(browser, "viewer-time-point-2")
