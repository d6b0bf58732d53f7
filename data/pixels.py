"""Pixel conversions for writing and scoring images, numpy only (no TensorFlow import, so the FID of two
.npz files needs none): [-1, 1] floats to uint8, and grayscale to the three channels that RGB consumers
(Inception, figures with coloured boxes) read."""

from __future__ import annotations

import numpy as np


def to_uint8(images) -> np.ndarray:
    """[-1, 1] floats -> uint8 [0, 255] as (x + 1) * 127.5, rounded (half to even) and clipped; the
    inverse of `data.transforms.to_unit_range` on uint8 pixels. Numpy in and out (tensors are converted)."""
    images = np.asarray(images, np.float32)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def as_rgb(images) -> np.ndarray:
    """[..., 1] grayscale images replicated to three channels; RGB images unchanged."""
    images = np.asarray(images)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
