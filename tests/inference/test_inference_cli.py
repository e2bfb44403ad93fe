"""inference.py end to end on a folder of awkward files, with a tiny random-weight checkpoint."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from dcls.app.cli import build_parser as app_parser
from dcls.engine.cli import _overrides as engine_overrides
from dcls.engine.cli import test_parser as engine_test_parser
from dcls.engine.cli import train_parser as engine_train_parser
from dcls.inference.cli import build_parser as sr_parser
from dcls.inference.cli import main
from dcls.inference.model_loading import spec_from_namespace
from dcls.reports.kernel_report import build_parser as kernel_parser

REPO = Path(__file__).resolve().parents[2]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_of_mixed_images(capsys, tmp_path, image_folder, tiny_checkpoint, tiny_args):
    before = _digests(image_folder)
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "-input_dir", image_folder,
                          "-output_dir", out_dir, "--device", "cpu", "--save_kernel")
    assert code == 1  # the corrupt file fails the run, after the others are written
    assert "corrupt.png" in err and "4 of 5 images written" in out
    assert "5/5" in err, "a progress bar over the images"
    written = {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in out_dir.iterdir()}
    expected = {"photo_x4.png": ((480, 672, 3), np.uint8), "grey_x4.png": ((160, 208), np.uint8),
                "rgba_x4.png": ((112, 144, 4), np.uint8), "deep16_x4.png": ((128, 176, 3), np.uint16)}
    for name, (shape, dtype) in expected.items():
        assert written[name].shape == shape and written[name].dtype == dtype, name
        kernel_png = written[name.replace(".png", "_kernel.png")]
        assert kernel_png.ndim == 3 and kernel_png.shape[0] == kernel_png.shape[1] >= 21
    assert not any(name.startswith("corrupt") for name in written)
    assert _digests(image_folder) == before


def test_alpha_upscaled_separately_and_grey_stays_grey(capsys, tmp_path, image_folder, tiny_checkpoint, tiny_args):
    out_dir = tmp_path / "out"
    _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", image_folder / "rgba.png",
         image_folder / "grey.png", image_folder / "deep16.png", "--output", out_dir, "--device", "cpu")
    alpha_in = cv2.imread(str(image_folder / "rgba.png"), cv2.IMREAD_UNCHANGED)[:, :, 3]
    alpha_out = cv2.imread(str(out_dir / "rgba_x4.png"), cv2.IMREAD_UNCHANGED)[:, :, 3]
    # A horizontal ramp stays a horizontal ramp: every row equal, increasing from left to right.
    assert np.all(alpha_out == alpha_out[:1])
    assert alpha_out[0, 0] <= 8 and alpha_out[0, -1] >= 247 and np.all(np.diff(alpha_out[0].astype(int)) >= -1)
    assert alpha_in.shape[1] * 4 == alpha_out.shape[1]
    grey = cv2.imread(str(out_dir / "grey_x4.png"), cv2.IMREAD_UNCHANGED)
    assert grey.ndim == 2 and grey.std() > 0
    deep = cv2.imread(str(out_dir / "deep16_x4.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and np.any(deep % 257 != 0)  # real 16-bit values, not 8-bit scaled up


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with an EXIF APP1 segment holding only the orientation tag (as cameras write it)."""
    ifd = struct.pack(">HHHIHH", 1, 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00*" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_camera_orientation_is_applied(capsys, tmp_path, make_photo, tiny_checkpoint, tiny_args):
    """A photo stored sideways with EXIF orientation 6 comes out upright, as viewers show the input."""
    ok, jpeg = cv2.imencode(".jpg", make_photo(24, 36))
    assert ok
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "sideways.jpg").write_bytes(_with_exif_orientation(jpeg.tobytes(), 6))
    upright = cv2.rotate(cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED), cv2.ROTATE_90_CLOCKWISE)
    cv2.imwrite(str(folder / "upright.png"), upright)
    code, _, _ = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", folder,
                      "--output", tmp_path / "out", "--device", "cpu")
    assert code == 0
    sideways = cv2.imread(str(tmp_path / "out" / "sideways_x4.png"))
    assert sideways.shape == (144, 96, 3)
    assert np.array_equal(sideways, cv2.imread(str(tmp_path / "out" / "upright_x4.png")))


