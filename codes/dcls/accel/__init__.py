"""The speed-up layer: :func:`accelerate` swaps the reference network's modules (``dcls.archs``) for faster
equivalents on a given device, for training or for inference. The reference network stays plain."""

from .accelerate import accelerate

__all__ = ["accelerate"]
