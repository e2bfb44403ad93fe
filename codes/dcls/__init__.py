"""DCLS-SR: Deep Constrained Least Squares for Blind Image Super-Resolution, on modern PyTorch."""

__version__ = "0.1.0"