def test_output_beside_inputs_never_overwrites_them(capsys, image_folder, tiny_checkpoint, tiny_args):
    (image_folder / "corrupt.png").unlink()
    before = _digests(image_folder)
    code, _, _ = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", image_folder,
                      "--output", image_folder, "--device", "cpu", "--save_kernel")
    assert code == 0
    after = _digests(image_folder)
    assert {k: after[k] for k in before} == before
    assert {"photo_x4.png", "photo_x4_kernel.png", "grey_x4.png"} <= set(after)


def test_refuses_when_an_output_would_replace_an_input(capsys, tmp_path, make_photo, tiny_checkpoint, tiny_args):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), make_photo(20, 20))
    cv2.imwrite(str(folder / "a_x4.png"), make_photo(20, 20, seed=1))
    before = _digests(folder)
    code, _, err = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", folder,
                        "--output", folder, "--device", "cpu")
    assert code == 2 and "refusing to overwrite" in err and "a_x4.png" in err
    assert _digests(folder) == before


def test_same_stem_inputs_get_distinct_outputs(capsys, tmp_path, make_photo, tiny_checkpoint, tiny_args):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), make_photo(20, 20))
    cv2.imwrite(str(folder / "a.bmp"), make_photo(24, 20, seed=1))
    code, _, _ = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", folder,
                      "--output", tmp_path / "out", "--device", "cpu")
    assert code == 0
    shapes = sorted(cv2.imread(str(p)).shape for p in (tmp_path / "out").iterdir())
    assert shapes == [(80, 80, 3), (96, 80, 3)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpoint", "missing.pth", "--scale", "4"], "missing.pth: checkpoint not found"),
        ([], "give -opt"),
        (["--checkpoint", "{ckpt}", "--scale", "4"], "checkpoint is x4 setting 1 (kernel 21), nf 16, nb 1, ng 1"),
        (["--checkpoint", "{ckpt}", "--scale", "4", "--setting", "2", "--nf", "16"], "kernel size differs"),
        (["--checkpoint", "{ckpt}", "--scale", "4", "--device", "tpu"], "'tpu' is not one of cpu, cuda"),
        (["--checkpoint", "{ckpt}", "--scale", "4", "--device", "cuda:x"], "expected cpu, cuda or cuda:N"),
        (["--checkpoint", "{ckpt}", "--scale", "3", "--setting", "2"], "setting 2 has no x3 model"),
        (["--checkpoint", "{ckpt}", "--scale", "4", "--tile", "8"], "--tile must be 0"),
        (["--checkpoint", "{ckpt}", "--scale", "4", "--tile", "32", "--tile_overlap", "32"], "--tile_overlap"),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys, image_folder, tiny_checkpoint, extra, message):
    argv = [a.replace("{ckpt}", str(tiny_checkpoint)) for a in extra]
    device = [] if "--device" in argv else ["--device", "cpu"]
    code, _, err = _run(capsys, *argv, "--input", image_folder, *device)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cuda_request_without_cuda_is_an_error(capsys, image_folder, tiny_checkpoint, tiny_args, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    code, _, err = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", image_folder,
                        "--device", "cuda")
    assert code == 2 and "CUDA is not available" in err


def test_options_file_sets_the_network(capsys, tmp_path, image_folder, tiny_checkpoint):
    opt = {
        "name": "tiny", "scale": 4, "gpu_ids": [0],
        "datasets": {"test1": {"name": "Set5", "mode": "LQGT", "dataroot_GT": "/nowhere/HR", "dataroot_LQ": "/x"}},
        "network_G": {"which_model_G": "DCLS",
                      "setting": {"nf": 16, "nb": 1, "ng": 1, "input_para": 16, "kernel_size": 21}},
        "path": {"pretrain_model_G": str(tiny_checkpoint)},
    }
    opt_file = tmp_path / "tiny.yml"
    opt_file.write_text(yaml.safe_dump(opt))
    out_dir = tmp_path / "out"
    code, _, _ = _run(capsys, "-opt", opt_file, "--input", image_folder / "grey.png", "--output", out_dir,
                      "--device", "cpu")
    assert code == 0 and cv2.imread(str(out_dir / "grey_x4.png"), cv2.IMREAD_UNCHANGED).shape == (160, 208)
    code, _, err = _run(capsys, "-opt", opt_file, "--scale", "2", "--input", image_folder, "--device", "cpu")
    assert code == 2 and "without -opt" in err


