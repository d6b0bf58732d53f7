"""Beyond-boundary fine-tuning: positions past the border, the masked spatial loss, the block
subset G's extrapolation optimizer updates, and the warm start from a regular checkpoint."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny

from configs import UserError, replace
from geometry import PatchGeometry
from losses import masked_spatial_loss, spatial_consistency_loss
from training.extrapolation import ExtrapolationStep
from training.loop import Trainer
from training.state import CHECKPOINT_DIR, CONFIG_FILE, build_training_state, checkpoint_manager
from training.warm_start import restore_or_warm_start


def tiny_extrap(**train):
    """tiny with micro 8 (R = 4, m = 2: 3 macro positions per axis) and 3 generator blocks."""
    return tiny(
        data={"full_image_size": [32, 32], "macro_patch_size": [16, 16], "micro_patch_size": [8, 8]},
        model={"g_extra_layers": 1},
        loss={"coord_loss_w": 10000},
        **{"train_extrap": True, "num_extrap_steps": 1, "extrap_g_blocks": [0, 1], **train},
    )


def tiny_fine_tuning(**train):
    """tiny's own geometry (micro 4, macro 8: 3 macro positions per axis) fine-tuning G's block 0: for the
    Trainer's warm start, compiled step and resume, a smaller traced step than tiny_extrap's (the step's parts
    are the tests above's)."""
    return tiny(
        loss={"coord_loss_w": 10000}, **{"train_extrap": True, "num_extrap_steps": 1, "extrap_g_blocks": [0], **train}
    )


@pytest.fixture(scope="module")
def state_and_step():
    config = tiny_extrap()
    state = build_training_state(config)
    return state, ExtrapolationStep.from_state(config, state)


@pytest.fixture
def step(state_and_step):
    return state_and_step[1]


def test_masked_spatial_loss_keeps_the_value_and_stops_only_out_of_range_rows():
    pred = tf.constant([[0.1, -0.2], [0.5, 0.9], [-0.3, 0.3]])
    target = tf.constant([[0.0, 0.0], [1.0, 5 / 3], [-1.0, -5 / 3]])
    inside = tf.constant([True, False, False])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(pred)
        masked = masked_spatial_loss(pred, target, inside, 100.0)
        plain = spatial_consistency_loss(pred, target, 100.0)
    np.testing.assert_allclose(masked["loss"], plain["loss"], rtol=1e-6)
    g_masked, g_plain = tape.gradient(masked["loss"], pred).numpy(), tape.gradient(plain["loss"], pred).numpy()
    np.testing.assert_allclose(g_masked[0], g_plain[0], rtol=1e-6)  # in range: the ordinary gradient
    assert np.all(g_masked[1:] == 0) and np.all(g_plain[1:] != 0)  # out of range: none at all
    assert masked["oob_fraction"].numpy() == pytest.approx(2 / 3)


def test_extrapolated_positions_reach_one_micro_patch_past_every_border_and_are_keyed_on_the_step(step):
    seen = np.concatenate([step.extrap_offsets(tf.constant(s, tf.int64), 4).numpy() for s in range(60)])
    assert set(seen[:, 0]) == set(seen[:, 1]) == {-8, 0, 8, 16, 24}  # positions -1..3 of 0..2, stride 8
    coords = PatchGeometry.from_config(step.config).macro_coords(np.array([[-8, 24]])).numpy()
    np.testing.assert_allclose(coords, [[-2.0, 2.0]])  # c_M = -1 + 2 i / (R - m), i = -1 and 3
    a = step.extrap_offsets(tf.constant(7, tf.int64), 4).numpy()
    np.testing.assert_array_equal(a, step.extrap_offsets(tf.constant(7, tf.int64), 4).numpy())
    assert not np.array_equal(a, step.extrap_offsets(tf.constant(8, tf.int64), 4).numpy())


def test_extrapolation_g_step_updates_only_the_configured_generator_blocks(step):
    assert [v.path for v in step.g_extrap_vars] == [
        v.path for b in (0, 1) for v in step.G.blocks[b].trainable_variables
    ]
    offsets = tf.constant([[-8, -8], [0, 24], [8, 8], [24, 0]])
    z = step.sample_z(tf.constant(1, tf.int64), 4)
    g_before = [v.numpy().copy() for v in step.G.trainable_variables]
    d_before = [v.numpy().copy() for v in step.d_vars]
    metrics = step.extrap_g_step(offsets, z)
    assert np.isfinite(float(metrics["extrap/loss_g"]))
    chosen = {id(v) for v in step.g_extrap_vars}
    changed = {id(v) for v, b in zip(step.G.trainable_variables, g_before) if not np.array_equal(v.numpy(), b)}
    assert changed == chosen  # blocks 0 and 1 moved; block 2, the input layer and the head did not
    assert all(np.array_equal(v.numpy(), b) for v, b in zip(step.d_vars, d_before))
    assert int(step.opt["g_extrap"].iterations.numpy()) == 1 and int(step.opt["g"].iterations.numpy()) == 0


def test_out_of_range_spatial_loss_does_not_reach_the_generator(step):
    z = step.sample_z(tf.constant(2, tf.int64), 4)

    def spatial_grads(offsets):
        with tf.GradientTape() as tape:
            _, parts = step.extrap_g_objective(tf.constant(offsets), z)
        return parts["spatial"], tape.gradient(parts["spatial"], step.g_extrap_vars)

    value, grads = spatial_grads([[-8, 0], [24, 8], [0, -8], [16, 24]])  # all beyond a border
    assert float(value) > 0 and all(g is None or not np.any(g.numpy()) for g in grads)
    value, grads = spatial_grads([[0, 0], [8, 16], [16, 8], [0, 16]])  # all inside: G does get gradient
    assert any(g is not None and np.any(g.numpy()) for g in grads)


@pytest.mark.slow
def test_fine_tuning_warm_starts_from_a_regular_checkpoint_lists_new_variables_then_resumes(tmp_path, state_and_step):
    regular = replace(
        tiny_fine_tuning(),
        train_params={"train_extrap": False, "num_extrap_steps": 0},
        loss_params={"coord_loss_w": 100},
    )
    # A regular run at step 2 laid out as training writes it, its generator moved off the initialisation
    # (so that the comparison below shows the weights were loaded): no regular training needed.
    regular_state = build_training_state(regular)
    for variable in regular_state.generator.variables:
        if tf.as_dtype(variable.dtype).is_floating:
            variable.assign(variable + 0.25)
    regular_state.step.assign(2)
    (tmp_path / "regular").mkdir()
    (tmp_path / "regular" / CONFIG_FILE).write_text(regular.to_yaml())
    checkpoint_manager(regular_state, tmp_path / "regular").save(checkpoint_number=2)
    source = tmp_path / "regular" / CHECKPOINT_DIR

    with pytest.raises(UserError, match="force_load_from_dir"):  # fine-tuning needs a trained model
        restore_or_warm_start(state_and_step[0], checkpoint_manager(state_and_step[0], tmp_path / "none"))

    logs = []
    config = tiny_fine_tuning(total_steps=3, force_load_from_dir=str(source))
    trainer = Trainer(config, tmp_path / "extrap", log=logs.append)
    assert trainer.start_step == 2  # the step continues from the regular run, as upstream
    message = logs[0]
    assert message.startswith(f"Warm start from {source}") and "initialised fresh" in message
    assert "optimizer g_extrap/" in message and "optimizer d_extrap/" in message
    assert "generator/" not in message and "optimizer g/" not in message  # those were restored
    reference = build_training_state(regular)
    tf.train.Checkpoint(generator=reference.models["generator"]).restore(
        tf.train.latest_checkpoint(str(source))
    ).expect_partial()
    for a, b, c in zip(
        trainer.state.generator.variables, reference.generator.variables, regular_state.generator.variables
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    metrics = trainer.fit()
    assert {"extrap/loss_d", "extrap/loss_g", "extrap/oob_fraction"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    assert int(trainer.state.optimizers["g_extrap"].iterations.numpy()) == 1

    logs.clear()
    resumed = Trainer(
        tiny_fine_tuning(total_steps=4, force_load_from_dir=str(source)), tmp_path / "extrap", log=logs.append
    )
    assert resumed.start_step == 3 and not any("Warm start" in line for line in logs)
    assert int(resumed.state.optimizers["g_extrap"].iterations.numpy()) == 1  # its slots were saved
