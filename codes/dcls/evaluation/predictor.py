"""Super-resolve one RGB image with a DCLS model: kernel estimated once, restoration whole or tiled,
optionally averaged over the eight flips/rotations (self-ensemble)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..ops.precision import AMP_DTYPES, autocast, upcast
from .ensemble import ALL_VIEWS, IDENTITY
from .tiling import restore_tiled

# The estimator's tail and the CLS smoothness filter use unpadded 3x3 convolutions, so inputs smaller than
# this are padded (replicate, bottom/right) and the result is cropped back.
MIN_SIDE = 16


@dataclass(frozen=True)
class InferenceSettings:
    """How to run the network on an image (all sizes in LR pixels; tile 0 = whole image at once; ``amp``:
    autocast off, bf16 or fp16, with the kernel synthesis and CLS solve in float32)."""

    tile: int = 0
    tile_overlap: int = 16
    tile_batch: int = 4
    ensemble: bool = False
    kernel_crop: int = 512
    amp: str = "off"

    def validate(self) -> None:
        """Raise ConfigError (a user error) with a one-line message for inconsistent settings."""
        if self.tile < 0 or 0 < self.tile < MIN_SIDE:
            raise ConfigError(f"--tile must be 0 (off) or at least {MIN_SIDE}, got {self.tile}")
        if self.tile and not 0 <= self.tile_overlap < self.tile:
            raise ConfigError(f"--tile_overlap must be in [0, tile), got {self.tile_overlap}")
        if self.tile_batch < 1:
            raise ConfigError(f"--tile_batch must be at least 1, got {self.tile_batch}")
        if self.kernel_crop < 0 or 0 < self.kernel_crop < MIN_SIDE:
            raise ConfigError(f"--kernel_crop must be 0 (whole image) or at least {MIN_SIDE}")
        if self.amp not in AMP_DTYPES:
            raise ConfigError(f"--amp must be one of {', '.join(AMP_DTYPES)}, got {self.amp}")


def pad_to_min_side(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) extended at the bottom/right by edge replication to at least MIN_SIDE pixels."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)), mode="replicate")


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of ``x`` (..., H, W), clipped to the image."""
    h, w = x.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


class SuperResolver:
    """Applies a DCLS model (with ``Estimator`` and ``Restorer`` submodules) to single images.

    The blur kernel is estimated once per image. Images larger than ``kernel_crop`` x ``kernel_crop``
    are estimated on their central crop of that size: a crop keeps the pixel scale (a downscaled image
    would look sharper and bias the kernel), and it bounds the estimator's memory like tiling bounds the
    restorer's. Every tile and every ensemble view is then restored with that same kernel.
    """

    def __init__(self, model: torch.nn.Module, scale: int, settings: InferenceSettings,
                 device: torch.device | str) -> None:
        settings.validate()
        self.model = model.to(device).eval()
        self.scale = scale
        self.settings = settings
        self.device = torch.device(device)

    @torch.inference_mode()
    def estimate_kernel(self, lr: torch.Tensor) -> torch.Tensor:
        """Kernel (1, 1, k, k) of ``lr`` (1, 3, H, W), from the whole image or its central crop."""
        crop = centre_crop(lr, self.settings.kernel_crop) if self.settings.kernel_crop else lr
        with autocast(self.device, self.settings.amp):
            return upcast(self.model.Estimator(pad_to_min_side(crop).to(self.device)))

    @torch.inference_mode()
    def restore(self, lr: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """SR image (1, 3, sH, sW) of ``lr`` given its kernel, on ``lr``'s device."""
        s = self.settings
        views = ALL_VIEWS if s.ensemble else (IDENTITY,)
        total = None
        for view in views:
            lr_v, k_v = view.apply(lr), view.apply(kernel)
            with autocast(self.device, s.amp):
                if s.tile:
                    sr_v = restore_tiled(self.model.Restorer, lr_v, k_v, self.scale, s.tile, s.tile_overlap,
                                         s.tile_batch, device=self.device)
                else:
                    sr_v = self.model.Restorer(lr_v.to(self.device), k_v).to(lr.device)
            sr = view.invert(upcast(sr_v))
            total = sr if total is None else total.add_(sr)  # in place: an SR image can be gigabytes
        if len(views) > 1:
            total.div_(len(views))
        return total.clamp_(0.0, 1.0)

    def __call__(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (sr (1, 3, sH, sW), kernel (k, k)) for ``lr`` (1, 3, H, W) in [0, 1]; both on ``lr``'s device."""
        h, w = lr.shape[-2:]
        padded = pad_to_min_side(lr)
        kernel = self.estimate_kernel(padded)
        sr = self.restore(padded, kernel)[..., : h * self.scale, : w * self.scale]
        return sr, kernel[0, 0].to(lr.device)
