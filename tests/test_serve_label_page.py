"""The labeling page end to end in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

Skipped where Chromium is not installed, unless CAPTCHA_OCR_REQUIRE_BROWSER=1 (as `.ci/run` sets it).
Set CAPTCHA_OCR_SCREENSHOT=FILE to save a screenshot of the page (the README's).
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import Server

from captcha_ocr.data.folder import read_labels_csv

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CAPTCHA_OCR_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=900,760"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def test_label_page_with_keyboard_only(browser, smoke_run, generated_folder, workdir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def type_keys(*keys):  # to whatever has the focus, as a person at the keyboard: no clicks
        ActionChains(browser).send_keys(*keys).perform()

    def press_ctrl(key):
        ActionChains(browser).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()

    folder = tmp_path / "to-label"
    folder.mkdir()
    for i, f in enumerate(sorted(generated_folder.glob("*.png"))[:5]):
        shutil.copy(f, folder / f"c{i}.png")
    with Server("--model", smoke_run, "--label-folder", folder, cwd=workdir) as server:
        import httpx

        first = httpx.get(server.url + "/v1/label/state").json()["item"]
        browser.get(server.url + "/")
        box = lambda: browser.find_element(By.ID, "reading")  # noqa: E731
        progress = lambda: browser.find_element(By.ID, "progress").text  # noqa: E731
        wait_for(browser, lambda d: progress().startswith("0 / 5"))
        assert box().get_attribute("value") == first["text"]  # the model's reading, pre-filled
        assert browser.switch_to.active_element == box()  # typing starts at once
        image_ok = browser.execute_script(
            "const i = document.getElementById('captcha'); return i.complete && i.naturalWidth > 0;")
        assert image_ok
        if os.environ.get("CAPTCHA_OCR_SCREENSHOT"):
            browser.save_screenshot(os.environ["CAPTCHA_OCR_SCREENSHOT"])

        # Correct the first: the typed text replaces the selected reading.
        type_keys("Zz9Q", Keys.ENTER)
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert read_labels_csv(folder / "labels.csv") == [(first["file"], "Zz9Q")]

        # Accept the second as the model read it.
        second = httpx.get(server.url + "/v1/label/state").json()["item"]
        assert box().get_attribute("value") == second["text"]
        type_keys(Keys.ENTER)
        wait_for(browser, lambda d: progress().startswith("2 / 5"))
        assert dict(read_labels_csv(folder / "labels.csv"))[second["file"]] == second["text"]
        agreement = browser.find_element(By.ID, "agreement").text
        assert "1 of 2" in agreement or "2 of 2" in agreement

        # Skip the third, then undo the second's label: the second is back on screen.
        third = httpx.get(server.url + "/v1/label/state").json()["item"]
        type_keys(Keys.ESCAPE)
        wait_for(browser, lambda d: "Skipped" in d.find_element(By.ID, "message").text)
        assert httpx.get(server.url + "/v1/label/state").json()["item"]["file"] != third["file"]
        press_ctrl("z")
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert box().get_attribute("value") == second["text"]
        assert read_labels_csv(folder / "labels.csv") == [(first["file"], "Zz9Q")]

        # A bad label gets a message and saves nothing.
        type_keys(Keys.BACKSPACE, Keys.ENTER)  # the reading is selected: Backspace empties the box
        wait_for(browser, lambda d: "empty" in d.find_element(By.ID, "message").text)

        # Reload: the same state, from the server.
        browser.refresh()
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert box().get_attribute("value") == second["text"]
    # Kill and restart: labels.csv holds what was saved, and the queue resumes after it.
    with Server("--model", smoke_run, "--label-folder", folder, cwd=workdir) as server:
        state = httpx.get(server.url + "/v1/label/state").json()
        assert state["labeled"] == 1 and state["remaining"] == 4 and state["item"]["file"] != first["file"]


def test_retrain_panel_shows_the_next_rounds_commands(browser, smoke_run, generated_folder, workdir, tmp_path):
    """From 20 labels on, Tab then Enter opens the retrain panel: the server's commands for this folder."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from captcha_ocr.data.folder import write_labels_csv

    folder = tmp_path / "to-label"
    folder.mkdir()
    files = sorted(generated_folder.glob("*.png"))[:22]
    for i, f in enumerate(files):
        shutil.copy(f, folder / f"c{i:02d}.png")
    write_labels_csv(folder / "labels.csv", [(f"c{i:02d}.png", f"Ab{i:02d}") for i in range(19)])
    with Server("--model", smoke_run, "--label-folder", folder, cwd=workdir) as server:
        import httpx

        browser.get(server.url + "/")
        panel = lambda: browser.find_element(By.ID, "retrain")  # noqa: E731
        wait_for(browser, lambda d: d.find_element(By.ID, "progress").text.startswith("19 / 22"))
        assert not panel().is_displayed()  # 19 labels: too few to train on
        ActionChains(browser).send_keys("Xy12", Keys.ENTER).perform()
        wait_for(browser, lambda d: panel().is_displayed())
        command = browser.find_element(By.ID, "retrain-command")
        assert not command.is_displayed()  # closed until asked for
        ActionChains(browser).send_keys(Keys.TAB, Keys.ENTER).perform()  # from the text box to the panel
        wait_for(browser, lambda d: command.is_displayed())
        expected = httpx.get(server.url + "/v1/label/state").json()["train_command"]
        assert command.text == expected and f"--label-folder {folder}" in expected and "-20-labels" in expected
