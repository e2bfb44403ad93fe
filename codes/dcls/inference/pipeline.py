"""One image through the model the way ``dcls-sr`` treats it: split off grey/alpha/bit depth, super-resolve the
RGB planes, upscale the alpha on its own and put the image back together in the input's layout and type."""

from __future__ import annotations

import numpy as np
import torch

from dcls.evaluation import SuperResolver
from dcls.utils.codec import ChannelOrder, decode, encode, upscale_alpha


def super_resolve_array(resolver: SuperResolver, image: np.ndarray,
                        order: ChannelOrder = "bgr") -> tuple[np.ndarray, torch.Tensor]:
    """(SR image, kernel (k, k)) of a grey/colour/colour + alpha array (uint8/uint16 or float in [0, 1]), colour in
    ``order`` (``"bgr"`` as ``dcls-sr`` reads files, ``"rgb"`` for the Python API).

    The SR image has the input's pixel type, channels and colour order (grey + alpha comes back as grey-looking
    BGRA/RGBA).
    """
    decoded = decode(image, order)
    sr, kernel = resolver(decoded.rgb)
    alpha = None if decoded.alpha is None else upscale_alpha(decoded.alpha, resolver.scale)
    return encode(sr, alpha, decoded.grey, decoded.dtype, order), kernel
