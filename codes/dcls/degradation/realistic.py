"""The "realistic" training degradation: random blur, downsampling, noise and JPEG, per sample (blind SR for photos).

Per sample, in this order: blur with a random kernel (``batch_blur``; isotropic, anisotropic, generalized
Gaussian, plateau or motion, or none) -> downsample by ``scale`` (MATLAB bicubic ``imresize``, antialiased
bilinear or area) -> noise (Gaussian or Poisson, colour or grey, then clamped to [0, 1]) -> JPEG
(kornia's differentiable codec) -> ``quantize``. ``DegradedBatch.lr_img`` is the final quantised input;
``lr_blured`` (downsample(blur(hr))) and ``lr`` (downsample(hr)), with the sample's own downsampler, are taken
before noise and compression: the kernel loss's target is the LR-space kernel of the blur and the downsampling.

``draw`` picks every sample's parameters (an :class:`ImageDegradation`, which a benchmark records beside its
LR image) and ``apply`` performs them; every random number, noise fields included, comes from the numpy
``Generator`` passed in, so the same generator state gives bit-identical batches (a resumed run stays exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..ops.imresize import imresize
from ..registry import DEGRADATION_REGISTRY
from .realistic_kernels import KERNEL_TYPES, realistic_kernels
from .synthesis import DegradedBatch, batch_blur, quantize

BLUR_DEFAULTS: dict[str, Any] = {
    "probability": 1.0,
    "kernels": {"iso": 0.35, "aniso": 0.35, "generalized": 0.1, "plateau": 0.1, "motion": 0.1},
    "sigma": [0.2, 4.0],
    "beta_generalized": [0.5, 4.0],
    "beta_plateau": [1.0, 2.0],
    "motion_length": [3, 15],
}
DOWNSAMPLE_DEFAULTS: dict[str, Any] = {"methods": {"bicubic": 0.5, "bilinear": 0.25, "area": 0.25}}
NOISE_DEFAULTS: dict[str, Any] = {
    "probability": 0.8, "gaussian": 0.6, "sigma": [0.0, 0.1], "poisson_scale": [0.05, 3.0], "grey_probability": 0.4,
}
JPEG_DEFAULTS: dict[str, Any] = {"probability": 0.8, "quality": [30, 95]}

POISSON_PEAK = 256.0
"""Poisson noise is ``scale * (Poisson(PEAK * x) / PEAK - x)``: shot noise at the 8-bit level, Real-ESRGAN's
form for an image with 256 distinct values (it counts them per image; a constant keeps the batch vectorised)."""
LUMA = (0.299, 0.587, 0.114)
"""RGB weights of the luminance that grey Poisson noise is drawn from (BT.601)."""

_DOWNSAMPLERS: dict[str, Callable[[torch.Tensor, int, tuple[int, int]], torch.Tensor]] = {
    "bicubic": lambda x, scale, size: imresize(x, 1 / scale),
    "bilinear": lambda x, scale, size: F.interpolate(x, size=size, mode="bilinear", antialias=True,
                                                     align_corners=False),
    "area": lambda x, scale, size: F.interpolate(x, size=size, mode="area"),
}


@dataclass(frozen=True)
class ImageDegradation:
    """The degradation drawn for one image: what a benchmark records beside its LR image."""

    kernel: np.ndarray  # (ksize, ksize) float64 HR-space blur kernel, non-negative, sums to 1 (a delta: no blur)
    kernel_type: str  # "iso", "aniso", "generalized", "plateau", "motion" or "none"
    downsampler: str  # "bicubic", "bilinear" or "area"
    noise_type: str  # "none", "gaussian" or "poisson"
    noise_level: float  # gaussian: standard deviation in [0, 1] pixel units; poisson: the scale; 0.0 when none
    grey_noise: bool  # the same noise on the three channels (luminance-only)
    jpeg_quality: int | None  # None: not compressed

    def record(self) -> dict[str, Any]:
        """Every field except ``kernel``, as JSON-ready Python values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "kernel"}


