"""``dcls-app`` used in a real browser (headless Chromium) as a person would: upload a photo, compare with the
slider, read the kernel picture, download the PNG, run again with tiles and the ensemble, upload a corrupt file.

Needs Chromium, chromedriver, Selenium and Gradio: ``.ci/run`` installs them, and under CI their absence fails
the test instead of skipping it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from dcls import BlindSR
from dcls.app.browser import AppPage, fetch, find_browser, headless_chromium, running_app
from dcls.inference.cli import main as dcls_sr

REPO = Path(__file__).resolve().parents[2]
TINY_SIZES = {"nf": 16, "nb": 1, "ng": 1, "input_para": 16}


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.slow
def test_the_page_in_chromium(capsys, tmp_path, make_photo, tiny_checkpoint, tiny_args, missing):
    for module in ("gradio", "selenium"):
        if importlib.util.find_spec(module) is None:
            missing(f"the Python package {module}")
    browser = find_browser()
    if browser is None:
        missing("chromium and chromedriver")

    photo = tmp_path / "holiday.png"
    cv2.imwrite(str(photo), make_photo(40, 52, 3))
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    assert dcls_sr(["--checkpoint", str(tiny_checkpoint), *tiny_args, "--input", str(photo), "--output",
                    str(tmp_path / "cli"), "--device", "cpu"]) == 0
    capsys.readouterr()
    cli_png = cv2.imread(str(tmp_path / "cli" / "holiday_x4.png"), cv2.IMREAD_UNCHANGED)
    kernel_picture = BlindSR.from_checkpoint(tiny_checkpoint, 4, device="cpu", **TINY_SIZES).upscale(
        photo).kernel_picture()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "codes"), os.environ.get(
        "PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
    app_args = ["--checkpoint", str(tiny_checkpoint), *tiny_args, "--device", "cpu"]
    with running_app(app_args, env=env) as url, headless_chromium(browser) as driver:
        page = AppPage(driver, url)
        page.upload(photo)
        assert "52x40 -> 208x160 (x4)" in page.summary("holiday.png")

        before, after = page.comparison()
        assert (before.width, before.height) == (after.width, after.height) == (208, 160)
        assert np.array_equal(_decode(fetch(before.url))[:, :, :3], np.repeat(np.repeat(cv2.imread(str(photo)), 4,
                                                                                         0), 4, 1))
        assert np.array_equal(_decode(fetch(after.url))[:, :, :3], cli_png)
        assert 0.2 < page.drag_comparison(0.25) < 0.3  # the handle moved: the SR side now starts at a quarter

        kernel = page.kernel_picture()
        assert (kernel.width, kernel.height) == (168, 168)
        assert np.array_equal(_decode(fetch(kernel.url))[:, :, 2::-1], kernel_picture)

        download = page.download_url("holiday_x4.png")
        assert np.array_equal(_decode(fetch(download)), cli_png)

        page.set_tile(32)
        page.set_ensemble(True)
        page.run()
        assert "tiles of 32 px, self-ensemble" in page.summary("tiles of 32")

        page.upload(corrupt)
        message = page.error()
        assert "cannot decode image broken.jpg" in message and "\n" not in message.strip()
        assert not driver.find_elements("css selector", "#compare img"), "the last result is no longer shown"
        assert _decode(page.screenshot()).shape[:2] == tuple(driver.execute_script(
            "return [window.innerHeight, window.innerWidth]"))
