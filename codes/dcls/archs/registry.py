"""The architecture registry and ``build_network``: ``network_G.which_model_G`` names a registered class,
``network_G.setting`` holds its keyword arguments, verbatim. Every architecture takes its scale as ``upscale``
(the options set it from the run's ``scale``); training expects ``forward(lr) -> (sr, kernel)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from ..errors import ConfigError
from ..registry import ARCH_REGISTRY


def build_network(which_model_G: str, setting: Mapping[str, Any]) -> nn.Module:
    """The registered architecture ``which_model_G`` built with the keyword arguments ``setting``."""
    try:
        return ARCH_REGISTRY.build(which_model_G, **setting)
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError included
        raise ConfigError(f"network_G: cannot build {which_model_G} ({' '.join(str(exc).split())})") from None
