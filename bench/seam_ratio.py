"""Seam ratio (generation/seams.py) of a run's sample grids, and of real images for reference.

Reads LOGDIR/config.yaml for the image and micro-patch sizes, then every LOGDIR/samples_*.png
grid the training loop wrote (one ratio per checkpoint). With --real it also scores
--num_real preprocessed real images of the same configuration (about 1.0 when seamless).
With --samples N it also scores N fresh samples of the newest (or --checkpoint) checkpoint in
inference mode: a steadier figure than one 32-image grid, for comparing runs.

    python bench/seam_ratio.py logs/celeba32_cpu --real --data_dir DIR/celeba_10k
    python bench/seam_ratio.py logs/MNIST_32x32_N2M2S32 --real
    python bench/seam_ratio.py logs/celeba32_cpu --samples 1024

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
from generation.seams import format_seam_ratio, seam_ratio_or_none  # noqa: E402
from geometry import PatchGeometry  # noqa: E402

GRID_PAD = 2  # generation.sampling.image_grid's default padding


def grid_tiles(path, height: int, width: int, pad: int = GRID_PAD) -> np.ndarray:
    """Cut a sample grid PNG back into its images [N, H, W, C]."""
    import tensorflow as tf

    grid = tf.io.decode_png(tf.io.read_file(str(path))).numpy()
    rows, cols = (grid.shape[0] - pad) // (height + pad), (grid.shape[1] - pad) // (width + pad)
    tiles = [
        grid[
            pad + r * (height + pad) : pad + r * (height + pad) + height,
            pad + c * (width + pad) : pad + c * (width + pad) + width,
        ]
        for r in range(rows)
        for c in range(cols)
    ]
    tiles = np.stack(tiles)
    return tiles[tiles.reshape(len(tiles), -1).min(axis=1) < 255]  # drop blank filler cells


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=pathlib.Path)
    parser.add_argument("--real", action="store_true", help="score real images of the run's dataset too")
    parser.add_argument("--data_dir", help="the dataset folder (default: the config's data_dir)")
    parser.add_argument("--num_real", type=int, default=256)
    parser.add_argument("--samples", type=int, default=0, help="score this many new samples of a checkpoint")
    parser.add_argument("--checkpoint", help="checkpoint path for --samples (default: the newest)")
    args = parser.parse_args(argv)
    if args.samples < 0 or args.num_real < 1:
        raise UserError(f"--samples must be >= 0 and --num_real >= 1 (got {args.samples}, {args.num_real})")
    from generation.restore import read_run_config

    config = read_run_config(args.logdir)
    geo = PatchGeometry.from_config(config)
    grids = sorted(args.logdir.glob("samples_*.png"))
    if not grids and not args.samples:
        raise UserError(f"no samples_*.png grids in {args.logdir}")
    for path in grids:
        ratio = seam_ratio_or_none(grid_tiles(path, *geo.full_size), geo.micro_size)
        print(f"{path.name}  seam ratio {format_seam_ratio(ratio)}")
    if args.real:
        from data.pipeline import make_full_image_dataset

        real = next(iter(make_full_image_dataset(config, args.num_real, data_dir=args.data_dir, shuffle=True)))
        print(
            f"real images ({len(real)})  seam ratio {format_seam_ratio(seam_ratio_or_none(real.numpy(), geo.micro_size))}"
        )
    if args.samples:
        from generation.restore import load_generator, make_full_image_sampler

        loaded = load_generator(args.logdir, args.checkpoint)
        fake = make_full_image_sampler(loaded)(args.samples, seed=1)
        print(
            f"{pathlib.Path(loaded.source).name} ({args.samples} samples, inference mode)  "
            f"seam ratio {format_seam_ratio(seam_ratio_or_none(fake, geo.micro_size))}"
        )


if __name__ == "__main__":
    exit_on_user_error(main)
