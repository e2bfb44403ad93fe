"""The DIV2KRK-style generator: kernel statistics of KernelGAN's protocol, alignment, seeding, outputs."""

from __future__ import annotations

import cv2
import numpy as np

from dcls.data.div2krk import compose_x4, degrade, generate_div2krk, kernelgan_kernel


def _moments(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (y, x) and covariance matrix (in x, y order) of a normalised kernel."""
    yy, xx = np.mgrid[0 : kernel.shape[0], 0 : kernel.shape[1]]
    cy, cx = (yy * kernel).sum(), (xx * kernel).sum()
    dx, dy = xx - cx, yy - cy
    cross = (dx * dy * kernel).sum()
    cov = np.array([[(dx * dx * kernel).sum(), cross], [cross, (dy * dy * kernel).sum()]])
    return np.array([cy, cx]), cov


def test_x2_kernels_are_normalised_positive_and_centred():
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = kernelgan_kernel(rng)
        centre, _ = _moments(k)
        assert k.shape == (11, 11) and k.min() > 0 and abs(k.sum() - 1) < 1e-12
        assert np.allclose(centre, 5.5, atol=1e-8), "centre of mass must be mid-way in the first 2x2 block"


def test_lambdas_are_covariance_eigenvalues_in_range():
    """Without noise and truncation (large support) the kernel covariance has eigenvalues λ1, λ2 in [0.6, 5]."""
    rng = np.random.default_rng(1)
    eigen = np.concatenate([np.linalg.eigvalsh(_moments(kernelgan_kernel(rng, size=41, noise_level=0.0))[1])
                            for _ in range(200)])
    assert eigen.min() >= 0.6 - 1e-3 and eigen.max() <= 5.0 + 1e-3
    assert eigen.min() < 0.8 and eigen.max() > 4.8, "the whole range is sampled"


def test_noise_is_multiplicative_and_bounded():
    base = kernelgan_kernel(np.random.default_rng(2), size=41, noise_level=0.0)
    noisy = kernelgan_kernel(np.random.default_rng(2), size=41, noise_level=0.25)
    ratio = noisy / base  # the mean moves very little when re-centring, so this is ~ (1 + U(-.25,.25)) / norm
    assert ratio[15:26, 15:26].min() > 0.7 and ratio[15:26, 15:26].max() < 1.35
    assert ratio[15:26, 15:26].std() > 0.05


def test_x4_kernel_is_the_x2_kernel_applied_twice():
    rng = np.random.default_rng(3)
    k2 = kernelgan_kernel(rng)
    k4 = compose_x4(k2)
    centre, _ = _moments(k4)
    assert k4.shape == (31, 31) and abs(k4.sum() - 1) < 1e-12 and np.allclose(centre, 16.5, atol=1e-8)
    img = np.random.default_rng(4).integers(0, 256, (96, 96, 3)).astype(np.float64)

    def step(x, k, s):
        return cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT)[::s, ::s]

    twice, once = step(step(img, k2, 2), k2, 2), step(img, k4, 4)
    assert np.allclose(twice[6:-6, 6:-6], once[6:-6, 6:-6], atol=1e-9), "equal away from the borders"


def test_degrade_samples_every_scale_th_pixel_after_blur():
    img = np.random.default_rng(5).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    delta = np.zeros((11, 11))
    delta[5, 5] = 1.0
    assert np.array_equal(degrade(img, delta, 2), img[::2, ::2])
    shifted = np.zeros((11, 11))
    shifted[6, 5] = 1.0  # correlation: output pixel (i, j) reads input (i + 1, j)
    assert np.array_equal(degrade(img, shifted, 2)[:-1], img[1::2, ::2][: 10 - 1])


def test_same_seed_same_benchmark_other_seed_other_kernels(tmp_path, photo):
    hr = tmp_path / "hr"
    hr.mkdir()
    for i in range(2):
        cv2.imwrite(str(hr / f"img{i}.png"), photo(50, 46, i))
    for out, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert generate_div2krk(hr, tmp_path / out, seed=seed, progress=False) == 2
    for name in ("img0", "img1"):
        ka, kb, kc = (np.load(tmp_path / o / "gt_k_x2" / f"{name}.npy") for o in "abc")
        assert np.array_equal(ka, kb) and not np.allclose(ka, kc)
        for scale in (2, 4):
            a, b = (cv2.imread(str(tmp_path / o / f"lr_x{scale}" / f"{name}.png")) for o in "ab")
            assert np.array_equal(a, b) and a.shape == (48 // scale, 44 // scale, 3)
        assert np.allclose(np.load(tmp_path / "a" / "gt_k_x4" / f"{name}.npy"), compose_x4(ka))
        assert cv2.imread(str(tmp_path / "a" / "gt" / f"{name}.png")).shape == (48, 44, 3)
        picture = cv2.imread(str(tmp_path / "a" / "gt_k_x2" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert picture.ndim == 2 and picture.shape[0] >= 110 and picture.max() == 255


def test_lr_image_follows_the_saved_kernel(tmp_path, photo):
    hr = tmp_path / "hr"
    hr.mkdir()
    img = photo(64, 64, 3)
    cv2.imwrite(str(hr / "p.png"), img)
    generate_div2krk(hr, tmp_path / "out", seed=0, progress=False)
    for scale in (2, 4):
        kernel = np.load(tmp_path / "out" / f"gt_k_x{scale}" / "p.npy")
        lr = cv2.imread(str(tmp_path / "out" / f"lr_x{scale}" / "p.png"))
        assert np.array_equal(lr, degrade(img, kernel, scale))


def test_script_with_lmdb_and_refusal(tmp_path, photo, run_script):
    hr = tmp_path / "hr"
    hr.mkdir()
    cv2.imwrite(str(hr / "a.png"), photo(40, 40, 0))
    args = ["--input", hr, "--output", tmp_path / "out", "--seed", "3", "--lmdb", "--quiet"]
    first = run_script("generate_div2krk.py", *args)
    assert first.returncode == 0, first.stderr
    for name in ("HRblur.lmdb", "x2LRblur.lmdb", "x4LRblur.lmdb"):
        assert (tmp_path / "out" / name / "meta_info.json").is_file()
    second = run_script("generate_div2krk.py", *args)
    assert second.returncode != 0 and "--overwrite" in second.stderr


def test_script_rejects_bad_noise_level(tmp_path, run_script):
    result = run_script("generate_div2krk.py", "--input", tmp_path, "--output", tmp_path / "o", "--noise-level", 1.0)
    assert result.returncode == 2 and "noise-level" in result.stderr
