"""Patch geometry of COCO-GAN: coordinates, crops and merges (paper §3; docs/design.md, Coordinates and patches).

Everything else (data pipeline, training step, every generation mode) asks this
module three questions: *which coordinates*, *which crop*, *which merge*.

Conventions
-----------
* Sizes are [height, width]; coordinate axis 0 is the image **row**, axis 1 the column.
* R = full / micro micro patches per axis, m = macro / micro micro patches per macro patch.
* A macro patch's position is the pixel offset of its top-left corner, ``offsets[B, 2]``
  (int32). With the paper's discrete sampling the offsets are multiples of the micro size,
  so offset / micro = i, the top-left micro index. Continuous sampling (an option) draws
  any pixel offset; coordinates follow the same formulas with fractional i.
* Euclidean coordinates:  macro  c_M = -1 + 2 i / (R - m),  i = 0 .. R - m
                          micro  c_m = -1 + 2 j / (R - 1),  j = 0 .. R - 1
  and the micro patches of the macro patch at i are j = i .. i + m - 1. Indices outside
  these ranges give the extrapolated coordinates of beyond-boundary generation.
* Cylindrical coordinates (panoramas): the row axis is Euclidean; the column axis is an
  angle θ = -1 + 2 j / R_w (θ = 1 would be θ = -1 again, so the endpoint is excluded), a
  macro patch's θ is that of its left-most micro column, and the networks receive
  [row, cos(πθ), sin(πθ)]. Crops wrap around the 360° seam.
* Micro patches are ordered row-major inside a macro patch (and inside any grid), and
  sample-major across a batch: patch b * n + k is micro patch k of sample b. Merging is
  plain concatenation (the paper's T(m→M)); no blending.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import tensorflow as tf

EUCLIDEAN = "euclidean"
CYLINDRICAL = "cylindrical"


def _pair(value) -> tuple:
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    return tuple(int(v) for v in value)


@dataclasses.dataclass(frozen=True)
class PatchGeometry:
    full_size: tuple
    macro_size: tuple
    micro_size: tuple
    coordinate_system: str = EUCLIDEAN

    def __post_init__(self):
        for name in ("full_size", "macro_size", "micro_size"):
            object.__setattr__(self, name, _pair(getattr(self, name)))
        if self.coordinate_system not in (EUCLIDEAN, CYLINDRICAL):
            raise ValueError(
                f"coordinate_system must be {EUCLIDEAN!r} or {CYLINDRICAL!r}, got {self.coordinate_system!r}"
            )
        for axis in (0, 1):
            full, macro, micro = self.full_size[axis], self.macro_size[axis], self.micro_size[axis]
            if full % micro or macro % micro or macro > full:
                raise ValueError(
                    f"impossible patch geometry on axis {axis}: full {full}, macro {macro}, "
                    f"micro {micro} (full and macro must be multiples of micro, macro <= full)"
                )

    @classmethod
    def from_config(cls, config) -> "PatchGeometry":
        d = config.data_params
        return cls(d.full_image_size, d.macro_patch_size, d.micro_patch_size, d.coordinate_system)

    # ---------------------------------------------------------------- sizes
    @property
    def cylindrical(self) -> bool:
        return self.coordinate_system == CYLINDRICAL

    @property
    def grid_shape(self) -> tuple:
        """R per axis: micro patches per full-image row/column."""
        return tuple(f // p for f, p in zip(self.full_size, self.micro_size))

    @property
    def ratio(self) -> tuple:
        """m per axis: micro patches per macro-patch row/column."""
        return tuple(q // p for q, p in zip(self.macro_size, self.micro_size))

    @property
    def micro_per_macro(self) -> int:
        return self.ratio[0] * self.ratio[1]

    @property
    def coord_dim(self) -> int:
        return 3 if self.cylindrical else 2

    @property
    def num_macro_positions(self) -> tuple:
        """Discrete macro positions per axis (the column axis of a panorama wraps: R_w)."""
        rows = self.grid_shape[0] - self.ratio[0] + 1
        cols = self.grid_shape[1] if self.cylindrical else self.grid_shape[1] - self.ratio[1] + 1
        return (rows, cols)

    # ---------------------------------------------------------- coordinates
    def micro_coord_1d(self, index, axis: int):
        """Coordinate value of micro index j (any real j; outside [0, R-1] extrapolates)."""
        R = self.grid_shape[axis]
        if self.cylindrical and axis == 1:
            # Wrap first: column R_w is column 0 exactly (sin(±π) differs in float32).
            return -1.0 + 2.0 * (index % R) / R
        return -1.0 + 2.0 * index / (R - 1) if R > 1 else 0.0 * index

    def macro_coord_1d(self, index, axis: int):
        """Coordinate value of the macro patch whose top-left micro index is i."""
        if self.cylindrical and axis == 1:
            return self.micro_coord_1d(index, axis)
        span = self.grid_shape[axis] - self.ratio[axis]
        return -1.0 + 2.0 * index / span if span > 0 else 0.0 * index

    def network_coords(self, rows, cols):
        """Stack per-axis values into the networks' condition: [.., 2] or [.., 3] (cylindrical)."""
        rows = tf.cast(rows, tf.float32)
        cols = tf.cast(cols, tf.float32)
        if self.cylindrical:
            return tf.stack([rows, tf.cos(math.pi * cols), tf.sin(math.pi * cols)], axis=-1)
        return tf.stack([rows, cols], axis=-1)

    def macro_coords(self, offsets):
        """[B, 2] pixel offsets -> [B, coord_dim] macro coordinates c_M (D's condition)."""
        idx = tf.cast(offsets, tf.float32) / tf.constant(self.micro_size, tf.float32)
        return self.network_coords(self.macro_coord_1d(idx[..., 0], 0), self.macro_coord_1d(idx[..., 1], 1))

    def micro_indices_in_macro(self, offsets):
        """[B, 2] pixel offsets -> [B, n, 2] (fractional) micro indices of the macro patch, row-major."""
        idx = tf.cast(offsets, tf.float32) / tf.constant(self.micro_size, tf.float32)
        mh, mw = self.ratio
        k = np.stack(np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij"), -1).reshape(-1, 2)
        return idx[:, None, :] + tf.constant(k, tf.float32)[None]

    def micro_coords_for_indices(self, micro_idx):
        """[..., 2] micro indices (row, col) -> [..., coord_dim] micro coordinates c_m (G's condition)."""
        micro_idx = tf.cast(micro_idx, tf.float32)
        return self.network_coords(self.micro_coord_1d(micro_idx[..., 0], 0), self.micro_coord_1d(micro_idx[..., 1], 1))

    def micro_coords_in_macro(self, offsets):
        """[B, 2] pixel offsets -> [B, n, coord_dim] micro coordinates of each macro patch."""
        return self.micro_coords_for_indices(self.micro_indices_in_macro(offsets))

    # --------------------------------------------------------------- grids
    def grid_indices(self, row0: int = 0, col0: int = 0, rows: int | None = None, cols: int | None = None):
        """Row-major [rows * cols, 2] micro indices of a rectangular block of the micro grid.

        The defaults are the full image. A viewport (partial scene) is a sub-block;
        negative starts or blocks past R give the extrapolated grid.
        """
        rows = self.grid_shape[0] if rows is None else rows
        cols = self.grid_shape[1] if cols is None else cols
        if rows < 1 or cols < 1:
            raise ValueError(f"a grid needs at least one row and column, got {rows}x{cols}")
        r, c = np.meshgrid(np.arange(row0, row0 + rows), np.arange(col0, col0 + cols), indexing="ij")
        return np.stack([r, c], -1).reshape(-1, 2).astype(np.float32)

    def full_grid_coords(self):
        """[R_h * R_w, coord_dim] micro coordinates of the whole image, row-major."""
        return self.micro_coords_for_indices(self.grid_indices())

    def extrapolated_grid_indices(self, extra: int):
        """Micro indices of the full grid grown by `extra` micro patches on every side.

        For LSUN 256 (R = 4) extra = 1 gives 6x6 patches with coordinates to ±5/3:
        a 384x384 image whose centre 4x4 block is exactly the regular grid.
        """
        if extra < 0:
            raise ValueError(f"extra must be >= 0, got {extra}")
        R_h, R_w = self.grid_shape
        return self.grid_indices(-extra, -extra, R_h + 2 * extra, R_w + 2 * extra)

    def viewport_indices(self, top: int, left: int, height: int, width: int):
        """Micro indices covering a viewport given in *pixels* of the full image.

        The viewport must be aligned to the micro grid (multiples of the micro size):
        the generator produces whole micro patches and nothing else is computed.
        """
        p_h, p_w = self.micro_size
        for name, value, p in (("top", top, p_h), ("left", left, p_w), ("height", height, p_h), ("width", width, p_w)):
            if value % p:
                raise ValueError(f"viewport {name}={value} is not a multiple of the micro size {p}")
        if height < 1 or width < 1:
            raise ValueError(f"viewport must be at least one micro patch, got {height}x{width}")
        return self.grid_indices(top // p_h, left // p_w, height // p_h, width // p_w)

    # ------------------------------------------------------------- sampling
    def sample_offsets(self, batch_size: int, seed, extra: int = 0, continuous: bool = False):
        """Random macro positions as [B, 2] int32 pixel offsets (stateless, deterministic in seed).

        Discrete (paper): uniform over the (R - m + 1) positions per axis, stride one micro
        patch; `extra` > 0 also allows positions `extra` micro patches beyond each border
        (beyond-boundary training, as the official `num_extrap_steps`). The column axis of a
        panorama takes any of its R_w positions (it wraps). Continuous: any pixel offset.
        `seed` is a stateless-RNG seed: a shape [2] int tensor.
        """
        p = tf.constant(self.micro_size, tf.int32)
        if continuous:
            if extra:
                raise ValueError("continuous sampling does not support extrapolation")
            high = [
                self.full_size[0] - self.macro_size[0] + 1,
                self.full_size[1] if self.cylindrical else self.full_size[1] - self.macro_size[1] + 1,
            ]
            return _uniform_int_pair(batch_size, seed, high)
        n_rows, n_cols = self.num_macro_positions
        if self.cylindrical and extra:
            raise ValueError("beyond-boundary sampling is defined for euclidean coordinates only")
        high = [n_rows + 2 * extra, n_cols + 2 * extra]
        idx = _uniform_int_pair(batch_size, seed, high)
        return (idx - extra) * p

    def in_bounds(self, offsets):
        """[B] bool: the macro patch lies inside the image (always true on a panorama's column axis)."""
        offsets = tf.convert_to_tensor(offsets)
        limit = tf.constant([self.full_size[0] - self.macro_size[0], self.full_size[1] - self.macro_size[1]])
        ok = (offsets >= 0) & (offsets <= limit)
        return ok[:, 0] if self.cylindrical else ok[:, 0] & ok[:, 1]

    # ------------------------------------------------------ crop and merge
    def crop_macro_patches(self, images, offsets):
        """Vectorised crop: images [B, H, W, C], offsets [B, 2] -> [B, q_h, q_w, C].

        One gather per axis for the whole batch (no loop per crop). Columns wrap around
        the seam of a cylindrical panorama.
        """
        images = tf.convert_to_tensor(images)
        _assert_shape(images, [None, self.full_size[0], self.full_size[1], None], "images")
        offsets = tf.cast(offsets, tf.int32)
        rows = offsets[:, 0:1] + tf.range(self.macro_size[0])[None]
        cols = offsets[:, 1:2] + tf.range(self.macro_size[1])[None]
        if self.cylindrical:
            cols = tf.math.floormod(cols, self.full_size[1])
        patches = tf.gather(images, rows, axis=1, batch_dims=1)
        return tf.gather(patches, cols, axis=2, batch_dims=1)

    def merge(self, patches, rows: int, cols: int):
        """Concatenate micro patches into images: [B * rows * cols, p, p, C] -> [B, rows*p, cols*p, C].

        Also accepts [B, rows * cols, p, p, C]. Patch order is sample-major, then row-major.
        """
        patches = tf.convert_to_tensor(patches)
        p_h, p_w = self.micro_size
        if patches.shape.rank == 4:
            _assert_shape(patches, [None, p_h, p_w, None], "micro patches")
        else:
            _assert_shape(patches, [None, rows * cols, p_h, p_w, None], "micro patches")
        c = patches.shape[-1]
        grid = tf.reshape(patches, [-1, rows, cols, p_h, p_w, c])
        grid = tf.transpose(grid, [0, 1, 3, 2, 4, 5])
        return tf.reshape(grid, [-1, rows * p_h, cols * p_w, c])

    def merge_macro(self, micro_patches):
        """[B * n, p, p, C] micro patches of B macro patches -> [B, q, q, C]."""
        return self.merge(micro_patches, *self.ratio)

    def merge_full(self, micro_patches):
        """[B * R_h * R_w, p, p, C] micro patches of the full grid -> [B, H, W, C]."""
        return self.merge(micro_patches, *self.grid_shape)

    def split(self, images):
        """Inverse of `merge`: [B, rows*p, cols*p, C] -> [B * rows * cols, p, p, C] (row-major)."""
        images = tf.convert_to_tensor(images)
        p_h, p_w = self.micro_size
        h, w, c = images.shape[1], images.shape[2], images.shape[3]
        if h % p_h or w % p_w:
            raise ValueError(f"image size {h}x{w} is not a multiple of the micro size {p_h}x{p_w}")
        grid = tf.reshape(images, [-1, h // p_h, p_h, w // p_w, p_w, c])
        grid = tf.transpose(grid, [0, 1, 3, 2, 4, 5])
        return tf.reshape(grid, [-1, p_h, p_w, c])


def repeat_latents(z, n: int):
    """Each of B latents repeated n times (sample-major), to pair with n micro coordinates."""
    return tf.repeat(z, n, axis=0)


def tile_coords(coords, batch_size):
    """[n, d] coordinates tiled to [batch_size * n, d], matching `repeat_latents`."""
    coords = tf.convert_to_tensor(coords, tf.float32)
    return tf.tile(coords, [batch_size, 1])


def _uniform_int_pair(batch_size: int, seed, high):
    """[B, 2] int32, column a uniform on [0, high[a]); one independent stateless stream per axis."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    return tf.stack(
        [
            tf.random.stateless_uniform([batch_size], seeds[a], minval=0, maxval=int(high[a]), dtype=tf.int32)
            for a in (0, 1)
        ],
        axis=1,
    )


def _assert_shape(tensor, expected: Sequence, name: str):
    got = tensor.shape.as_list()
    if len(got) != len(expected) or any(e is not None and g is not None and e != g for e, g in zip(expected, got)):
        raise ValueError(f"{name}: expected shape {expected}, got {got}")
