"""One image through the model the way ``dcls-sr`` treats it: split off grey/alpha/bit depth, super-resolve the
RGB planes, upscale the alpha on its own and put the image back together in the input's layout and type."""

from __future__ import annotations

import numpy as np
import torch

from dcls.restoration import SuperResolver

from .codec import decode, encode, upscale_alpha


def super_resolve_array(resolver: SuperResolver, image: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """(SR image, kernel (k, k)) of an OpenCV-ordered array (grey/BGR/BGRA, uint8/uint16 or float in [0, 1]).

    The SR image has the input's pixel type and channels (grey + alpha comes back as grey-looking BGRA).
    """
    decoded = decode(image)
    sr, kernel = resolver(decoded.rgb)
    alpha = None if decoded.alpha is None else upscale_alpha(decoded.alpha, resolver.scale)
    return encode(sr, alpha, decoded.grey, decoded.dtype), kernel
