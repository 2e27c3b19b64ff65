"""Small images as PNG ``data:`` URIs, so the report stays one self-contained file."""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["png_data_uri"]

#: Dataset images are often 28 or 32 pixels: enlarged to at least this many for reading.
MIN_SIDE = 96


def png_data_uri(image: np.ndarray, min_side: int = MIN_SIDE) -> str:
    """``data:image/png;base64,...`` for one HW, HWC (C = 1, 3 or 4) image in [0, 1].

    Enlarged by a whole factor with nearest-neighbour sampling, so pixels stay sharp
    squares instead of blurring into something the model never saw. Values above 1.5
    are taken as 0-255 (an image not yet scaled), anything else is clipped.
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(image, dtype=np.float32)
    array = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an HW or HWC image with 1, 3 or 4 channels, got {array.shape}")
    if array.size and float(array.max()) > 1.5:
        array = array / 255.0
    pixels = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    picture = Image.fromarray(pixels)
    scale = max(1, math.ceil(min_side / max(1, max(picture.size))))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
