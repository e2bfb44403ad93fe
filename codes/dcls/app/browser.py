"""Use the page of ``dcls-app`` in a real browser: start the app, drive headless Chromium (Selenium with the
system's ``chromium`` and ``chromedriver``) as a person would, read back what the page shows. Used by the
project's end-to-end test and by ``scripts/app_screenshot.py``; every wait is bounded in time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars")
"""Headless, offline and container-safe: no sandbox (root in CI), no background downloads or updates."""


@dataclass(frozen=True)
class Browser:
    """Where the browser and its driver are."""

    chromium: str
    chromedriver: str


def find_browser() -> Browser | None:
    """Chromium and chromedriver on PATH (Debian: ``apt-get install chromium chromium-driver``), else None."""
    chromium = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return Browser(chromium, driver) if chromium and driver else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.25) -> Any:
    """The first truthy value of ``condition()`` within ``timeout_s``, else TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(poll_s)


def fetch(url: str, timeout_s: float = 30) -> bytes:
    """The body of a GET request (the page's server only)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.read()


def _answers(url: str) -> bool:
    try:
        fetch(url, timeout_s=2)
    except OSError:
        return False
    return True


@contextmanager
def running_app(app_args: Sequence[str], timeout_s: float = 180, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m dcls.app APP_ARGS --port P`` on 127.0.0.1 until the block ends; yields the page's URL.

    Its output goes to a log file that is quoted in the error if it exits or does not answer in ``timeout_s``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "dcls.app", *app_args, "--host", "127.0.0.1",
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)

        def ready() -> bool:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"dcls-app exited with status {process.returncode}:\n{log.read()[-3000:]}")
            return _answers(url)

        try:
            try:
                wait_until(ready, timeout_s, f"dcls-app on {url}", poll_s=0.5)
            except TimeoutError as exc:
                log.seek(0)
                raise TimeoutError(f"{exc}\n{log.read()[-3000:]}") from None
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


@contextmanager
def headless_chromium(browser: Browser, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Selenium WebDriver for headless Chromium with a fresh, empty profile, closed at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser.chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    with tempfile.TemporaryDirectory(prefix="dcls-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(browser.chromedriver), options=options)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()


@dataclass(frozen=True)
class PageImage:
    """An image the page shows: its URL and its size in pixels."""

    url: str
    width: int
    height: int


class AppPage:
    """The page of ``dcls-app`` in a browser, by the element ids :mod:`dcls.app.page` gives its parts."""

    def __init__(self, driver: Any, url: str, timeout_s: float = 120) -> None:
        self.driver = driver
        self.timeout_s = timeout_s
        driver.get(url)
        self._wait(lambda: self._all("#upload input[type=file]"), "the upload field")

    def _all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def _wait(self, condition: Callable[[], Any], what: str) -> Any:
        return wait_until(condition, self.timeout_s, what)

    def upload(self, path: str | os.PathLike) -> None:
        """Pick ``path`` in the upload field (removing the file picked before, as a person would)."""
        for clear in self._all("#upload button[aria-label='Clear']"):
            clear.click()
        field = self._wait(lambda: self._all("#upload input[type=file]"), "the upload field")
        field[0].send_keys(str(Path(path).resolve()))

    def set_tile(self, pixels: int) -> None:
        """Type a tile size into the slider's number box."""
        from selenium.webdriver.common.keys import Keys

        box = self._wait(lambda: self._all("#tile input[type=number]"), "the tile box")[0]
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(str(pixels), Keys.TAB)

    def set_ensemble(self, on: bool) -> None:
        box = self._wait(lambda: self._all("#ensemble input[type=checkbox]"), "the ensemble switch")[0]
        if box.is_selected() != on:
            box.click()

    def run(self) -> None:
        """Press "Super-resolve"."""
        self._all("#run")[0].click()

    def summary(self, containing: str) -> str:
        """The line under the comparison once it mentions ``containing`` (a file name)."""
        return self._wait(lambda: next((e.text for e in self._all("#summary") if containing in e.text), None),
                          f"a result for {containing}")

    def _images(self, css: str, count: int) -> list[PageImage]:
        def loaded() -> list[PageImage] | None:
            found = [PageImage(e.get_attribute("src"), int(e.get_attribute("naturalWidth") or 0),
                               int(e.get_attribute("naturalHeight") or 0)) for e in self._all(css)]
            return found if len(found) == count and all(i.width for i in found) else None

        return self._wait(loaded, f"{count} image(s) in {css}")

    def comparison(self) -> tuple[PageImage, PageImage]:
        """The two images of the comparison slider: (input, enlarged; SR result)."""
        before, after = self._images("#compare img", 2)
        return before, after

    def kernel_picture(self) -> PageImage:
        return self._images("#kernel img", 1)[0]

    def drag_comparison(self, fraction: float) -> float:
        """Drag the slider's handle to ``fraction`` of the image's width; returns the fraction of the width
        (from the left) where the SR image now starts to show (its clip-path)."""
        from selenium.webdriver.common.action_chains import ActionChains

        handle = self._wait(lambda: self._all("#compare [data-testid=slider]"), "the comparison handle")[0]
        image = self._all("#compare img")[-1]
        offset = int(image.size["width"] * fraction) - (handle.location["x"] - image.location["x"])
        ActionChains(self.driver).click_and_hold(handle).move_by_offset(offset, 0).release().perform()
        return self._clip_left()

    def _clip_left(self) -> float:
        """The left inset of the SR image of the comparison, as a fraction of its width."""
        style = self._all("#compare img")[-1].get_attribute("style") or ""
        inset = style.split("clip-path: inset(", 1)[1].split(")", 1)[0].split()
        return float(inset[3].rstrip("%")) / 100 if inset[3].endswith("%") else float("nan")

    def download_url(self, name: str) -> str:
        """The link of the PNG to download, once it is the file ``name``."""
        return self._wait(lambda: next((a.get_attribute("href") for a in self._all("#download a")
                                        if name in (a.get_attribute("href") or "")), None), f"the link to {name}")

    def error(self) -> str:
        """The text of the error message the page shows."""
        return self._wait(lambda: next((e.text for e in self._all(".toast-message-text") if e.text), None),
                          "an error message")

    def screenshot(self) -> bytes:
        """The browser window as PNG bytes."""
        return self.driver.get_screenshot_as_png()
