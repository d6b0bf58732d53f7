"""Computation-friendly high resolution (paper §3.5): images too large for one tensor.

Micro patches are produced in fixed-size batches (one compiled shape: no retracing) in
row-major order; each completed row band (p pixel rows) is converted to uint8 and
appended to the outputs, then dropped. Peak memory is one batch of patches plus one row
band (p x W x C bytes): it does not grow with the number of patches or image rows.

Outputs are streamed as they come: a .npy file (header, then rows; np.load(mmap_mode="r")
reads it back without loading it) and/or a PNG written row by row through zlib, so even
the PNG never needs the whole image in memory.

Grid layouts for an R'_h x R'_w grid of micro patches (one latent per image):
- "extrapolate": the training grid grown symmetrically (beyond-boundary coordinates);
  R' = R reproduces the regular full image exactly.
- "stretch": R' coordinates spread evenly over [-1, 1] per axis (continuous coordinates,
  denser than the training grid).
On a cylindrical model the column axis wraps instead (R'_w / R_w turns).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import tensorflow as tf

from configs import UserError
from data.pixels import to_uint8
from geometry import PatchGeometry

LAYOUTS = ("extrapolate", "stretch")


# ------------------------------------------------------------------------- writers
class NpyRowWriter:
    """A uint8 [H, W, C] .npy file written row band by row band (write-then-rename)."""

    def __init__(self, path, height: int, width: int, channels: int):
        self.path, self.tmp = str(path), str(path) + ".tmp"
        self.shape = (height, width, channels)
        self.rows = 0
        self.f = open(self.tmp, "wb")
        np.lib.format.write_array_header_1_0(
            self.f,
            {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": self.shape},
        )

    def write(self, band: np.ndarray) -> None:
        assert band.dtype == np.uint8 and band.shape[1:] == self.shape[1:], (band.dtype, band.shape, self.shape)
        self.f.write(np.ascontiguousarray(band).tobytes())
        self.rows += band.shape[0]

    def close(self) -> None:
        self.f.close()
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: wrote {self.rows} of {self.shape[0]} rows")
        os.replace(self.tmp, self.path)


class PngRowWriter:
    """An 8-bit grayscale/RGB PNG written row band by row band (no full image in memory).

    PNG = signature, IHDR, IDAT chunks of one zlib stream over (filter byte 0 + row bytes)
    per row, IEND (ISO/IEC 15948). Output is flushed in IDAT chunks as it is compressed.
    """

    def __init__(self, path, height: int, width: int, channels: int, level: int = 6):
        if channels not in (1, 3):
            raise ValueError(f"PNG rows need 1 or 3 channels, got {channels}")
        self.path, self.tmp = str(path), str(path) + ".tmp"
        self.shape = (height, width, channels)
        self.rows = 0
        self.f = open(self.tmp, "wb")
        self.z = zlib.compressobj(level)
        self.f.write(b"\x89PNG\r\n\x1a\n")
        color_type = 0 if channels == 1 else 2
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.f.write(
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    def write(self, band: np.ndarray) -> None:
        assert band.dtype == np.uint8 and band.shape[1:] == self.shape[1:], (band.dtype, band.shape, self.shape)
        rows = band.reshape(band.shape[0], -1)
        raw = np.concatenate([np.zeros((rows.shape[0], 1), np.uint8), rows], axis=1).tobytes()
        data = self.z.compress(raw)
        if data:
            self._chunk(b"IDAT", data)
        self.rows += band.shape[0]

    def close(self) -> None:
        self._chunk(b"IDAT", self.z.flush())
        self._chunk(b"IEND", b"")
        self.f.close()
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: wrote {self.rows} of {self.shape[0]} rows")
        os.replace(self.tmp, self.path)


# ------------------------------------------------------------------------- layout
def grid_axis_values(geo: PatchGeometry, axis: int, count: int, layout: str) -> np.ndarray:
    """Per-axis coordinate values (before cos/sin) of `count` micro patches in `layout`."""
    R = geo.grid_shape[axis]
    if count < 1:
        raise UserError(f"a high-resolution grid needs at least one micro patch per axis, got {count}")
    if geo.cylindrical and axis == 1:  # wraps: keep the training spacing, as many turns as needed
        return np.asarray(geo.micro_coord_1d(np.mod(np.arange(count), R).astype(np.float32), 1), np.float32)
    if layout == "extrapolate":
        start = -(count - R) / 2.0
        return np.asarray(geo.micro_coord_1d(np.arange(count, dtype=np.float32) + np.float32(start), axis), np.float32)
    if layout == "stretch":
        return np.linspace(-1.0, 1.0, count).astype(np.float32) if count > 1 else np.zeros([1], np.float32)
    raise UserError(f"--layout={layout!r} must be one of {list(LAYOUTS)}")


def parse_grid(text, geo: PatchGeometry) -> tuple:
    """'rows,cols' or 'n' (micro patches); None -> the model's own grid."""
    if text in (None, ""):
        return geo.grid_shape
    try:
        values = [int(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise UserError(f"--grid={text!r} must be 'rows,cols' (micro patches per axis), e.g. 64,64")
    return tuple(values)


# ------------------------------------------------------------------------- generation
def stream_image(
    generator,
    geo: PatchGeometry,
    z,
    grid: tuple,
    writers,
    layout: str = "extrapolate",
    patch_batch: int = 64,
    progress=None,
) -> tuple:
    """Generate one image of grid[0] x grid[1] micro patches for latent z [z_dim] into `writers`.

    Patches run `patch_batch` at a time (the last batch is padded to the same size, so the
    compiled function sees one shape). Returns the image shape (H, W, C).
    """
    rows, cols = grid
    p_h, p_w = geo.micro_size
    row_vals = grid_axis_values(geo, 0, rows, layout)
    col_vals = grid_axis_values(geo, 1, cols, layout)
    z = tf.reshape(tf.convert_to_tensor(z, tf.float32), [1, -1])
    z_batch = tf.repeat(z, patch_batch, axis=0)
    total = rows * cols
    band = None
    filled = 0  # patches already placed into the current band
    for start in range(0, total, patch_batch):
        k = np.arange(start, start + patch_batch) % total  # pad the last batch by wrapping
        r_idx, c_idx = k // cols, k % cols
        coords = geo.network_coords(tf.constant(row_vals[r_idx]), tf.constant(col_vals[c_idx]))
        patches = to_uint8(generator((z_batch, coords), training=False))
        n_valid = min(patch_batch, total - start)
        for i in range(n_valid):
            if band is None:
                band = np.empty((p_h, cols * p_w, patches.shape[-1]), np.uint8)
            c = c_idx[i]
            band[:, c * p_w : (c + 1) * p_w] = patches[i]
            filled += 1
            if filled == cols:
                for w in writers:
                    w.write(band)
                filled = 0
                if progress:
                    progress(int(r_idx[i]) + 1, rows)
    return rows * p_h, cols * p_w, band.shape[-1]


def generate_highres(
    generator,
    geo: PatchGeometry,
    z,
    grid: tuple,
    out_prefix,
    formats=("npy", "png"),
    layout: str = "extrapolate",
    patch_batch: int = 64,
    progress=None,
) -> list:
    """Stream one image per latent in z [B, z_dim] to <out_prefix>_<i>.<fmt>; returns the paths."""
    z = np.asarray(z, np.float32)
    unknown = set(formats) - {"npy", "png"}
    if unknown or not formats:
        raise UserError(f"--formats={','.join(formats)} must list npy and/or png")
    if patch_batch < 1:
        raise UserError(f"--patch_batch={patch_batch} must be at least 1")
    rows, cols = grid
    H, W = rows * geo.micro_size[0], cols * geo.micro_size[1]
    # One patch to learn the channel count (the compiled function has a [None] batch: no retrace).
    channels = int(generator((tf.zeros([1, z.shape[1]]), tf.zeros([1, geo.coord_dim])), training=False).shape[-1])
    paths = []
    for b in range(z.shape[0]):
        writers = []
        for fmt in formats:
            path = f"{out_prefix}_{b:03d}.{fmt}"
            cls = NpyRowWriter if fmt == "npy" else PngRowWriter
            writers.append(cls(path, H, W, channels))
            paths.append(path)
        stream_image(generator, geo, z[b], grid, writers, layout, patch_batch, progress)
        for w in writers:
            w.close()
    return paths
