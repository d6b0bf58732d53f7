"""CelebA from a prepared TensorFlow Datasets `celeb_a` (dataset name tfds_celeba).

Never downloads (download=False): TFDS' CelebA download needs Google Drive access that
usually fails; users who have it prepared pass its folder as --data_dir (TFDS data_dir),
otherwise a one-line UserError says what to do. Images are 218x178 and get the same
`celeba_crop` as the folder pipeline.

Order: records in file order (shuffle_files=False), then per epoch a 10,000-item shuffle
buffer seeded from (seed, epoch). Exact resume skips the first records of the resumed epoch
*before* decoding (the JPEG bytes are read but not decoded), so batch k of a resumed run is
batch k of an uninterrupted one. The buffer is a local shuffle, weaker than the full
permutation of the folder pipeline; use the `celeba` folder dataset where that matters.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from configs.errors import UserError
from data import transforms
from rng import data_key

SHUFFLE_BUFFER = 10_000
SPLIT = "train"


def _builder(data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError("dataset tfds_celeba needs tensorflow-datasets (pip install tensorflow-datasets)") from None
    builder = tfds.builder("celeb_a", data_dir=data_dir)
    try:
        builder.as_dataset(split=SPLIT)
    except AssertionError:
        where = data_dir or "the default TFDS folder (~/tensorflow_datasets)"
        raise UserError(
            f"TFDS celeb_a is not prepared in {where}: prepare it with "
            f"`tfds build celeb_a` (or pass --data_dir to the TFDS folder that holds it), "
            f"or use --dataset celeba with a folder of img_align_celeba JPEGs"
        ) from None
    return builder


def _records(builder, data_dir):
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(
        split=SPLIT,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(interleave_cycle_length=1),
    )
    return ds.map(lambda example: example["image"])


def _preprocess(config):
    full = tuple(config.data_params.full_image_size)
    c_dim = config.data_params.c_dim

    def fn(encoded):
        image = tf.cast(transforms.decode_rgb(encoded), tf.float32)
        image = transforms.match_channels(transforms.celeba_crop(image, full), c_dim)
        image = transforms.to_unit_range(image)
        image.set_shape([full[0], full[1], c_dim])
        return image

    return fn


def num_items(config, data_dir) -> int:
    return int(_builder(data_dir or config.data_params.data_dir).info.splits[SPLIT].num_examples)


def _epoch_seed(seed: int, epoch):
    return data_key(seed, "shuffle", epoch)[0]


def training_images(config, seed: int, start_position: int, data_dir) -> tf.data.Dataset:
    data_dir = data_dir or config.data_params.data_dir
    builder = _builder(data_dir)
    n = int(builder.info.splits[SPLIT].num_examples)
    first_epoch, within = divmod(int(start_position), n)
    records = _records(builder, data_dir)

    def one_epoch(epoch):
        ds = records.shuffle(SHUFFLE_BUFFER, seed=_epoch_seed(seed, epoch), reshuffle_each_iteration=False)
        return ds.skip(tf.where(epoch == first_epoch, tf.constant(within, tf.int64), tf.constant(0, tf.int64)))

    ds = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(one_epoch)
    return ds.map(_preprocess(config), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def full_images(config, data_dir, shuffle: bool, seed: int) -> tf.data.Dataset:
    records = _records(_builder(data_dir or config.data_params.data_dir), data_dir)
    if shuffle:
        records = records.shuffle(SHUFFLE_BUFFER, seed=_epoch_seed(seed, 0), reshuffle_each_iteration=False)
    return records.map(_preprocess(config), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
