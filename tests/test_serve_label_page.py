"""The labeling page end to end in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

Skipped where Chromium is not installed, unless CAPTCHA_OCR_REQUIRE_BROWSER=1 (as `.ci/run` sets it).
Set CAPTCHA_OCR_SCREENSHOT=FILE to save a screenshot of the page (the README's).
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import Server, web

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
        first = web.get(server.url + "/v1/label/state").json()["item"]
        browser.get(server.url + "/")
        box = lambda: browser.find_element(By.ID, "reading")  # noqa: E731
        progress = lambda: browser.find_element(By.ID, "progress").text  # noqa: E731
        wait_for(browser, lambda d: progress().startswith("0 / 5"))
        assert box().get_attribute("value") == first["text"]  # the model's reading, pre-filled
        assert browser.switch_to.active_element == box()  # typing starts at once
        wait_for(browser, lambda d: d.execute_script(  # fetched with the page's headers, shown from a blob
            "const i = document.getElementById('captcha'); return i.complete && i.naturalWidth > 0;"))
        if os.environ.get("CAPTCHA_OCR_SCREENSHOT"):
            browser.save_screenshot(os.environ["CAPTCHA_OCR_SCREENSHOT"])

        # Correct the first: the typed text replaces the selected reading.
        type_keys("Zz9Q", Keys.ENTER)
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert read_labels_csv(folder / "labels.csv") == [(first["file"], "Zz9Q")]

        # Accept the second as the model read it.
        second = web.get(server.url + "/v1/label/state").json()["item"]
        assert box().get_attribute("value") == second["text"]
        type_keys(Keys.ENTER)
        wait_for(browser, lambda d: progress().startswith("2 / 5"))
        assert dict(read_labels_csv(folder / "labels.csv"))[second["file"]] == second["text"]
        agreement = browser.find_element(By.ID, "agreement").text
        assert "1 of 2" in agreement or "2 of 2" in agreement

        # Skip the third, then undo the second's label: the second is back on screen.
        third = web.get(server.url + "/v1/label/state").json()["item"]
        type_keys(Keys.ESCAPE)
        wait_for(browser, lambda d: "Skipped" in d.find_element(By.ID, "message").text)
        assert web.get(server.url + "/v1/label/state").json()["item"]["file"] != third["file"]
        press_ctrl("z")
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert box().get_attribute("value") == second["text"]
        assert read_labels_csv(folder / "labels.csv") == [(first["file"], "Zz9Q")]

        # A bad label gets a message and saves nothing.
        type_keys(Keys.BACKSPACE, Keys.ENTER)  # the reading is selected: Backspace empties the box
        wait_for(browser, lambda d: "empty" in d.find_element(By.ID, "message").text)
        type_keys("A_1", Keys.ENTER)  # the pad character: refused, and Enter again does not save it
        wait_for(browser, lambda d: "'_'" in d.find_element(By.ID, "message").text)

        # A character the model does not know is saved only once the person confirms it (Enter again).
        press_ctrl("a")
        type_keys("Z#9Q", Keys.ENTER)
        wait_for(browser, lambda d: "Enter again" in d.find_element(By.ID, "message").text)
        assert '"#"' in browser.find_element(By.ID, "message").text
        assert read_labels_csv(folder / "labels.csv") == [(first["file"], "Zz9Q")]
        type_keys(Keys.ENTER)
        wait_for(browser, lambda d: progress().startswith("2 / 5"))
        assert dict(read_labels_csv(folder / "labels.csv"))[second["file"]] == "Z#9Q"
        press_ctrl("z")
        wait_for(browser, lambda d: progress().startswith("1 / 5"))

        # Reload: the same state, from the server.
        browser.refresh()
        wait_for(browser, lambda d: progress().startswith("1 / 5"))
        assert box().get_attribute("value") == second["text"]
    # Kill and restart: labels.csv holds what was saved, and the queue resumes after it.
    with Server("--model", smoke_run, "--label-folder", folder, cwd=workdir) as server:
        state = web.get(server.url + "/v1/label/state").json()
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
        expected = web.get(server.url + "/v1/label/state").json()["train_command"]
        assert command.text == expected and f"--label-folder {folder}" in expected and "-20-labels" in expected


ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>attacking</title>
<body><script>
// What a page on another origin can send to the labeling server without asking (no preflight).
const target = "%(target)s", file = "%(file)s";
const label = `${target}/v1/label/images/${encodeURIComponent(file)}`;
const writes = [
  () => fetch(`${target}/v1/label/undo`, {method: "POST", mode: "no-cors"}),
  () => fetch(`${target}/v1/label/undo`, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                           body: "{}"}),
  () => fetch(label, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                      body: JSON.stringify({text: "HACK"})}),
  () => fetch(`${target}/v1/label/skip`, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                           body: JSON.stringify({file})}),
  () => fetch(label, {method: "POST", headers: {"Content-Type": "application/json"},  // needs a preflight
                      body: JSON.stringify({text: "HACK"})}),
  () => Promise.resolve(navigator.sendBeacon(`${target}/v1/label/undo`, new Blob(["{}"], {type: "text/plain"}))),
  () => Promise.resolve(navigator.sendBeacon(label, JSON.stringify({text: "HACK"}))),
];
function form(action, enctype, fields) {  // a form posted into a hidden frame
  const frame = document.createElement("iframe"), f = document.createElement("form");
  frame.name = "f" + Math.random().toString(36).slice(2);
  frame.style.display = "none";
  document.body.append(frame);
  Object.assign(f, {method: "POST", action, enctype, target: frame.name});
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    Object.assign(input, {type: "hidden", name, value});
    f.append(input);
  }
  document.body.append(f);
  f.submit();
}
(async () => {
  for (const write of writes) { try { await write(); } catch (e) {} }
  form(`${target}/v1/label/undo`, "text/plain", {"{}": ""});
  form(label, "text/plain", {'{"text": "HACK", "x": "': '"}'});
  form(`${target}/v1/label/skip`, "application/x-www-form-urlencoded", {file});
  setTimeout(() => { document.title = "done"; }, 1500);
})();
</script>"""


