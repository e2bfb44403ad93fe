"""Network architectures; importing this package registers them in ``ARCH_REGISTRY``."""

from .dcls_arch import CLS, DCLS, Estimator, Restorer

__all__ = ["DCLS", "CLS", "Estimator", "Restorer"]
