"""Pipeline-only throughput (images/s) of the CelebA 64x64 training stream (macro 32x32).

Measures `make_training_dataset` alone (no model): listing + validation of the folder,
then `--warmup` batches (tracing, AUTOTUNE ramp-up, file cache) and `--batches` timed
batches, each pulled to numpy. Also times `make_full_image_dataset` (full 64x64 faces).

    python bench/data_throughput.py --data_dir DIR/celeba_10k

DIR/celeba_10k is a folder of aligned CelebA JPEGs (img_align_celeba or a half-resolution copy).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from configs.errors import exit_on_user_error  # noqa: E402
from configs.registry import config_path, replace  # noqa: E402
from configs.schema import load_config  # noqa: E402

DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_10k_89x109"


def _time(iterator, warmup: int, batches: int, batch_size: int):
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    return batches * batch_size / elapsed, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(DEFAULT_DIR), help="folder of img_align_celeba JPEGs")
    parser.add_argument("--config", default="CelebA_64x64_N2M2S32")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the table shows each and the median")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from data import files
    from data.pipeline import make_full_image_dataset, make_training_dataset

    config = replace(load_config(config_path(args.config)), train_params={"batch_size": args.batch_size})
    start = time.perf_counter()
    paths = files.list_valid_images(args.data_dir, kind="celeba", target_size=config.full_size)
    listing = time.perf_counter() - start

    rows = []
    for name, make in (
        ("train: macro patches", lambda: make_training_dataset(config, seed=0, data_dir=args.data_dir)),
        (
            "full images",
            lambda: make_full_image_dataset(
                config, args.batch_size, data_dir=args.data_dir, drop_remainder=True
            ).repeat(),
        ),
    ):
        runs = []
        for _ in range(args.repeats):
            rate, elapsed = _time(iter(make()), args.warmup, args.batches, args.batch_size)
            runs.append(rate)
        rows.append((name, runs))

    print(
        f"CelebA {config.full_size[0]}x{config.full_size[1]}, macro {config.macro_size[0]}, batch "
        f"{args.batch_size}, {len(paths)} files in {args.data_dir}"
    )
    print(f"listing + header/truncation check: {listing:.2f} s ({1e6 * listing / len(paths):.0f} us/file)")
    print(
        f"CPU cores visible: {os.cpu_count()}, TF {tf.__version__}, "
        f"{args.warmup} warm-up + {args.batches} timed batches per run"
    )
    print(f"{'stream':<24}{'median img/s':>14}   runs (img/s)")
    for name, runs in rows:
        median = sorted(runs)[len(runs) // 2]
        print(f"{name:<24}{median:>14.0f}   " + ", ".join(f"{r:.0f}" for r in runs))


if __name__ == "__main__":
    exit_on_user_error(main)
