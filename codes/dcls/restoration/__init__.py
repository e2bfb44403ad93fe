"""Applying a network to whole images: kernel estimated once, tiled restoration, x8 self-ensemble."""

from .predictor import InferenceSettings, SuperResolver

__all__ = ["InferenceSettings", "SuperResolver"]