@DEGRADATION_REGISTRY.register("realistic")
class RealisticDegradation:
    """Random blur (five kernel families or none), one of three downsamplers, Gaussian or Poisson noise and
    JPEG per sample. The nested options (``blur``, ``downsample``, ``noise``, ``jpeg``) override the defaults
    key by key; a given ``blur.kernels`` or ``downsample.methods`` mapping replaces the default weights."""

    def __init__(self, scale: int, ksize: int = 21, blur: dict[str, Any] | None = None,
                 downsample: dict[str, Any] | None = None, noise: dict[str, Any] | None = None,
                 jpeg: dict[str, Any] | None = None) -> None:
        if ksize < 1:
            raise ValueError(f"ksize: {ksize} is below 1")
        self.scale, self.ksize = scale, ksize
        blur, noise, jpeg = (_section(name, given, defaults) for name, given, defaults in (
            ("blur", blur, BLUR_DEFAULTS), ("noise", noise, NOISE_DEFAULTS), ("jpeg", jpeg, JPEG_DEFAULTS)))
        downsample = _section("downsample", downsample, DOWNSAMPLE_DEFAULTS)
        self.blur_probability = _number("blur.probability", blur["probability"], 0.0, 1.0)
        self.kernel_types, self.kernel_weights = _weights("blur.kernels", blur["kernels"], KERNEL_TYPES)
        self.sigma = _range("blur.sigma", blur["sigma"], low=1e-3)
        self.beta_generalized = _range("blur.beta_generalized", blur["beta_generalized"], low=1e-3)
        self.beta_plateau = _range("blur.beta_plateau", blur["beta_plateau"], low=1e-3)
        self.motion_length = _range("blur.motion_length", blur["motion_length"], low=1.0, high=float(ksize))
        self.methods, self.method_weights = _weights("downsample.methods", downsample["methods"], tuple(_DOWNSAMPLERS))
        self.noise_probability = _number("noise.probability", noise["probability"], 0.0, 1.0)
        self.gaussian_probability = _number("noise.gaussian", noise["gaussian"], 0.0, 1.0)
        self.noise_sigma = _range("noise.sigma", noise["sigma"], low=0.0)
        self.poisson_scale = _range("noise.poisson_scale", noise["poisson_scale"], low=0.0)
        self.grey_probability = _number("noise.grey_probability", noise["grey_probability"], 0.0, 1.0)
        self.jpeg_probability = _number("jpeg.probability", jpeg["probability"], 0.0, 1.0)
        low, high = _range("jpeg.quality", jpeg["quality"], low=1.0, high=100.0)
        if not (low.is_integer() and high.is_integer()):
            raise ValueError(f"jpeg.quality: {jpeg['quality']!r} must be whole numbers")
        self.jpeg_quality = int(low), int(high)

    def draw(self, batch: int, rng: np.random.Generator) -> list[ImageDegradation]:
        """Draw the degradation of each of ``batch`` images; the number of draws does not depend on the options'
        probabilities, so changing one leaves every other parameter of the same generator state as it was."""
        blurred = rng.random(batch) < self.blur_probability
        kinds = np.where(blurred, rng.choice(np.array(self.kernel_types), batch, p=self.kernel_weights), "none")
        sigma_x, sigma_y = rng.uniform(*self.sigma, (2, batch))
        theta = rng.uniform(0.0, np.pi, batch)
        beta = np.where(kinds == "generalized", rng.uniform(*self.beta_generalized, batch),
                        rng.uniform(*self.beta_plateau, batch))
        length = rng.uniform(*self.motion_length, batch)
        kernels = realistic_kernels(self.ksize, kinds, sigma_x, sigma_y, theta, beta, length)
        kernels.setflags(write=False)
        downsamplers = rng.choice(np.array(self.methods), batch, p=self.method_weights)
        noisy = rng.random(batch) < self.noise_probability
        gaussian = rng.random(batch) < self.gaussian_probability
        level = np.where(gaussian, rng.uniform(*self.noise_sigma, batch), rng.uniform(*self.poisson_scale, batch))
        grey = rng.random(batch) < self.grey_probability
        compressed = rng.random(batch) < self.jpeg_probability
        quality = rng.integers(*self.jpeg_quality, batch, endpoint=True)
        return [
            ImageDegradation(
                kernel=kernels[i], kernel_type=str(kinds[i]), downsampler=str(downsamplers[i]),
                noise_type=("gaussian" if gaussian[i] else "poisson") if noisy[i] else "none",
                noise_level=float(level[i]) if noisy[i] else 0.0, grey_noise=bool(noisy[i] and grey[i]),
                jpeg_quality=int(quality[i]) if compressed[i] else None,
            )
            for i in range(batch)
        ]

    def apply(self, hr: torch.Tensor, drawn: Sequence[ImageDegradation], rng: np.random.Generator) -> DegradedBatch:
        """Degrade the HR crops (B, 3, H, W) as ``drawn`` (one per crop) says, batched on ``hr``'s device; the
        noise fields come from a torch generator seeded from ``rng``."""
        if len(drawn) != hr.shape[0]:
            raise ValueError(f"{len(drawn)} drawn degradations for a batch of {hr.shape[0]}")
        generator = torch.Generator(device=hr.device).manual_seed(int(rng.integers(2**63)))
        kernels = torch.from_numpy(np.stack([d.kernel for d in drawn])).to(hr.device, torch.float32)
        lr_blured, lr = self._downsample(batch_blur(hr, kernels), hr, [d.downsampler for d in drawn])
        degraded = _compress(_add_noise(lr_blured, drawn, generator), [d.jpeg_quality for d in drawn])
        return DegradedBatch(lr_img=quantize(degraded), lr_blured=lr_blured, lr=lr, kernels=kernels)

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> DegradedBatch:
        """Draw a degradation per crop and apply it: the registry's contract."""
        return self.apply(hr, self.draw(hr.shape[0], rng), rng)

    def _downsample(self, blurred: torch.Tensor, hr: torch.Tensor, methods: list[str]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``blurred`` and ``hr`` downsampled by each sample's method, one batched call per method present."""
        size = (math.ceil(hr.shape[-2] * (1 / self.scale)), math.ceil(hr.shape[-1] * (1 / self.scale)))  # imresize's
        lr_blured, lr = hr.new_empty(*hr.shape[:2], *size), hr.new_empty(*hr.shape[:2], *size)
        for method in sorted(set(methods)):
            index = torch.tensor([i for i, m in enumerate(methods) if m == method], device=hr.device)
            both = _DOWNSAMPLERS[method](torch.cat([blurred[index], hr[index]]), self.scale, size)
            lr_blured[index], lr[index] = both.chunk(2)
        return lr_blured, lr


def _add_noise(lr: torch.Tensor, drawn: Sequence[ImageDegradation], generator: torch.Generator) -> torch.Tensor:
    """Each noisy sample plus its Gaussian or Poisson field (one plane for all channels when grey), clamped to
    [0, 1]; the others unchanged. Both fields are drawn for the whole batch (vectorised: no per-sample branch)."""
    def per_sample(values: list[Any], dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=lr.device).view(-1, 1, 1, 1)

    noisy = per_sample([d.noise_type != "none" for d in drawn], torch.bool)
    gaussian = per_sample([d.noise_type == "gaussian" for d in drawn], torch.bool)
    grey = per_sample([d.grey_noise for d in drawn], torch.bool)
    level = per_sample([d.noise_level for d in drawn], lr.dtype)
    normal = torch.randn(lr.shape, generator=generator, device=lr.device, dtype=lr.dtype)
    luminance = (lr * torch.tensor(LUMA, dtype=lr.dtype, device=lr.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    clean = torch.where(grey, luminance, lr).clamp(0.0, 1.0)
    shot = torch.poisson(clean * POISSON_PEAK, generator=generator) / POISSON_PEAK - clean
    field = torch.where(gaussian, normal, shot)
    field = torch.where(grey, field[:, :1], field) * level
    return torch.where(noisy, (lr + field).clamp(0.0, 1.0), lr)


def _compress(x: torch.Tensor, qualities: list[int | None]) -> torch.Tensor:
    """JPEG-compress the samples with a quality (kornia's differentiable codec: RGB in [0, 1], it pads by
    replication to a multiple of 16 and crops back); the others unchanged."""
    chosen = [i for i, q in enumerate(qualities) if q is not None]
    if not chosen:
        return x
    from kornia.enhance import jpeg_codec_differentiable  # imported on use: kornia adds ~0.3 s to every start

    index = torch.tensor(chosen, device=x.device)
    quality = torch.tensor([qualities[i] for i in chosen], dtype=x.dtype, device=x.device)
    out = x.clone()
    out[index] = jpeg_codec_differentiable(x[index].clamp(0.0, 1.0), quality).clamp(0.0, 1.0)
    return out


def _section(name: str, given: Mapping[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """``given`` over ``defaults``; an unknown key is a ValueError naming it."""
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise ValueError(f"{name}: expected a mapping, got {type(given).__name__} {given!r}")
    for key in given:
        if key not in defaults:
            raise ValueError(f"{name}.{key}: unknown key (known: {', '.join(defaults)})")
    return {**defaults, **given}


def _number(key: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in [low, high] (YAML's ``1e-3``, a string, is read too); else a ValueError."""
    try:
        out = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if not low <= out <= high:
        raise ValueError(f"{key}: {value!r} is outside [{low:g}, {high:g}]")
    return out


def _range(key: str, value: Any, low: float = -math.inf, high: float = math.inf) -> tuple[float, float]:
    """A ``[low, high]`` pair within [low, high] whose low end does not exceed its high end."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key}: expected [low, high], got {value!r}")
    start, end = (_number(key, v, low, high) for v in value)
    if start > end:
        raise ValueError(f"{key}: low end {value[0]!r} exceeds high end {value[1]!r}")
    return start, end


def _weights(key: str, value: Any, known: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """The names and normalised probabilities of a ``{name: weight}`` mapping over ``known`` names."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{key}: expected a mapping of {', '.join(known)} to weights, got {value!r}")
    for name in value:
        if name not in known:
            raise ValueError(f"{key}.{name}: unknown (known: {', '.join(known)})")
    weights = np.array([_number(f"{key}.{name}", w, low=0.0) for name, w in value.items()])
    if weights.sum() <= 0:
        raise ValueError(f"{key}: the weights sum to 0")
    return tuple(value), weights / weights.sum()
