"""The ``stylecap serve`` page in a real browser: headless Chromium driven by Selenium.

Upload a photo, pick a style from the gallery, run AdaIN with a caption, see the result and the captions, and
take a screenshot. Skips (saying why) without selenium, Chromium or its driver (Debian: ``apt-get install
chromium chromium-driver``; ``STYLECAP_CHROMIUM`` / ``STYLECAP_CHROMEDRIVER`` name other binaries).
``STYLECAP_SERVE_SCREENSHOT=path.png`` also saves the screenshot there (docs/images/serve-page.png comes from it).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")
pytest.importorskip("python_multipart", reason="the serve extra is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from stylecap_cli.serve.app import BackgroundServer, Limits, create_app  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"
CHROMIUM = os.environ.get("STYLECAP_CHROMIUM") or next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"))), None
)
DRIVER = os.environ.get("STYLECAP_CHROMEDRIVER") or shutil.which("chromedriver")
if not CHROMIUM or not DRIVER:
    pytest.skip(
        "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)", allow_module_level=True
    )


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1360,1120",
        "--force-device-scale-factor=1",
        "--lang=en-GB",
        "--force-prefers-reduced-motion",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path):
    app = create_app(workdir=tmp_path / "work", limits=Limits(max_size=160), examples=EXAMPLES)
    with BackgroundServer(app) as running:
        yield running


def test_restyle_and_caption_in_the_page(browser, server, tmp_path):
    photo = tmp_path / "my-cat.jpg"
    Image.open(EXAMPLES / "chelsea.jpg").convert("RGB").resize((192, 128)).save(photo, quality=92)
    start = time.monotonic()
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")

    # the photo: uploaded; the style: from the gallery of examples
    browser.find_element(By.ID, "content-input").send_keys(str(photo))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#content-drop .drop-hint strong").text == "my-cat.jpg")
    browser.find_element(By.CSS_SELECTOR, '#style-examples button[data-name="swirls.jpg"]').click()
    wait.until(
        lambda d: d.find_element(By.CSS_SELECTOR, '#style-examples button[data-name="swirls.jpg"]')
        .get_attribute("aria-pressed") == "true"
    )  # fmt: skip

    # the backends and their main options
    Select(browser.find_element(By.ID, "style-backend")).select_by_value("adain")
    wait.until(lambda d: d.find_elements(By.ID, "style-opt-alpha"))
    browser.execute_script(
        "const s = document.getElementById('style-opt-alpha'); s.value = '0.8';s.dispatchEvent(new Event('input'));"
    )
    Select(browser.find_element(By.ID, "caption-backend")).select_by_value("seqgan")
    wait.until(lambda d: d.find_elements(By.ID, "caption-opt-num_captions"))
    Select(browser.find_element(By.ID, "caption-opt-tone")).select_by_value("cheerful")
    count = browser.find_element(By.ID, "caption-opt-num_captions")
    count.clear()
    count.send_keys("2")

    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.ID, "caption").text.strip())
    result = browser.find_element(By.ID, "result-img")
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", result))
    assert result.get_attribute("src").endswith("/result")
    assert browser.execute_script("return arguments[0].naturalWidth", result) == 160  # shrunk to max_size
    assert browser.find_element(By.ID, "original-img").get_attribute("src").startswith("blob:")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#more-captions li")) == 1  # two captions in all
    assert "adain + seqgan" in browser.find_element(By.ID, "meta").text
    assert browser.find_element(By.ID, "download").get_attribute("href").endswith("/result?download=1")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history .card")) == 1)

    # what the page sent, as the API recorded it
    (job,) = server.server.config.app.state.runner.jobs()
    assert job.options("style") == {"alpha": 0.8}
    assert job.options("caption") == {"tone": "cheerful", "num_captions": 2}
    assert job.content_name == "my-cat.jpg" and job.style_names == ["swirls.jpg"]

    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "serve-page.png"
    assert browser.save_screenshot(str(shot))
    assert Image.open(shot).size[0] >= 1300
    if os.environ.get("STYLECAP_SERVE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["STYLECAP_SERVE_SCREENSHOT"])
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    assert time.monotonic() - start < 60
