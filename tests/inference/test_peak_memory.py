"""Tiled inference must need less memory than whole-image inference: peak resident memory of a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs inference.py's main twice in one fresh interpreter: tiled first, then whole-image. The peak resident
# set size only grows, so a larger reading after the whole-image run proves that run needed more memory
# than the tiled one did (which also paid for the one-time start-up allocations). The peak is the process
# image's own (VmHWM): getrusage's ru_maxrss would also count the pytest process it was forked from.
_CHILD = """
import json, re, sys
from pathlib import Path
from dcls.inference.cli import main
common, tiled_dir, whole_dir, tile = json.loads(sys.argv[1])
def peak_mib():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024
codes = [main(common + ["--output", tiled_dir, "--tile", str(tile), "--tile_overlap", "16", "--tile_batch", "1"])]
tiled = peak_mib()
codes.append(main(common + ["--output", whole_dir]))
print(json.dumps({"codes": codes, "tiled": tiled, "whole": peak_mib()}))
"""


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from Linux's /proc")
def test_tiled_run_agrees_with_whole_image_at_lower_peak_memory(tmp_path, make_photo, tiny_checkpoint, tiny_args):
    src = tmp_path / "photo.png"
    assert cv2.imwrite(str(src), make_photo(1024, 1024))
    common = ["--checkpoint", str(tiny_checkpoint), *tiny_args, "--input", str(src), "--device", "cpu"]
    job = [common, str(tmp_path / "tiled"), str(tmp_path / "whole"), 96]
    path = os.pathsep.join(filter(None, [str(REPO / "codes"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    result = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True,
                            timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0]
    tiled = cv2.imread(str(tmp_path / "tiled" / "photo_x4.png"))
    whole = cv2.imread(str(tmp_path / "whole" / "photo_x4.png"))
    assert tiled.shape == whole.shape == (4096, 4096, 3)
    assert _psnr(tiled, whole) >= 40.0
    saved = report["whole"] - report["tiled"]
    print(f"peak RSS: tiled {report['tiled']:.0f} MiB, whole image {report['whole']:.0f} MiB")
    assert saved > 100, f"peak RSS: tiled {report['tiled']:.0f} MiB, whole image {report['whole']:.0f} MiB"
