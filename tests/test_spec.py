"""The model specification: published configurations, and recognising a state_dict's configuration."""

from __future__ import annotations

import pytest
import torch

from dcls.archs import DCLS
from dcls.archs.spec import (
    FILTER_STRUCTURES,
    SETTING_KERNEL_SIZES,
    describe,
    kernel_size_for,
    published_config,
    recognise,
    setting_of,
)

PUBLISHED = [(setting, scale) for setting, sizes in SETTING_KERNEL_SIZES.items() for scale in sizes]


def _state_dict(**config: int) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return DCLS(**config).state_dict()


@pytest.mark.parametrize(("setting", "scale"), PUBLISHED)
def test_published_models_are_recognised_from_their_weights(setting: int, scale: int) -> None:
    config = published_config(setting, scale)
    assert recognise(_state_dict(**config)) == config
    found = setting_of(config)  # setting 3's x4 model has the shapes of setting 1's: the first is named
    assert published_config(found, scale) == config and found <= setting
    assert describe(config).startswith(f"x{scale} setting {found} (kernel {config['kernel_size']})")


@pytest.mark.parametrize(
    "config",
    [
        {"nf": 32, "nb": 2, "ng": 3, "in_nc": 3, "upscale": 4, "input_para": 64, "kernel_size": 31, "reduction": 4},
        {"nf": 8, "nb": 1, "ng": 1, "in_nc": 1, "upscale": 3, "input_para": 8, "kernel_size": 11, "reduction": 2},
        {"nf": 16, "nb": 3, "ng": 2, "in_nc": 3, "upscale": 1, "input_para": 16, "kernel_size": 21, "reduction": 4},
    ],
)
def test_any_size_is_recognised(config: dict[str, int]) -> None:
    assert recognise(_state_dict(**config)) == config


def test_other_weights_are_not_recognised() -> None:
    with pytest.raises(ValueError, match="not a DCLS state_dict"):
        recognise({"conv.weight": torch.zeros(3, 3, 3, 3)})


def test_settings_name_their_kernel_sizes_and_reject_the_unpublished() -> None:
    assert kernel_size_for(1, 3) == 21 and kernel_size_for(2, 2) == 11 and kernel_size_for(2, 4) == 31
    with pytest.raises(ValueError, match="setting 2 has no x3 model"):
        kernel_size_for(2, 3)
    assert kernel_size_for(3, 4) == 21  # realistic degradations (docs/realistic.md): x4 only
    with pytest.raises(ValueError, match="setting 3 has no x2 model"):
        kernel_size_for(3, 2)
    assert set(FILTER_STRUCTURES) == {k for sizes in SETTING_KERNEL_SIZES.values() for k in sizes.values()}
    assert setting_of({"upscale": 4, "kernel_size": 11}) is None
