"""Panoramas: cylindrical coordinates, crops across the 360° seam, cyclic synthetic data, and a
cylindrical model trained end to end by the standard loop whose panoramas repeat exactly."""

import math

import numpy as np
import tensorflow as tf
from helpers import tiny

from data.memory import synthetic_images, synthetic_panoramas
from data.pipeline import make_training_dataset, panorama_roll_shifts
from generation.panorama import generate_panorama, seam_report, tile_horizontally
from generation.restore import load_generator
from geometry import PatchGeometry
from training.loop import Trainer


def tiny_panorama(**train):
    """full 8x32, macro 8, micro 4: R = 2 x 8 micro patches, 1 x 8 macro positions (columns wrap)."""
    return tiny(
        data={
            "full_image_size": [8, 32],
            "macro_patch_size": [8, 8],
            "micro_patch_size": [4, 4],
            "coordinate_system": "cylindrical",
        },
        model={"spatial_dim": 3},
        **train,
    )


def test_synthetic_panoramas_continue_across_the_seam_unlike_the_plain_synthetic_images():
    def seam_over_interior(x):
        x = x.astype(np.float64)
        return np.abs(x[:, :, -1] - x[:, :, 0]).mean() / np.abs(np.diff(x, axis=2)).mean()

    assert seam_over_interior(synthetic_panoramas(64, 16, 64, 3)) < 1.5  # like any neighbouring columns
    assert seam_over_interior(synthetic_images(64, 16, 64, 3)) > 10  # the two edges are far apart


def test_cylindrical_coordinates_are_row_cos_sin_of_the_angle_and_wrap_at_the_seam():
    geo = PatchGeometry.from_config(tiny_panorama())
    assert geo.num_macro_positions == (1, 8) and geo.coord_dim == 3
    theta = -1 + 2 * 7 / 8  # macro patch at column 28 = micro column 7
    np.testing.assert_allclose(
        geo.macro_coords(np.array([[0, 28]])).numpy(),
        [[0.0, math.cos(math.pi * theta), math.sin(math.pi * theta)]],
        atol=1e-6,
    )
    # (one macro row: R_h - m_h = 0, so the row coordinate is 0)
    micro = geo.micro_coords_in_macro(np.array([[0, 28]])).numpy()[0]  # columns 7 and 8 == 0
    first_column = geo.micro_coords_for_indices(np.array([[0.0, 0.0], [1.0, 0.0]])).numpy()
    np.testing.assert_array_equal(micro[[1, 3]], first_column)  # exactly column 0: no seam in c
    np.testing.assert_allclose(micro[:, 0], [-1, -1, 1, 1])  # the row axis stays euclidean


def test_crops_wrap_around_the_seam_like_a_rolled_image():
    geo = PatchGeometry.from_config(tiny_panorama())
    images = np.random.default_rng(0).uniform(-1, 1, (3, 8, 32, 3)).astype(np.float32)
    offsets = np.array([[0, 28], [0, 31], [0, 4]])
    crops = geo.crop_macro_patches(images, offsets).numpy()
    for b, (_, col) in enumerate(offsets):
        np.testing.assert_array_equal(crops[b], np.roll(images[b], -col, axis=1)[:, :8])


def test_training_patches_are_crops_of_the_rolled_cyclic_images():
    config = tiny_panorama()
    batch = next(iter(make_training_dataset(config, seed=3, start_batch=5)))
    shifts = panorama_roll_shifts(config, 3, 5)
    images = synthetic_panoramas(64, 8, 32, 3)
    # Which images: the pipeline's order is internal, so look each crop up among all rolled images.
    for patch, offset, shift in zip(batch["macro_patches"].numpy(), batch["macro_offsets"].numpy(), shifts):
        rolled = np.roll(images, -(offset[1] + shift), axis=2)[:, :, :8] / 127.5 - 1.0
        assert np.min(np.abs(rolled - patch).reshape(len(images), -1).max(axis=1)) < 1e-6


def test_a_cylindrical_model_trains_in_the_standard_loop_and_its_panoramas_repeat_exactly(tmp_path):
    metrics = Trainer(tiny_panorama(total_steps=2), tmp_path, log=lambda *a: None).fit()
    assert all(np.isfinite(v) for v in metrics.values())
    loaded = load_generator(tmp_path)
    assert loaded.geometry.cylindrical and loaded.step == 2
    z = tf.random.stateless_uniform([2, 8], [1, 2], -1, 1)
    one = generate_panorama(loaded.patches, loaded.geometry, z, 1.0).numpy()
    two = generate_panorama(loaded.patches, loaded.geometry, z, 2.0).numpy()
    assert one.shape == (2, 8, 32, 3)
    # 720° = the 360° image twice (same coordinates; only float rounding of a larger batch differs)
    np.testing.assert_allclose(two, tile_horizontally(one, 2), atol=1e-5)
    report = seam_report(one, 4)
    assert np.isfinite(report.seam) and np.isfinite(report.ratio)
