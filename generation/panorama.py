"""Panoramas from a cylindrical model: the full 360° image, optionally more than one turn,
and a numeric check that the left and right edges continue each other.

Column coordinates are angles θ = -1 + 2j / R_w; column index R_w is θ = 1, the same
angle as θ = -1 (index 0). Indices are wrapped modulo R_w *before* computing coordinates,
so a panorama of more than one turn repeats exactly (cos/sin of ±π differ by one float32
ulp, which would otherwise make the repeated patch differ in the last bits).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from configs import UserError
from generation.sampling import generate_grid
from geometry import PatchGeometry


def check_panorama(geo: PatchGeometry) -> None:
    if not geo.cylindrical:
        raise UserError(
            "panorama mode needs a model trained with data_params.coordinate_system: cylindrical "
            "(e.g. configs/MP3D_256x768_N2M2S128.yaml); this model is euclidean"
        )


def panorama_indices(geo: PatchGeometry, turns: float = 1.0, start_col: int = 0):
    """Row-major micro indices of a panorama `turns` x 360° wide (column indices wrapped)."""
    check_panorama(geo)
    R_h, R_w = geo.grid_shape
    cols = int(round(turns * R_w))
    if cols < 1:
        raise UserError(f"--turns={turns} gives no micro patch column; use at least {1 / R_w:.3g}")
    idx = geo.grid_indices(0, start_col, R_h, cols)
    idx[:, 1] = np.mod(idx[:, 1], R_w)
    return idx, R_h, cols


def generate_panorama(generator, geo: PatchGeometry, z, turns: float = 1.0, start_col: int = 0):
    """Images [B, H, cols * p, C]: `turns` x 360° starting at micro column `start_col`."""
    idx, rows, cols = panorama_indices(geo, turns, start_col)
    return generate_grid(generator, geo, z, idx, rows, cols)


@dataclasses.dataclass
class SeamReport:
    seam: float  # mean |first column - last column| (the 360° seam)
    interior: float  # mean |column j+1 - column j| over all neighbouring columns inside the image
    patch_boundaries: float  # the same, only where two micro patches meet inside the image
    ratio: float  # seam / patch_boundaries: about 1 when the seam is as continuous as any patch border

    def __str__(self):
        return (
            f"seam |last-first column| {self.seam:.4f}; inside the image: neighbouring columns "
            f"{self.interior:.4f}, micro-patch borders {self.patch_boundaries:.4f}; "
            f"seam / patch borders = {self.ratio:.2f}"
        )


def seam_report(images, micro_width: int) -> SeamReport:
    """Compare the 360° seam with the column-to-column differences inside [B, H, W, C] images.

    Every micro-patch border inside the image is also a place where two separately
    generated patches meet, so they are the fair reference for the seam.
    """
    x = np.asarray(images, np.float64)
    W = x.shape[2]
    diffs = np.abs(np.diff(x, axis=2)).mean(axis=(0, 1, 3))  # [W - 1]: between column j and j + 1
    seam = float(np.abs(x[:, :, -1] - x[:, :, 0]).mean())
    borders = np.arange(micro_width - 1, W - 1, micro_width)
    patch_borders = float(diffs[borders].mean()) if len(borders) else float("nan")
    return SeamReport(seam, float(diffs.mean()), patch_borders, seam / max(patch_borders, 1e-12))


def tile_horizontally(images, times: int = 2) -> np.ndarray:
    """[B, H, W, C] -> [B, H, times * W, C]: a panorama placed next to itself."""
    return np.concatenate([np.asarray(images)] * times, axis=2)
