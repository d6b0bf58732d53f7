"""Full images from micro patches: G on every micro coordinate of the grid with one z, concatenated.

Inference-mode normalisation (moving averages) makes every micro patch a function of
(z, c) alone, so patches can be produced in any order or batch split and still tile.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from data.pixels import to_uint8
from fileio.atomic import write_atomic
from geometry import PatchGeometry, repeat_latents, tile_coords
from rng import FID_SEED, fid_latents, sample_latents

__all__ = [
    "sample_latents",
    "generate_grid",
    "generate_full_images",
    "sample_fid_images",
    "image_grid",
    "save_png",
]


def generate_grid(generator, geo: PatchGeometry, z, micro_indices, rows: int, cols: int, training=False):
    """Images [B, rows*p, cols*p, C] from G on a block of micro indices (row-major, rows x cols)."""
    z = tf.convert_to_tensor(z, tf.float32)
    coords = geo.micro_coords_for_indices(tf.constant(micro_indices, tf.float32))
    n = rows * cols
    patches = generator((repeat_latents(z, n), tile_coords(coords, tf.shape(z)[0])), training=training)
    return geo.merge(patches, rows, cols)


def generate_full_images(generator, geo: PatchGeometry, z, batch_size: int | None = None):
    """Full images [B, H, W, C] in [-1, 1]; `batch_size` bounds how many z run at once."""
    z = tf.convert_to_tensor(z, tf.float32)
    rows, cols = geo.grid_shape
    idx = geo.grid_indices()
    if batch_size is None or batch_size >= z.shape[0]:
        return generate_grid(generator, geo, z, idx, rows, cols)
    return tf.concat(
        [
            generate_grid(generator, geo, z[i : i + batch_size], idx, rows, cols)
            for i in range(0, z.shape[0], batch_size)
        ],
        0,
    )


def sample_fid_images(
    generator, geo: PatchGeometry, z_dim: int, first: int, num: int, seed: int = FID_SEED, batch_size: int | None = None
) -> np.ndarray:
    """FID samples first .. first + num - 1: uint8 full images [num, H, W, C].

    The one sampler of in-training FID (training/fid_hook.py) and eval_fid.py --mode=checkpoint:
    latents from rng.fid_latents, so a run's fid5k and its fid50k see the same first 5,000
    images whatever the batch sizes. Grayscale stays grayscale; fid.statistics.compute_statistics
    replicates it to RGB for Inception, as it does the real digits.
    """
    z = fid_latents(first, num, z_dim, seed)
    return to_uint8(generate_full_images(generator, geo, z, batch_size))


def image_grid(images, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C] grid image."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = images[i]
    return grid


def save_png(path, image: np.ndarray) -> None:
    """Write a uint8 [H, W, C] image atomically."""
    write_atomic(path, tf.io.encode_png(image).numpy())
