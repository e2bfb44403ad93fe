"""Make the README's picture of the web page (figs/app.png): start ``dcls-app`` on the demo model, open it in
headless Chromium, upload a demo test image, drag the comparison slider and take a screenshot.
``python scripts/app_screenshot.py [-opt options/demo/test_demo_x4.yml] [--image LR.png] [--output figs/app.png]``
(after ``bash demo.sh``; needs the app extra and the system's chromium and chromedriver)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dcls.app.browser import AppPage, find_browser, headless_chromium, running_app
from dcls.utils.image_io import atomic_write_bytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-opt", "--opt", default="options/demo/test_demo_x4.yml", help="the model's options file")
    parser.add_argument("--image", default="demo_data/test/Gaussian8/LRblur/x4/sig2.6_astronaut.png",
                        help="the image to upload")
    parser.add_argument("--output", default="figs/app.png", help="the PNG to write")
    parser.add_argument("--size", type=int, nargs=2, default=(1280, 1000), metavar=("WIDTH", "HEIGHT"),
                        help="browser window in pixels")
    args = parser.parse_args(argv)
    browser = find_browser()
    image = Path(args.image)
    if browser is None or not image.is_file() or not Path(args.opt).is_file():
        missing = "chromium and chromedriver" if browser is None else f"{image} or {args.opt} (run bash demo.sh)"
        print(f"app_screenshot: error: {missing} not found", file=sys.stderr)
        return 1
    with running_app(["-opt", args.opt, "--device", "cpu"]) as url, headless_chromium(browser, *args.size) as driver:
        page = AppPage(driver, url)
        page.upload(image)
        page.summary(image.name)
        page.comparison()
        page.kernel_picture()
        page.drag_comparison(0.4)
        atomic_write_bytes(args.output, page.screenshot())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
