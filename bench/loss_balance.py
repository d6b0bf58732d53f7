"""Which term drives G? The gradient norms of G's adversarial and spatial terms at a checkpoint.

Restores a run's checkpoint (G, D and the spatial head), draws real macro patches and their
positions from the run's own training pipeline, and prints, averaged over --batches batches:

- |dG adv|, |dG spatial|: global norms of the gradients of -E[D(fake)] and of
  coord_loss_w * L_S(fake) with respect to G's weights (training-mode G, as in G's step);
- spatial / adv: their ratio. Far above 1, G mostly serves the spatial head;
- D input-gradient norm: the mean per-patch norm of dD/dx on real patches, which the gradient
  penalty holds near 1 (gp_form wgan_gp) or near sqrt(width * channels) (gp_form official);
- z spread: the per-pixel standard deviation of G's macro patches across 16 latents at one
  position (inference mode), averaged over pixels; near 0, G ignores z.

    python bench/loss_balance.py logs/celeba32_cpu --data_dir DIR/celeba_10k
    python bench/loss_balance.py logs/celeba32_cpu --checkpoint 4500

DIR/celeba_10k holds aligned CelebA JPEGs (here the first 10,000, at 89x109); the default is the
run's own data_dir. docs/results.md (Loss-balance study) shows what it measured.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from configs.errors import UserError, exit_on_user_error  # noqa: E402

Z_SPREAD_LATENTS = 16


def loss_balance(logdir, checkpoint=None, data_dir=None, batches: int = 4, seed: int = 7) -> dict:
    """{adv, spatial, ratio, d_input_grad, z_spread, step} of a run's checkpoint (module docstring)."""
    import numpy as np
    import tensorflow as tf

    from data.pipeline import make_training_dataset
    from generation.restore import read_run_config, resolve_checkpoint
    from losses import spatial_consistency_loss
    from rng import sample_latents
    from training.state import build_training_state
    from training.step import CocoGanStep

    if batches < 1:
        raise UserError(f"--batches must be >= 1 (got {batches})")
    logdir = pathlib.Path(logdir)
    config = read_run_config(logdir)
    state = build_training_state(config)
    path = resolve_checkpoint(logdir, checkpoint)
    state.checkpoint.restore(path).expect_partial()  # the optimizers' slots are not needed
    step = CocoGanStep(config, state.models, state.optimizers)
    data = iter(make_training_dataset(config, seed=seed, data_dir=data_dir))
    adv_norms, spatial_norms, input_norms = [], [], []
    for i in range(batches):
        batch = next(data)
        real, offsets = batch["macro_patches"], batch["macro_offsets"]
        z = sample_latents(int(real.shape[0]), step.z_dim, seed * 1000 + i)
        c_macro = step.geo.macro_coords(offsets)
        # State-free calls (update_state=False): measuring must not move u or the moving statistics.
        with tf.GradientTape(persistent=True) as tape:
            fake = step.generate_macro(z, offsets, training=True, update_state=False)
            logits, h = step.D((fake, c_macro), training=True, update_state=False)
            pred = step.S(h, training=True, update_state=False)
            adv = -tf.reduce_mean(logits)
            spatial = spatial_consistency_loss(pred, c_macro, step.coord_w)["loss"]
        adv_norms.append(float(tf.linalg.global_norm(tape.gradient(adv, step.g_vars))))
        spatial_grads = tape.gradient(spatial, step.g_vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        spatial_norms.append(float(tf.linalg.global_norm(spatial_grads)))
        del tape
        with tf.GradientTape() as tape:
            tape.watch(real)
            real_logits = step.D((real, c_macro), training=True, update_state=False)[0]
        grads = tape.gradient(real_logits, real)  # rows are independent: per-patch input gradients
        input_norms.append(float(tf.reduce_mean(tf.norm(tf.reshape(grads, [grads.shape[0], -1]), axis=1))))
    zs = sample_latents(Z_SPREAD_LATENTS, step.z_dim, seed)
    one_place = tf.repeat(offsets[:1], Z_SPREAD_LATENTS, axis=0)
    spread = np.std(step.generate_macro(zs, one_place, training=False).numpy(), axis=0).mean()
    adv_mean, spatial_mean = float(np.mean(adv_norms)), float(np.mean(spatial_norms))
    return dict(
        step=int(state.step.numpy()),
        adv=adv_mean,
        spatial=spatial_mean,
        ratio=spatial_mean / adv_mean if adv_mean > 0 else float("inf"),
        d_input_grad=float(np.mean(input_norms)),
        z_spread=float(spread),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=pathlib.Path)
    parser.add_argument("--checkpoint", help="checkpoint step or path (default: the newest)")
    parser.add_argument("--data_dir", help="the dataset folder (default: the config's data_dir)")
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args(argv)
    r = loss_balance(args.logdir, args.checkpoint, args.data_dir, args.batches)
    print(
        f"{args.logdir} step {r['step']}: |dG adv| {r['adv']:.4g}  |dG spatial| {r['spatial']:.4g}  "
        f"spatial/adv {r['ratio']:.3g}  D input-gradient norm {r['d_input_grad']:.3g}  z spread {r['z_spread']:.3f}"
    )


if __name__ == "__main__":
    exit_on_user_error(main)
