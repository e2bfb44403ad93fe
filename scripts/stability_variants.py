"""Network variants of the stability study (scripts/stability_study.py), registered as plug-ins: the study names
this module in ``custom_imports`` and a variant in ``network_G.which_model_G`` (docs/extending.md)."""

from __future__ import annotations

import torch

from dcls.archs import DCLS
from dcls.registry import ARCH_REGISTRY


class _StraightThroughClamp(torch.autograd.Function):
    """Clamp to [0, 1] forwards; pass the gradient through unchanged backwards."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0.0, 1.0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad


@ARCH_REGISTRY.register()
class DCLSStraightThroughClamp(DCLS):
    """DCLS whose final clamp passes gradients through: the same outputs, but the loss can still pull a saturated
    output pixel back (the original clamp gives it no gradient)."""

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kernel = self.Estimator(lr)
        return _StraightThroughClamp.apply(self.Restorer.unclamped(lr, kernel.detach())), kernel


@ARCH_REGISTRY.register()
class DCLSFeatureInit(DCLS):
    """DCLS whose feature block starts at ``feature_init_scale`` times Kaiming scale instead of the original's 0.1
    (the same random draws, rescaled)."""

    def __init__(self, feature_init_scale: float = 0.4, **setting: object) -> None:
        super().__init__(**setting)  # type: ignore[arg-type]
        with torch.no_grad():
            for module in self.Restorer.feature_block.modules():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.mul_(feature_init_scale / 0.1)
