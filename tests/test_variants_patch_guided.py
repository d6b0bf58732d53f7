"""Patch-guided generation (paper §3.4): the position decoder, the wiring D trunk -> Q / spatial
head -> G(ẑ) (not the official random z), and a trained tiny model end to end."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny

from configs import replace
from generation.patch_guided import (
    PatchGuidedModels,
    figure,
    offsets_from_coords,
    patch_guided_generate,
    reconstruction_errors,
    restore_patch_guided,
)
from generation.sampling import generate_full_images
from geometry import PatchGeometry
from models.build import build_models
from training.loop import Trainer


def tiny_pg(**train):
    return tiny(loss={"code_loss_w": 100}, **{"Q_update_period": 1, **train})


@pytest.mark.parametrize("full,system", [((16, 16), "euclidean"), ((32, 32), "euclidean"), ((8, 32), "cylindrical")])
def test_predicted_coordinates_decode_to_the_nearest_macro_position(full, system):
    config = replace(
        tiny_pg(),
        data_params={"full_image_size": list(full), "coordinate_system": system},
        model_params={"spatial_dim": 3 if system == "cylindrical" else 2},
    )
    geo = PatchGeometry.from_config(config)
    n_rows, n_cols = geo.num_macro_positions
    offsets = np.stack(np.meshgrid(np.arange(n_rows) * 4, np.arange(n_cols) * 4, indexing="ij"), -1).reshape(-1, 2)
    coords = geo.macro_coords(offsets).numpy()
    np.testing.assert_array_equal(offsets_from_coords(geo, coords), offsets)
    noisy = coords + np.random.default_rng(0).uniform(-0.05, 0.05, coords.shape)  # less than half a step
    np.testing.assert_array_equal(offsets_from_coords(geo, noisy), offsets)
    assert offsets_from_coords(geo, np.full((1, geo.coord_dim), 5.0))[0, 0] == (n_rows - 1) * 4  # clipped


@pytest.fixture(scope="module")
def models():
    config = tiny_pg()
    d = config.data_params
    m = build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)
    return PatchGuidedModels(
        config,
        PatchGeometry.from_config(config),
        m["generator"],
        m["discriminator"],
        m["spatial_head"],
        m["content_head"],
    )


def test_the_full_image_is_generated_from_qs_estimate_of_z_and_follows_the_input_patch(models):
    patches = tf.random.stateless_uniform([2, 8, 8, 3], [3, 4], -1, 1)
    out = patch_guided_generate(models, patches)
    _, h = models.discriminator((patches, None), training=False)  # independent recomputation
    z_hat = models.content_head(h, training=False)
    np.testing.assert_allclose(out["z"], z_hat, rtol=1e-6)
    np.testing.assert_allclose(out["coords"], models.spatial_head(h, training=False), rtol=1e-6)
    np.testing.assert_allclose(
        out["images"], generate_full_images(models.generator, models.geometry, z_hat), atol=1e-6
    )  # G(ẑ), not G(random z)
    # Another input patch: another ẑ and another image.
    assert np.abs(out["z"][0] - out["z"][1]).max() > 1e-4
    assert np.abs(out["images"][0] - out["images"][1]).max() > 1e-4
    swapped = patch_guided_generate(models, patches[::-1])
    np.testing.assert_allclose(swapped["images"], out["images"][::-1], atol=1e-5)


def test_q_trains_every_step_and_a_trained_checkpoint_gives_errors_and_a_figure(tmp_path, eager_functions):
    """The training run's steps run eagerly (tests/conftest.py eager_functions): Q's updates, the checkpoint and
    what patch-guided generation does with it are the subject; the compiled step with Q trained is
    tests/conftest.py tiny_q_losses' (the oracle of tests/test_distribute.py and tests/test_precision.py)."""
    trainer = Trainer(tiny_pg(total_steps=2), tmp_path, log=lambda *a: None)
    metrics = trainer.fit()
    assert int(trainer.state.optimizers["q"].iterations.numpy()) == 2 and metrics["loss/q"] > 0
    path = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    models = restore_patch_guided(trainer.config, path)
    for a, b in zip(models.content_head.variables, trainer.state.models["content_head"].variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images = tf.random.stateless_uniform([3, 16, 16, 3], [5, 6], -1, 1)
    errors = reconstruction_errors(models, images, seed=0, batch_size=8)
    assert errors["num_patches"] == 3 * 9
    assert all(np.isfinite(errors[k]) for k in ("l1_q", "l1_random", "mse_q", "position_accuracy"))
    patches = models.geometry.crop_macro_patches(images, np.array([[0, 0], [4, 8], [8, 4]]))
    result = patch_guided_generate(models, patches)
    png = figure(models, patches, result, images, np.array([[0, 0], [4, 8], [8, 4]]), scale=2)
    assert png.shape == (2 * (3 * 18 + 2), 2 * (4 * 18 + 2), 3) and png.dtype == np.uint8
