"""docs/extending.md's complete example, run as written: a plug-in module outside the package (an estimator,
losses with keyword arguments, a degradation) named in ``custom_imports`` trains with ``codes/train.py`` and
tests with ``codes/test.py``; every loss term is logged by name; ``--no-accel`` gives the same PSNR."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "extending.md"
BLOCK = re.compile(r"```(?:python|yaml)\n# file: (\S+)\n(.*?)```", re.DOTALL)


def doc_files() -> dict[str, str]:
    """The files of the example: each fenced block of the page that starts with ``# file: <name>``."""
    return {name: f"# file: {name}\n{body}" for name, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))}


def _run(script: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``codes/<script>`` in ``folder``: the plug-in module is found in the working directory (it is not on
    PYTHONPATH, which holds only the package)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "codes"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO / "codes" / script), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def _log(folder: Path, pattern: str) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob(pattern)))


@pytest.fixture(scope="module")
def example(engine_data, tmp_path_factory) -> Path:
    """The example's files in a fresh folder outside the repository, trained for a few iterations on the tiny
    data (the data paths and the length of the run overridden on the command line)."""
    folder = tmp_path_factory.mktemp("plugin_user")
    files = doc_files()
    assert set(files) == {"my_dcls_plugins.py", "train_plugins_x4.yml", "test_plugins_x4.yml"}
    for name, text in files.items():
        (folder / name).write_text(text)
    data = [f"datasets.train.dataroot_GT={engine_data.train_lmdb}", "datasets.train.GT_size=84",
            "datasets.train.batch_size=2", "datasets.train.n_workers=0",
            f"datasets.val.dataroot_GT={engine_data.g8_hr_lmdb}", f"datasets.val.dataroot_LQ={engine_data.g8_lr_lmdb}"]
    run = _run("train.py", folder, "-opt", "train_plugins_x4.yml", "--device", "cpu", "--set", *data,
               "train.niter=4", "train.val_freq=4", "logger.print_freq=2", "logger.save_checkpoint_freq=4",
               "use_tb_logger=false")
    assert run.returncode == 0, run.stderr[-3000:]
    return folder


def test_the_plugins_train_with_every_loss_term_logged_by_name(example: Path) -> None:
    log = _log(example / "experiments" / "plugins_demo_x4", "train_*.log")
    assert "loss terms: l1 = 1 x L1Loss, edge = 0.5 x EdgeLoss, kernel_correction = 1 x KernelCorrectionLoss, " \
           "kernel_centre = 0.01 x KernelCentreLoss; degradation BoxBlurDegradation" in log
    logged = [line for line in log.splitlines() if "iter:" in line]
    assert len(logged) == 2
    for line in logged:
        for name in ("l1", "edge", "kernel_correction", "kernel_centre"):
            assert re.search(rf" {name}: \d\.\d+e[-+]\d+", line), (name, line)
    assert (example / "experiments" / "plugins_demo_x4" / "models" / "latest_G.pth").is_file()
    dumped = yaml.safe_load((example / "experiments" / "plugins_demo_x4" / "options.yml").read_text())
    assert dumped["custom_imports"] == ["my_dcls_plugins"]
    assert dumped["network_G"]["setting"]["estimator"] == {"type": "SoftmaxEstimator", "nf": 16}


def test_the_plugins_test_with_and_without_the_speed_ups_alike(example: Path, engine_data) -> None:
    data = [f"datasets.test1.dataroot_GT={engine_data.g8_hr_lmdb}",
            f"datasets.test1.dataroot_LQ={engine_data.g8_lr_lmdb}", "datasets.test1.n_workers=0"]
    psnr, logs = {}, {}
    for label, extra in (("accel", []), ("reference", ["--no-accel"])):
        run = _run("test.py", example, "-opt", "test_plugins_x4.yml", "--device", "cpu", *extra, "--set", *data,
                   f"name=plugins_{label}")
        assert run.returncode == 0, run.stderr[-3000:]
        results = example / "results" / f"plugins_{label}"
        psnr[label] = json.loads((results / "metrics.json").read_text())["sets"]["demo_Gaussian8"]["average"]["psnr_y"]
        logs[label] = _log(results, "test_*.log")
    assert abs(psnr["accel"] - psnr["reference"]) < 1e-3, psnr
    assert re.search(r"speed-ups for inference on cpu: 1 CLS -> PooledCLS, 4 DPCAB -> FusedDPCAB, "
                     r"2 DPCAG -> InPlaceDPCAG, 1 Sequential -> FoldedUpsampler", logs["accel"]), logs["accel"]
    assert "speed-ups off: the reference network runs as written" in logs["reference"]
    assert "speed-ups for" not in logs["reference"]


def test_a_plugin_module_that_fails_to_import_is_a_one_line_error(example: Path, tmp_path: Path) -> None:
    options = (example / "test_plugins_x4.yml").read_text().replace("[my_dcls_plugins]", "[no_such_plugins]")
    (example / "missing_plugin.yml").write_text(options)
    run = _run("test.py", example, "-opt", "missing_plugin.yml")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: custom_imports: cannot import 'no_such_plugins' (ModuleNotFoundError: No module named "
        "'no_such_plugins')"]
