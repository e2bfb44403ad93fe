"""Numerical operations: MATLAB-exact bicubic ``imresize``, the FFT solves of CLS, pooled convolutions, precision."""

from .imresize import imresize

__all__ = ["imresize"]
