"""One DCLS optimisation step, independent of data loading and logging (the engine drives it)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .degradation.synthesis import DegradedBatch
from .losses import CorrectionLoss


@dataclass
class StepOutput:
    """Losses (with graph) and outputs of one forward pass."""

    l_pix: torch.Tensor
    l_ker: torch.Tensor
    sr: torch.Tensor
    kernel: torch.Tensor
    k_correct: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.l_pix + self.l_ker


def build_optimizer(
    model: nn.Module, lr_G: float, lr_E: float, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0
) -> torch.optim.Adam:
    """Adam with two parameter groups: Restorer at ``lr_G`` (group 0), Estimator at ``lr_E`` (group 1)."""
    restorer = [p for n, p in model.named_parameters() if p.requires_grad and "Restorer" in n]
    estimator = [p for n, p in model.named_parameters() if p.requires_grad and "Estimator" in n]
    return torch.optim.Adam(
        [{"params": restorer, "lr": lr_G}, {"params": estimator, "lr": lr_E}], betas=betas, weight_decay=weight_decay
    )


def compute_losses(
    model: nn.Module, hr: torch.Tensor, batch: DegradedBatch, pixel_loss: nn.Module, kernel_loss: CorrectionLoss
) -> StepOutput:
    """Forward the quantised LR input; pixel loss against HR, kernel loss against the reformulated kernel."""
    sr, kernel = model(batch.lr_img)
    l_ker, k_correct = kernel_loss(kernel, batch.lr_blured, batch.lr)
    return StepOutput(l_pix=pixel_loss(sr, hr), l_ker=l_ker, sr=sr, kernel=kernel, k_correct=k_correct)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hr: torch.Tensor,
    batch: DegradedBatch,
    pixel_loss: nn.Module,
    kernel_loss: CorrectionLoss,
    pixel_weight: float = 1.0,
) -> StepOutput:
    """Zero grads, backpropagate ``pixel_weight * l_pix + l_ker``, take one optimiser step."""
    out = compute_losses(model, hr, batch, pixel_loss, kernel_loss)
    optimizer.zero_grad(set_to_none=True)
    (pixel_weight * out.l_pix + out.l_ker).backward()
    optimizer.step()
    return out
