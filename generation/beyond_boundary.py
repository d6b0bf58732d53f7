"""Beyond-boundary generation (ICCV version): G on an extrapolated micro grid.

`extra` micro patches are added on every side, with coordinates continuing the training
grid past [-1, 1] (geometry.PatchGeometry.extrapolated_grid_indices). LSUN 256 (R = 4,
micro 64) with extra = 1: a 6x6 grid, micro coordinates to ±5/3, a 384x384 image whose
centre 256x256 is exactly the regular full image.
"""

from __future__ import annotations

import numpy as np

from configs import UserError
from data.pixels import as_rgb
from generation.sampling import generate_grid
from geometry import PatchGeometry


def check_beyond(geo: PatchGeometry, extra: int) -> None:
    if geo.cylindrical:
        raise UserError(
            "beyond-boundary generation extrapolates euclidean coordinates; this model is "
            "cylindrical (its columns already wrap: use --mode=panorama)"
        )
    if extra < 1:
        raise UserError(f"--extra={extra} must be at least 1 micro patch")


def generate_beyond(generator, geo: PatchGeometry, z, extra: int = 1):
    """Images [B, (R_h + 2e) p, (R_w + 2e) p, C] on the grid grown by `extra` patches per side."""
    check_beyond(geo, extra)
    R_h, R_w = geo.grid_shape
    idx = geo.extrapolated_grid_indices(extra)
    return generate_grid(generator, geo, z, idx, R_h + 2 * extra, R_w + 2 * extra)


def in_boundary_box(geo: PatchGeometry, extra: int) -> tuple:
    """(top, left, height, width) in pixels of the training image inside the extrapolated one."""
    p_h, p_w = geo.micro_size
    return (extra * p_h, extra * p_w) + geo.full_size


def mark_boundary(images, box, line: int = 2, color=(255, 0, 0)) -> np.ndarray:
    """uint8 [B, H, W, C] -> RGB copies with a `line`-pixel rectangle drawn just outside `box`.

    The rectangle lies on the extrapolated pixels around the box, so the in-boundary
    region itself is left untouched. Grayscale images are converted to RGB.
    """
    out = np.array(as_rgb(images), copy=True)
    top, left, height, width = box
    H, W = out.shape[1:3]
    t0, t1 = max(top - line, 0), min(top + height + line, H)
    l0, l1 = max(left - line, 0), min(left + width + line, W)
    color = np.asarray(color, np.uint8)
    out[:, t0:top, l0:l1] = color
    out[:, top + height : t1, l0:l1] = color
    out[:, t0:t1, l0:left] = color
    out[:, t0:t1, left + width : l1] = color
    return out
