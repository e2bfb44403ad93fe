"""Running a model on images and scoring it: the predictor (kernel estimated once, tiled restoration, x8
self-ensemble) that validation, testing and inference share, per-image PSNR/SSIM, and the test runner."""

from .predictor import InferenceSettings, SuperResolver
from .scoring import METRICS, average, evaluate

__all__ = ["METRICS", "InferenceSettings", "SuperResolver", "average", "evaluate"]
