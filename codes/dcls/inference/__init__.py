"""Inference on people's own images: file handling, tiling with one kernel per image, self-ensemble."""

from dcls.inference.predictor import InferenceSettings, SuperResolver

__all__ = ["InferenceSettings", "SuperResolver"]
