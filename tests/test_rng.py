"""The named random streams (rng/streams.py): the training step draws the numbers saved runs were
trained with, FID latents do not depend on how the samples are batched, and the one FID sampler
gives the same images whole or in pieces."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny

from fid.statistics import compute_statistics
from generation.sampling import sample_fid_images, sample_latents
from geometry import PatchGeometry
from rng import data_key, fid_latents, stream_key
from training.state import build_training_state
from training.step import CocoGanStep


def _uniform(key, shape, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, tf.cast(key, tf.int64), minval=low, maxval=high).numpy()


def test_training_draws_keep_the_seed_and_step_key():
    # The key saved runs were trained with: [seed, 4 step + 1] for z, [seed, 4 step + 2] for epsilon.
    config = tiny(seed=11)
    state = build_training_state(config)
    step = CocoGanStep(config, state.models, state.optimizers)
    z_dim = config.model_params.z_dim
    np.testing.assert_array_equal(step.sample_z(tf.constant(5, tf.int64), 3), _uniform([11, 21], [3, z_dim], -1, 1))
    np.testing.assert_array_equal(step.gp_epsilon(tf.constant(5, tf.int64), 3), _uniform([11, 22], [3, 1, 1, 1]))
    np.testing.assert_array_equal(stream_key(11, 5, "extrap").numpy(), [11, 23])
    with pytest.raises(ValueError, match="unknown random stream"):
        stream_key(11, 5, "zz")


def test_data_and_generation_keys():
    fold = tf.random.experimental.stateless_fold_in
    for name, tag in (("shuffle", 1), ("positions", 2), ("roll", 3)):
        want = fold(tf.constant([3, tag], tf.int64), tf.constant(9, tf.int64)).numpy()
        np.testing.assert_array_equal(data_key(3, name, 9).numpy(), want)
    np.testing.assert_array_equal(sample_latents(4, 6, 2), _uniform([2, 0x5A3], [4, 6], -1, 1))


def test_fid_latents_are_indexed_by_sample_not_by_batch():
    whole = fid_latents(0, 2300, 4).numpy()
    pieces = np.concatenate([fid_latents(a, b - a, 4).numpy() for a, b in ((0, 999), (999, 1001), (1001, 2300))])
    np.testing.assert_array_equal(whole, pieces)
    # Block 1 is rows 1000..1999, drawn from fold_in([seed, 0xF1D], 1).
    block1 = tf.random.experimental.stateless_fold_in(tf.constant([0, 0xF1D], tf.int64), 1)
    np.testing.assert_array_equal(whole[1000:2000], _uniform(block1, [1000, 4], -1, 1))
    assert whole.min() >= -1 and whole.max() <= 1
    assert not np.array_equal(fid_latents(0, 5, 4, seed=1).numpy(), whole[:5])
    assert fid_latents(7, 0, 4).shape == (0, 4)


def _toy_generator(c_dim):
    """(z, coords) -> micro patches whose value is a function of z[0] and the coordinate."""

    def generator(inputs, training=False):
        z, coords = inputs
        value = tf.tanh(z[:, :1] + 0.1 * tf.reduce_sum(coords, axis=1, keepdims=True))
        return tf.tile(value[:, None, None, :], [1, 4, 4, c_dim])

    return generator


def test_sample_fid_images_whole_equals_batched_and_grayscale_reaches_inception_as_rgb():
    config = tiny()
    geo = PatchGeometry.from_config(config)
    gen = _toy_generator(1)
    whole = sample_fid_images(gen, geo, 5, 0, 6)
    parts = np.concatenate([sample_fid_images(gen, geo, 5, 0, 4), sample_fid_images(gen, geo, 5, 4, 2, batch_size=1)])
    np.testing.assert_array_equal(whole, parts)
    assert whole.dtype == np.uint8 and whole.shape == (6, *geo.full_size, 1)
    seen = []

    def recording_extractor(batch):
        seen.append(batch)
        return np.zeros((len(batch), 2))

    compute_statistics(recording_extractor, iter([whole]), 6, show_progress=False)
    np.testing.assert_array_equal(seen[0], np.concatenate([whole] * 3, axis=-1))  # what Inception gets
    # Pixel (0, 0) of image i is G's first micro patch for z_i: (tanh(z_i0 + 0.1 sum c) + 1) * 127.5.
    z = fid_latents(0, 6, 5).numpy()
    c0 = geo.micro_coords_for_indices(tf.constant(geo.grid_indices()[:1], tf.float32)).numpy()
    want = np.clip(np.rint((np.tanh(z[:, 0] + 0.1 * c0.sum()) + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(whole[:, 0, 0, 0], want, atol=1)
