"""Training degradations (registered in ``DEGRADATION_REGISTRY``: ``degradation.type`` names one) and the
pieces a new one is made of: ``DegradedBatch`` (what a degradation returns), ``batch_blur`` and ``quantize``."""

from .realistic import ImageDegradation, RealisticDegradation
from .synthesis import DEFAULT_DEGRADATION, DegradedBatch, GaussianDegradation, batch_blur, quantize

__all__ = [
    "DEFAULT_DEGRADATION", "DegradedBatch", "GaussianDegradation", "ImageDegradation", "RealisticDegradation",
    "batch_blur", "quantize",
]
