"""The Content-Security-Policy in a real browser: the pages and the API documentation work under it, and
Chromium reports no violation (nothing inline, nothing from another host)."""
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from .conftest import SEED_FILE
from .test_browser import browser, check_seed_result, signed_in, submit_and_wait, user, wait_for  # noqa: F401
from .test_browser import pytestmark  # noqa: F401  (browser mark; skipped without Chromium)


def csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_the_pages_and_the_api_documentation_run_without_a_policy_violation(signed_in, live_server):
    driver = signed_in
    driver.find_element(By.ID, "id_files").send_keys(str(SEED_FILE))
    submit_and_wait(driver, "volume")
    check_seed_result(driver)
    for name in ("volumes:measurement-list", "volumes:account"):
        driver.get(live_server.url + reverse(name))
        wait_for(driver, expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
    driver.get(live_server.url + reverse("volumes:api-docs"))
    title = wait_for(driver, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#swagger-ui .info .title")))
    assert "DICOM volumetry API" in title.text
    wait_for(driver, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#swagger-ui .opblock")))
    assert csp_violations(driver) == []


def test_an_inline_script_would_be_reported_so_the_check_above_can_fail(signed_in, live_server):
    driver = signed_in
    driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.appendChild(s);"
    )
    assert driver.execute_script("return window.ran === undefined")
    assert csp_violations(driver)
