"""Restoring a generator for inference from a log directory (training/state.py layout)."""

import numpy as np
import pytest
from helpers import load_bench, tiny, untrained_run

from configs import UserError
from generation.restore import full_image_sampler, load_generator, resolve_checkpoint
from generation.sampling import generate_full_images, sample_latents
from training.state import CONFIG_FILE


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tiny_run")
    state = untrained_run(logdir, tiny(), step=7)
    return logdir, state


def test_restored_generator_equals_saved_one(tiny_run, capsys):
    logdir, state = tiny_run
    loaded = load_generator(logdir)
    assert loaded.step == 7 and loaded.source.endswith("ckpt-7")
    assert "warning" not in capsys.readouterr().err  # every generator variable was restored
    for saved, restored in zip(state.generator.variables, loaded.generator.variables):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy(), err_msg=saved.path)
    z = sample_latents(3, loaded.z_dim, seed=1)
    want = generate_full_images(state.generator, loaded.geometry, z)
    got = generate_full_images(loaded.patches, loaded.geometry, z)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_full_image_sampler_is_reproducible(tiny_run):
    logdir, state = tiny_run
    config, sample = full_image_sampler(logdir, batch_size=2)
    a, b = sample(5, seed=3), sample(5, seed=3)
    assert a.shape == (5, 16, 16, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 1.0
    assert not np.array_equal(a, sample(5, seed=4))


def test_user_errors(tmp_path, tiny_run):
    with pytest.raises(UserError, match="does not exist"):
        load_generator(tmp_path / "nope")
    with pytest.raises(UserError, match="config.yaml"):
        load_generator(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(tiny().to_yaml())
    with pytest.raises(UserError, match="no checkpoint"):
        load_generator(tmp_path)
    logdir, _ = tiny_run
    assert resolve_checkpoint(logdir, 7).endswith("ckpt-7")
    assert resolve_checkpoint(logdir, "ckpt-7").endswith("ckpt-7")
    with pytest.raises(UserError, match="not found"):
        resolve_checkpoint(logdir, 8)


def test_checkpoint_saves_every_generator_variable(tiny_run):
    """Keras 3 hides layers kept in a Python list from tf.train.Checkpoint unless models/ tracks them."""
    from generation.restore import unreachable_variables

    _, state = tiny_run
    assert unreachable_variables(state.checkpoint, state.generator) == []


def test_seam_ratio_bench_scores_fresh_samples_of_the_checkpoint(tiny_run, capsys):
    from generation.seams import seam_ratio

    bench = load_bench("seam_ratio")
    logdir, _ = tiny_run
    bench.main([str(logdir), "--samples", "6"])
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    config, sample = full_image_sampler(logdir)
    want = seam_ratio(sample(6, seed=1), config.data_params.micro_patch_size)
    assert printed.startswith("ckpt-7 (6 samples, inference mode)")
    assert float(printed.split()[-1]) == pytest.approx(want, abs=1e-3)


def test_critic_seams_bench_scores_the_runs_own_batches_with_the_restored_critic(tiny_run, capsys):
    from data.pipeline import make_training_dataset
    from training.step import CocoGanStep

    logdir, state = tiny_run
    rows = load_bench("critic_seams").main([str(logdir), "--batches", "2", "--sigma", "0", "0.3"])
    names = [row[0] for row in rows]
    assert names == ["real", "real + seams sigma 0", "real + seams sigma 0.3", "fake (training-mode G)"]
    (_, real_ratio, real_logit, n), zero, strong, fake = rows
    # Independent oracle: the saved state's D on the same two batches of the run's pipeline (seed 7).
    step = CocoGanStep(state.config, state.models, state.optimizers)
    data = iter(make_training_dataset(state.config, seed=7))
    want = np.concatenate(
        [
            step.D((b["macro_patches"], step.geo.macro_coords(b["macro_offsets"])), training=False)[0].numpy().ravel()
            for b in (next(data), next(data))
        ]
    )
    assert n == len(want) == 2 * state.config.train_params.batch_size
    assert real_logit == pytest.approx(want.mean(), abs=1e-5)
    assert zero[1:] == pytest.approx((real_ratio, real_logit, n))  # sigma 0 changes nothing
    assert strong[1] > real_ratio and np.isfinite([strong[2], fake[1], fake[2]]).all()
    assert "minus real" in capsys.readouterr().out
