"""Seam ratio: how visible the micro-patch borders of assembled images are.

Mean absolute pixel step between neighbouring pixels that straddle a micro-patch border,
divided by the mean step between neighbours inside a patch; each is the sum of the row and
the column means (of the axes that have a border). Real images score about 1.0 (the CelebA
32x32 crops of the shared data: 1.04); an image whose patches were generated without regard
to their neighbours scores well above 1. A cheap number to watch in TensorBoard while seams
fade, not a paper metric.

`shift_patch_tones` makes seams on purpose (bench/critic_seams.py asks whether D sees them).
"""

from __future__ import annotations

import numpy as np


def _border_mask(length: int, patch: int) -> np.ndarray:
    """Which of the `length - 1` steps along an axis cross a patch border."""
    return (np.arange(1, length) % patch) == 0


def seam_ratio(images, micro_size) -> float:
    """images [N, H, W, C] (any numeric dtype), micro_size int or (h, w) -> ratio (inf if no inner steps vary)."""
    x = np.asarray(images, np.float64)
    if x.ndim != 4:
        raise ValueError(f"seam_ratio expects images [N, H, W, C], got shape {x.shape}")
    p_h, p_w = (micro_size, micro_size) if np.isscalar(micro_size) else tuple(micro_size)
    _, h, w, _ = x.shape
    if h % p_h or w % p_w or (h == p_h and w == p_w):
        raise ValueError(f"images {h}x{w} are not a grid of several {p_h}x{p_w} micro patches")
    border = inner = 0.0
    for axis, length, patch in ((1, h, p_h), (2, w, p_w)):
        if length == patch:
            continue  # one patch along this axis: no border to compare
        steps = np.abs(np.diff(x, axis=axis)).mean(axis=tuple(a for a in range(4) if a != axis))
        on = _border_mask(length, patch)
        border += steps[on].mean()
        inner += steps[~on].mean()
    return float(border / inner) if inner > 0 else float("inf")


def seam_ratio_or_none(images, micro_size) -> float | None:
    """seam_ratio, or None ("not applicable") for images that are one micro patch (a full-image model)."""
    shape = np.shape(images)
    p_h, p_w = (micro_size, micro_size) if np.isscalar(micro_size) else tuple(micro_size)
    if len(shape) == 4 and shape[1] == p_h and shape[2] == p_w:
        return None
    return seam_ratio(images, micro_size)


def format_seam_ratio(value: float | None) -> str:
    """'1.234', or 'not applicable' for a None from seam_ratio_or_none."""
    return "not applicable (one micro patch per image)" if value is None else f"{value:.3f}"


def shift_patch_tones(images, micro_size, sigma: float, seed: int = 0) -> np.ndarray:
    """Synthetic seams: every micro patch of every image gets its own per-channel offset ~ N(0, sigma).

    images [N, H, W, C] in [-1, 1] -> float32, same shape, clipped to [-1, 1]. Inside a patch
    nothing changes (before clipping), so only the border steps grow: the blocky look of an
    undertrained COCO-GAN, at a chosen strength, for asking whether a critic notices it.
    """
    x = np.array(images, np.float32)
    p_h, p_w = (micro_size, micro_size) if np.isscalar(micro_size) else tuple(micro_size)
    n, h, w, c = x.shape
    if h % p_h or w % p_w:
        raise ValueError(f"images {h}x{w} are not a grid of {p_h}x{p_w} micro patches")
    offsets = np.random.default_rng(seed).normal(0.0, sigma, (n, h // p_h, 1, w // p_w, 1, c))
    x = x.reshape(n, h // p_h, p_h, w // p_w, p_w, c) + offsets.astype(np.float32)
    return np.clip(x.reshape(n, h, w, c), -1.0, 1.0)
