"""Full images from micro patches: G on every micro coordinate of the grid with one z, concatenated.

Inference-mode normalisation (moving averages) makes every micro patch a function of
(z, c) alone, so patches can be produced in any order or batch split and still tile.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from geometry import PatchGeometry, repeat_latents, tile_coords


def sample_latents(num: int, z_dim: int, seed: int) -> tf.Tensor:
    """z ~ U[-1, 1]^z_dim (the paper's prior), reproducible from the seed."""
    return tf.random.stateless_uniform([num, z_dim], [seed, 0x5A3], minval=-1.0, maxval=1.0)


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


def to_uint8(images) -> np.ndarray:
    """[-1, 1] floats -> uint8 [0, 255], rounded and clipped."""
    images = np.asarray(images)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


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
    """Write a uint8 [H, W, C] image atomically (write-then-rename)."""
    import os

    path = str(path)
    tmp = path + ".tmp"
    tf.io.write_file(tmp, tf.io.encode_png(image))
    os.replace(tmp, path)
