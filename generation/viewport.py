"""Partial-scene (viewport) generation (paper §3.3): only the micro patches a region covers.

The generator runs on exactly (height / p) x (width / p) micro coordinates per latent, so
the cost is proportional to the region's area, not the full image's. Inference-mode
normalisation makes each patch a function of (z, c) only, so the result equals the same
crop of the full image (tests/test_generation_modes.py).
"""

from __future__ import annotations

import numpy as np

from configs import UserError
from generation.sampling import generate_grid
from geometry import PatchGeometry


def parse_ints(text, count: int, flag: str, form: str) -> tuple:
    """'a,b,...' -> a tuple of `count` ints, or a one-line UserError naming the flag and the form."""
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise UserError(f"--{flag}={text!r} must be {form}")
    return values


def parse_viewport(text: str) -> tuple:
    """'top,left,height,width' (pixels) -> a 4-tuple of ints."""
    return parse_ints(text, 4, "viewport", "four integers top,left,height,width in pixels, e.g. 0,0,32,32")


def viewport_indices(geo: PatchGeometry, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Row-major micro indices of a micro-aligned viewport inside the image (UserError otherwise).

    On a cylindrical panorama the viewport may cross the 360° seam (columns wrap).
    """
    p_h, p_w = geo.micro_size
    H, W = geo.full_size
    if height < 1 or width < 1:
        raise UserError(f"viewport {height}x{width} is empty; height and width must be positive")
    for name, value, p in (("top", top, p_h), ("left", left, p_w), ("height", height, p_h), ("width", width, p_w)):
        if value % p:
            raise UserError(
                f"viewport {name}={value} is not a multiple of the micro patch size {p}; "
                f"use {value // p * p} or {(value // p + 1) * p}"
            )
    if top < 0 or top + height > H:
        raise UserError(f"viewport rows {top}..{top + height} leave the image (height {H})")
    if not geo.cylindrical and (left < 0 or left + width > W):
        raise UserError(
            f"viewport columns {left}..{left + width} leave the image (width {W}); "
            f"use --mode=beyond to generate outside it"
        )
    if geo.cylindrical and width > W:
        raise UserError(f"viewport width {width} is more than the panorama's 360° ({W}); use --mode=panorama --turns")
    idx = geo.viewport_indices(top, left, height, width)
    if geo.cylindrical:  # the seam: column R_w is column 0 again
        idx[:, 1] = np.mod(idx[:, 1], geo.grid_shape[1])
    return idx


def generate_viewport(generator, geo: PatchGeometry, z, top: int, left: int, height: int, width: int):
    """Images [B, height, width, C] of the viewport for latents z [B, z_dim]."""
    idx = viewport_indices(geo, top, left, height, width)
    return generate_grid(generator, geo, z, idx, height // geo.micro_size[0], width // geo.micro_size[1])
