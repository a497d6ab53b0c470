"""The built documentation site, opened in headless Chromium: pages render, plots load.

Needs the site (``bash scripts/docs.sh`` builds ``docs/_build/html``), Debian's ``chromium``
and ``chromium-driver`` (``apt-get install chromium chromium-driver``; ``.ci/run`` installs
them) and selenium (the ``test`` extra). Without them the test skips and says which is missing;
with ``GRAFX_REQUIRE_BROWSER=1`` (set by ``.ci/run``) it fails instead, so CI cannot pass by
skipping.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
)
#: Pages checked: the entry page, an API page and a gallery page with its plots.
PAGES = ("index.html", "api/grafx.processors.filter.html", "gallery/filters.html")


def _missing() -> str | None:
    if not (SITE / "index.html").is_file():
        return f"the site is not built ({SITE}): run bash scripts/docs.sh"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"{path} not found: apt-get install {package}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the test extra)"
    return None


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("GRAFX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GRAFX_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="grafx-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


IMAGES = """
return Array.from(document.images).map(
    (img) => [img.getAttribute("src"), img.complete, img.naturalWidth, img.naturalHeight]);
"""


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_console_errors(server, browser, page):
    browser.get(f"{server}/{page}")
    assert browser.execute_script("return document.readyState") == "complete"
    title = browser.title
    assert "grafx" in title, f"{page}: title {title!r}"
    body = browser.find_element("css selector", "div.body").text
    assert len(body) > 200, f"{page}: the page body is nearly empty ({len(body)} characters)"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], f"{page}: console errors {errors}"
    images = browser.execute_script(IMAGES)
    broken = [src for src, complete, width, height in images if not (complete and width > 0)]
    assert broken == [], f"{page}: images that did not load: {broken}"
    if page.startswith("gallery/"):
        plots = [
            (src, w, h) for src, _, w, h in images if "plot_directive" in src or "_images" in src
        ]
        assert plots, f"{page}: no plot image"
        assert all(w >= 300 and h >= 150 for _, w, h in plots), f"{page}: tiny plots {plots}"


def test_api_page_documents_the_filters(server, browser):
    browser.get(f"{server}/api/grafx.processors.filter.html")
    ids = browser.execute_script(
        "return Array.from(document.querySelectorAll('dt[id]')).map((d) => d.id);"
    )
    assert "grafx.processors.filter.LowPassFilter" in ids
    assert "grafx.processors.filter.BiquadFilter" in ids