def test_a_page_on_another_port_cannot_write(browser, smoke_run, generated_folder, workdir, tmp_path):
    """Each cross-site write a page can send without a preflight, from a page on a second local port."""
    import http.server
    import threading

    from captcha_ocr.core.machine import free_port

    folder = tmp_path / "to-label"
    folder.mkdir()
    for i, f in enumerate(sorted(generated_folder.glob("*.png"))[:5]):
        shutil.copy(f, folder / f"c{i}.png")
    with Server("--model", smoke_run, "--label-folder", folder, cwd=workdir) as server:
        for text in ("Ab12", "Cd34"):  # two labels the page could undo
            file = web.get(server.url + "/v1/label/state").json()["item"]["file"]
            assert web.post(f"{server.url}/v1/label/images/{file}", json={"text": text}).status_code == 200
        before = (folder / "labels.csv").read_bytes()
        state = web.get(server.url + "/v1/label/state").json()
        page = (ATTACK_PAGE % {"target": server.url, "file": state["item"]["file"]}).encode()

        class Attacker(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        other = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Attacker)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            browser.get(f"http://127.0.0.1:{other.server_port}/")
            wait_for(browser, lambda d: d.title == "done")
        finally:
            other.shutdown()
            other.server_close()
        assert (folder / "labels.csv").read_bytes() == before
        assert web.get(server.url + "/v1/label/state").json() == state  # nothing skipped or undone
        log = server.output()
    # The writes reached the server and were refused (the preflighted one never left the browser).
    for route in ("/v1/label/undo", "/v1/label/images/", "/v1/label/skip"):
        assert f"refused POST {route}" in log, (route, log[-3000:])
    assert log.count("refused POST") >= 8


def test_the_page_carries_the_token(browser, smoke_run, generated_folder, workdir, tmp_path):
    """With --token, the page opened as /label#token=TOKEN sends it with every request (images included);
    opened without it, it says what to do."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    token = "page-token-0123456789abcdef"
    folder = tmp_path / "to-label"
    folder.mkdir()
    for i, f in enumerate(sorted(generated_folder.glob("*.png"))[:3]):
        shutil.copy(f, folder / f"c{i}.png")
    with Server("--model", smoke_run, "--label-folder", folder, "--token", token, cwd=workdir) as server:
        browser.get(server.url + "/label")
        wait_for(browser, lambda d: "token" in d.find_element(By.ID, "message").text)
        browser.get(server.url + f"/label#token={token}")
        wait_for(browser, lambda d: d.find_element(By.ID, "progress").text.startswith("0 / 3"))
        assert "token" not in browser.current_url  # taken out of the address bar
        wait_for(browser, lambda d: d.execute_script(
            "const i = document.getElementById('captcha'); return i.complete && i.naturalWidth > 0;"))
        ActionChains(browser).send_keys("Ab12", Keys.ENTER).perform()
        wait_for(browser, lambda d: d.find_element(By.ID, "progress").text.startswith("1 / 3"))
        assert [label for _, label in read_labels_csv(folder / "labels.csv")] == ["Ab12"]
