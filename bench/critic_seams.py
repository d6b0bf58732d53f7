"""Does the critic see seams? D's mean logit on real macro patches, on the same patches with seams.

Restores a run's checkpoint (D and G) and draws real macro patches from the run's own training
pipeline. It scores them clean, then with synthetic seams of each --sigma (every micro patch
shifted by its own per-channel offset, generation.seams.shift_patch_tones), then G's macro patches
as D sees them in training (training-mode batch norm). Each row gives the seam ratio and D's mean
logit. A WGAN critic scores real above fake, so if real patches with seams as strong as G's score
as high as clean ones, D gives G no push against its seams (docs/results.md, Does D see seams?).

    python bench/critic_seams.py logs/celeba32_cpu --data_dir DIR/celeba_10k

DIR/celeba_10k holds aligned CelebA JPEGs (here the first 10,000, at 89x109); the default is the
run's own data_dir.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from configs.errors import UserError, exit_on_user_error  # noqa: E402


def critic_seam_response(
    logdir, checkpoint=None, data_dir=None, batches: int = 8, sigmas=(0.05, 0.1, 0.2), seed: int = 7
) -> list:
    """[(name, seam ratio, mean D logit, number of patches)] for real, real+seams per sigma, fake."""
    import tensorflow as tf

    from data.pipeline import make_training_dataset
    from generation.restore import read_run_config, resolve_checkpoint
    from generation.sampling import sample_latents
    from generation.seams import seam_ratio, shift_patch_tones
    from training.state import build_training_state
    from training.step import CocoGanStep

    logdir = pathlib.Path(logdir)
    config = read_run_config(logdir)
    if tuple(config.data_params.macro_patch_size) == tuple(config.data_params.micro_patch_size):
        raise UserError(f"{logdir}: a macro patch is one micro patch here, so it has no seams for D to see")
    state = build_training_state(config)
    path = resolve_checkpoint(logdir, checkpoint)
    state.checkpoint.restore(path).expect_partial()  # the optimizers' slots are not needed
    step = CocoGanStep(config, state.models, state.optimizers)
    micro = step.geo.micro_size
    z_dim = config.model_params.z_dim

    names = ["real"] + [f"real + seams sigma {s:g}" for s in sigmas] + ["fake (training-mode G)"]
    patches = {name: [] for name in names}
    logits = {name: [] for name in names}
    data = iter(make_training_dataset(config, seed=seed, data_dir=data_dir))
    for i in range(batches):
        batch = next(data)
        real, offsets = batch["macro_patches"], batch["macro_offsets"]
        c_M = step.geo.macro_coords(offsets)
        z = sample_latents(int(real.shape[0]), z_dim, seed=seed * 1000 + i)
        clean = real.numpy()
        variants = [clean] + [shift_patch_tones(clean, micro, s, seed=seed * 1000 + i) for s in sigmas]
        variants.append(step.generate_macro(z, offsets, training=True, update_state=False).numpy())
        for name, x in zip(names, variants):
            patches[name].append(x)
            logits[name].append(step.D((tf.constant(x), c_M), training=False)[0].numpy().ravel())
    rows = []
    for name in names:
        x = np.concatenate(patches[name])
        rows.append((name, seam_ratio(x, micro), float(np.concatenate(logits[name]).mean()), len(x)))
    print(f"{pathlib.Path(path).name}: {rows[0][3]} macro patches per row")
    return rows


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=pathlib.Path)
    parser.add_argument("--checkpoint", help="step, ckpt-<step> or path (default: the newest)")
    parser.add_argument("--data_dir", help="the dataset folder (default: the config's data_dir)")
    parser.add_argument("--batches", type=int, default=8, help="training batches of macro patches to score")
    parser.add_argument(
        "--sigma",
        type=float,
        nargs="+",
        default=[0.05, 0.1, 0.2],
        help="strengths of the synthetic seams (std of each patch's offset, data in [-1, 1])",
    )
    args = parser.parse_args(argv)
    if args.batches < 1 or min(args.sigma) < 0:
        raise UserError(f"--batches must be >= 1 and --sigma >= 0 (got {args.batches}, {args.sigma})")
    rows = critic_seam_response(args.logdir, args.checkpoint, args.data_dir, args.batches, args.sigma)
    real_logit = rows[0][2]
    print(f"{'macro patches':28s} {'seam ratio':>10s} {'mean D logit':>13s} {'minus real':>11s}")
    for name, ratio, logit, _ in rows:
        print(f"{name:28s} {ratio:10.3f} {logit:13.3f} {logit - real_logit:11.3f}")
    return rows


if __name__ == "__main__":
    exit_on_user_error(main)