def test_entry_point_script(tmp_path, image_folder, tiny_checkpoint, tiny_args):
    """``python codes/inference.py`` is a thin wrapper with the same exit codes."""
    out_dir = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(REPO / "codes" / "inference.py"), "--checkpoint", str(tiny_checkpoint), *tiny_args,
         "-input_dir", str(image_folder / "grey.png"), str(image_folder / "corrupt.png"),
         "-output_dir", str(out_dir), "--device", "cpu"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "corrupt.png" in result.stderr and (out_dir / "grey_x4.png").is_file()


def test_no_accel_runs_the_reference_network_and_the_log_says_which_ran(capsys, tmp_path, make_photo,
                                                                         tiny_checkpoint, tiny_args):
    """``--no-accel``: the same pixels within rounding (at most one level); the screen log names the speed-ups
    swapped in, or says that the reference network runs as written."""
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.png"), make_photo(36, 40, 0))
    outputs, logs = {}, {}
    for label, extra in (("fast", ()), ("reference", ("--no-accel",))):
        code, _, err = _run(capsys, "--checkpoint", tiny_checkpoint, *tiny_args, "--input", folder,
                            "--output", tmp_path / label, "--device", "cpu", *extra)
        assert code == 0, err
        outputs[label], logs[label] = cv2.imread(str(tmp_path / label / "photo_x4.png")).astype(int), err
    assert np.abs(outputs["fast"] - outputs["reference"]).max() <= 1
    assert "speed-ups for inference on cpu:" in logs["fast"] and "DPCAB -> FusedDPCAB" in logs["fast"]
    assert "speed-ups off: the reference network runs as written" in logs["reference"]
    assert "FusedDPCAB" not in logs["reference"]


def test_every_command_line_takes_no_accel(tiny_checkpoint) -> None:
    """dcls-sr, dcls-app (and the kernel sheets) take the model flags, --no-accel included; dcls-train and
    dcls-test turn it into the options' ``accel: false``."""
    for parser, required in ((sr_parser(), ["--input", "x"]), (app_parser(), []),
                             (kernel_parser(), ["--lr_dir", "x"])):
        for flags, accelerate in (([], True), (["--no-accel"], False)):
            args = parser.parse_args(["--checkpoint", str(tiny_checkpoint), "--scale", "4", *required, *flags])
            assert spec_from_namespace(args, ".").accelerate is accelerate
    for parser in (engine_train_parser(), engine_test_parser()):
        assert engine_overrides(parser.parse_args(["-opt", "o.yml", "--no-accel"])) == ["accel=false"]
        assert engine_overrides(parser.parse_args(["-opt", "o.yml", "--device", "cpu"])) == ["device=cpu"]


def test_setting_3_models_run_with_dcls_sr_and_the_api(capsys, tmp_path, make_photo) -> None:
    """A setting-3 (realistic degradations) checkpoint is the paper-size x4 network with 21x21 kernels: dcls-sr
    --setting 3 and BlindSR.from_checkpoint(setting=3) load it unchanged."""
    import torch

    from dcls import BlindSR
    from dcls.archs import DCLS
    from dcls.archs.spec import published_config
    from dcls.weights import save_network

    torch.manual_seed(0)
    checkpoint = tmp_path / "DCLSx4_setting3.pth"
    save_network(DCLS(**published_config(3, 4)), checkpoint)
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.png"), make_photo(20, 24, 1))
    code, out, err = _run(capsys, "--checkpoint", checkpoint, "--scale", "4", "--setting", "3", "--input", folder,
                          "--output", tmp_path / "out", "--device", "cpu")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "out" / "photo_x4.png")).shape == (80, 96, 3)
    result = BlindSR.from_checkpoint(checkpoint, scale=4, setting=3, device="cpu").upscale(
        make_photo(20, 24, 1)[:, :, ::-1])
    assert result.image.shape == (80, 96, 3) and result.kernel.shape == (21, 21)
