"""GT / LQGT / LQ datasets over folders and LMDBs, and reproducible DataLoaders built from option dicts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dcls.data import build_dataloader, build_dataset
from dcls.data.datasets import DATASET_REGISTRY
from dcls.data.lmdb_io import write_lmdb


def _rgb_tensor(bgr: np.ndarray) -> torch.Tensor:
    """Expected dataset output for a uint8 BGR array, computed independently of the package."""
    return torch.from_numpy(bgr[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0)


def _folder(root: Path, images: dict[str, np.ndarray]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        assert cv2.imwrite(str(root / f"{name}.png"), img)
    return root


@pytest.fixture(params=["folder", "lmdb"])
def hr_root(request, tmp_path, photo) -> tuple[str, dict[str, np.ndarray]]:
    images = {f"hr{i}": photo(40 + 4 * i, 48, i) for i in range(4)}
    if request.param == "lmdb":
        write_lmdb(images.items(), tmp_path / "HR.lmdb")
        return str(tmp_path / "HR.lmdb"), images
    return str(_folder(tmp_path / "HR", images)), images


def _train_opt(root: str, **extra) -> dict:
    return {"name": "t", "mode": "GT", "phase": "train", "dataroot_GT": root, "GT_size": 16, "use_flip": True,
            "use_rot": True, "color": "RGB", "batch_size": 4, "n_workers": 0, "use_shuffle": True, **extra}


def test_registry_names():
    assert {"GT", "LQGT", "LQ"} <= set(DATASET_REGISTRY.names())


def test_gt_crops_are_pieces_of_the_image_up_to_symmetry(hr_root):
    root, images = hr_root
    ds = build_dataset(_train_opt(root))
    assert len(ds) == len(images)
    seen = set()
    for index in range(len(ds)):
        for _ in range(4):
            item = ds[index]
            crop, name = item["GT"], Path(item["GT_path"]).stem
            assert crop.shape == (3, 16, 16) and crop.dtype == torch.float32
            windows = _windows(_rgb_tensor(images[name]), 16)
            found = next((sym for sym, undone in _symmetries(crop) if _contains(windows, undone)), None)
            assert found is not None, f"crop of {name} is not a window of it under any flip/rotation"
            seen.add(found)
    assert len(seen) >= 4, "augmentation should produce several of the 8 symmetries"


def _symmetries(crop: torch.Tensor):
    """(label, crop with that flip/transpose combination undone) for all 8 combinations."""
    for t in range(2):
        base = crop.transpose(1, 2) if t else crop
        for v in range(2):
            for h in range(2):
                dims = [d for d, on in ((1, v), (2, h)) if on]
                yield (t, v, h), (base.flip(dims) if dims else base)


def _windows(full: torch.Tensor, size: int) -> torch.Tensor:
    return full.unfold(1, size, 1).unfold(2, size, 1)  # (3, H', W', size, size)


def _contains(windows: torch.Tensor, crop: torch.Tensor) -> bool:
    return bool((windows == crop[:, None, None]).all(dim=(0, 3, 4)).any())


def test_no_augmentation_when_disabled(hr_root):
    root, images = hr_root
    ds = build_dataset(_train_opt(root, use_flip=False, use_rot=False))
    for _ in range(5):
        item = ds[0]
        full = _rgb_tensor(images[Path(item["GT_path"]).stem])
        assert _contains(_windows(full, 16), item["GT"])


def test_gt_val_phase_returns_whole_modcropped_image(hr_root):
    root, images = hr_root
    ds = build_dataset({"name": "v", "mode": "GT", "phase": "val", "dataroot_GT": root, "scale": 3})
    for item in (ds[i] for i in range(len(ds))):
        want = _rgb_tensor(images[Path(item["GT_path"]).stem])
        h, w = want.shape[1] // 3 * 3, want.shape[2] // 3 * 3
        assert torch.equal(item["GT"], want[:, :h, :w])


def test_too_small_image_is_named(tmp_path, photo):
    images = {"big": photo(40, 40, 0), "tiny": photo(20, 40, 1)}
    write_lmdb(images.items(), tmp_path / "HR.lmdb")
    with pytest.raises(ValueError, match=r"'tiny' in .*HR\.lmdb is 20x40 pixels, smaller than the 32x32"):
        build_dataset(_train_opt(str(tmp_path / "HR.lmdb"), GT_size=32))  # LMDB: found before training
    folder_ds = build_dataset(_train_opt(str(_folder(tmp_path / "HR", images)), GT_size=32))
    index = folder_ds.keys.index("tiny")
    with pytest.raises(ValueError, match=r"tiny.png is 20x40 pixels"):
        folder_ds[index]


def test_lmdb_is_opened_lazily_per_process_read_only_without_lock(tmp_path, photo):
    images = {f"im{i}": photo(24, 24, i) for i in range(4)}
    write_lmdb(images.items(), tmp_path / "HR.lmdb")
    opt = {"mode": "GT", "phase": "val", "dataroot_GT": str(tmp_path / "HR.lmdb"), "n_workers": 2}
    ds = build_dataset(opt)
    reader = ds.gt.reader
    assert reader._env is None, "building the dataset must not open the LMDB"
    next(iter(build_dataloader(ds, opt)))
    assert reader._env is None, "the DataLoader workers open their own environments, not the main process"
    ds[0]
    flags = reader._env.flags()
    assert flags["readonly"] and not flags["lock"]


def test_gray_16bit_and_alpha_images(tmp_path, photo):
    gray16 = photo(20, 22, 0, channels=1, dtype=np.uint16)
    bgra = photo(20, 22, 1, channels=4)
    root = _folder(tmp_path / "mixed", {"gray16": gray16, "bgra": bgra})
    ds = build_dataset({"mode": "LQ", "dataroot_LQ": str(root)})
    items = {Path(ds[i]["LQ_path"]).stem: ds[i]["LQ"] for i in range(len(ds))}
    assert torch.equal((items["gray16"] * 65535).round().to(torch.int64), torch.from_numpy(gray16.astype(np.int64))
                       .expand(3, -1, -1))
    assert torch.equal(items["bgra"], _rgb_tensor(bgra[:, :, :3]))


def _pair_roots(tmp_path: Path, photo, kind: str, scale: int = 2, gt_names=None, lq_names=None):
    """HR images (not multiples of scale) and LR = nearest subsampling of the modcropped HR."""
    names = ["a", "b", "c"]
    hr = {n: photo(37 + i, 45, i) for i, n in enumerate(names)}
    lq = {n: img[: img.shape[0] // scale * scale : scale, : img.shape[1] // scale * scale : scale]
          for n, img in hr.items()}
    hr = {n: hr[n] for n in (gt_names or names)}
    lq = {n: lq[n] for n in (lq_names or names)}
    if kind == "lmdb":
        write_lmdb(hr.items(), tmp_path / "HR.lmdb")
        write_lmdb(lq.items(), tmp_path / "LR.lmdb")
        return str(tmp_path / "HR.lmdb"), str(tmp_path / "LR.lmdb"), hr, lq
    return str(_folder(tmp_path / "HRf", hr)), str(_folder(tmp_path / "LRf", lq)), hr, lq


@pytest.mark.parametrize("kind", ["folder", "lmdb"])
def test_lqgt_pairs_by_name_and_modcrops(tmp_path, photo, kind):
    gt_root, lq_root, hr, lq = _pair_roots(tmp_path, photo, kind)
    ds = build_dataset({"name": "Set", "mode": "LQGT", "dataroot_GT": gt_root, "dataroot_LQ": lq_root, "scale": 2})
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        name = Path(item["GT_path"]).stem
        assert Path(item["LQ_path"]).stem == name
        want_gt = _rgb_tensor(hr[name])[:, : hr[name].shape[0] // 2 * 2, : hr[name].shape[1] // 2 * 2]
        assert torch.equal(item["GT"], want_gt) and torch.equal(item["LQ"], _rgb_tensor(lq[name]))


@pytest.mark.parametrize("kind", ["folder", "lmdb"])
def test_lqgt_name_mismatch_names_the_files(tmp_path, photo, kind):
    gt_root, lq_root, _, _ = _pair_roots(tmp_path, photo, kind, gt_names=["a", "b"], lq_names=["a", "c"])
    with pytest.raises(ValueError, match=r"HR without LR in .*: b; LR without HR in .*: c"):
        build_dataset({"name": "Set", "mode": "LQGT", "dataroot_GT": gt_root, "dataroot_LQ": lq_root, "scale": 2})


@pytest.mark.parametrize("kind", ["folder", "lmdb"])
def test_lqgt_wrong_scale_names_the_files(tmp_path, photo, kind):
    gt_root, lq_root, _, _ = _pair_roots(tmp_path, photo, kind)
    opt = {"name": "Set", "mode": "LQGT", "dataroot_GT": gt_root, "dataroot_LQ": lq_root, "scale": 4}
    with pytest.raises(ValueError, match=r"LR .*a.* but HR .*a.*not a x4 pair"):
        build_dataset(opt)[0]


@pytest.mark.parametrize("kind", ["folder", "lmdb"])
def test_lqgt_train_crops_stay_aligned(tmp_path, photo, kind):
    gt_root, lq_root, _, _ = _pair_roots(tmp_path, photo, kind)
    ds = build_dataset({"mode": "LQGT", "phase": "train", "dataroot_GT": gt_root, "dataroot_LQ": lq_root,
                        "scale": 2, "GT_size": 12})
    for i in range(12):
        item = ds[i % 3]
        assert item["GT"].shape == (3, 12, 12) and item["LQ"].shape == (3, 6, 6)
        # LR = HR[::2, ::2] before augmentation; a flip moves the sampling phase to 1::2 along its axis
        phases = [(a, b) for a in range(2) for b in range(2) if torch.equal(item["GT"][:, a::2, b::2], item["LQ"])]
        assert phases, "the LR crop must be the HR crop's subsampling, flipped/rotated together"


def test_option_errors_are_clear(tmp_path, photo):
    root = str(_folder(tmp_path / "HR", {"a": photo(20, 20, 0)}))
    with pytest.raises(KeyError, match="'mode' is required"):
        build_dataset({"name": "x", "dataroot_GT": root})
    with pytest.raises(KeyError, match="unknown dataset 'LQGTker'"):
        build_dataset({"mode": "LQGTker", "dataroot_GT": root})
    with pytest.raises(KeyError, match="'GT_size' is required"):
        build_dataset({"mode": "GT", "phase": "train", "dataroot_GT": root})
    with pytest.raises(KeyError, match="'dataroot_GT' is required"):
        build_dataset({"mode": "GT", "dataroot_GT": None, "GT_size": 8})
    with pytest.raises(KeyError, match="'scale' is required"):
        build_dataset({"mode": "LQGT", "dataroot_GT": root, "dataroot_LQ": root})
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_dataset({"mode": "LQ", "dataroot_LQ": str(tmp_path / "nowhere")})


def test_val_loader_is_ordered_batch_one(tmp_path, photo):
    gt_root, lq_root, hr, _ = _pair_roots(tmp_path, photo, "lmdb")
    opt = {"mode": "LQGT", "phase": "val", "dataroot_GT": gt_root, "dataroot_LQ": lq_root, "scale": 2}
    names = [batch["GT_path"][0] for batch in build_dataloader(build_dataset(opt), opt)]
    assert names == sorted(hr)
