"""Network architectures; importing this package registers them in ``ARCH_REGISTRY``."""

from .dcls_arch import CLS, DCLS, Estimator, Restorer
from .registry import ARCH_REGISTRY, build_network

__all__ = ["ARCH_REGISTRY", "CLS", "DCLS", "Estimator", "Restorer", "build_network"]
