"""Inference on people's own images: the ``inference.py`` command line, file handling, model loading, figures."""
