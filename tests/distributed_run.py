"""A few iterations of the tiny configuration under a strategy; prints per-step losses as JSON.

Used by tests/test_distribute.py, in a subprocess so that the CPU can be split into logical
devices (or TF_CONFIG read) before TensorFlow initialises:

    python tests/distributed_run.py --strategy mirrored --cpu_devices 2 --sync_batch_norm --out r.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LOSS_KEYS = (
    "loss/d",
    "loss/g",
    "loss/gp",
    "loss/d_adv",
    "loss/spatial_real",
    "loss/spatial_fake",
    "loss/content",
    "loss/q",
)


def tiny_config(sync_batch_norm=False, jit_compile=False, mixed_precision="none", batch_size=4):
    """The tiny configuration with the content head Q trained too (every path of the step runs)."""
    from helpers import tiny  # tests/ is this script's directory (and on sys.path under pytest)

    return tiny(
        loss={"code_loss_w": 1.0},
        sync_batch_norm=sync_batch_norm,
        jit_compile=jit_compile,
        mixed_precision=mixed_precision,
        batch_size=batch_size,
        Q_update_period=1,
    )


def run_steps(config, logdir, strategy, steps: int, inspect=None) -> list:
    """Per-step losses of the first `steps` iterations, through the Trainer's own compiled call; `inspect`, if
    given, is then called with that call and its iterator (e.g. to read the traced graph without tracing again)."""
    from data.pipeline import make_training_dataset
    from training.distribute import distribute_dataset
    from training.loop import Trainer

    trainer = Trainer(config, logdir, strategy=strategy, log=lambda *_: None)
    dataset = make_training_dataset(config, seed=config.train_params.seed, start_batch=0)
    iterator = iter(distribute_dataset(strategy, dataset))
    call = trainer._build_train_calls(1)
    out = []
    for _ in range(steps):
        metrics = call(iterator)
        out.append({k: float(metrics[k]) for k in LOSS_KEYS if k in metrics})
    if inspect is not None:
        inspect(call, iterator)
    trainer.save_checkpoint(steps)  # chief only writes into logdir (checked by the test)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--cpu_devices", type=int, default=None)
    parser.add_argument("--sync_batch_norm", action="store_true")
    parser.add_argument(
        "--also_unsynced",
        action="store_true",
        help="then the first iteration without synchronised statistics (LOGDIR_unsynced)",
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from training.distribute import make_strategy

    strategy = make_strategy(args.strategy, args.cpu_devices)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "losses": run_steps(tiny_config(args.sync_batch_norm), args.logdir, strategy, args.steps),
    }
    if args.also_unsynced:  # a second run in the same process: one start-up and one strategy for both
        # Eagerly (no second trace): this run only shows how far per-replica statistics move the losses.
        import tensorflow as tf

        tf.config.run_functions_eagerly(True)
        try:
            result["losses_unsynced"] = run_steps(tiny_config(False), f"{args.logdir}_unsynced", strategy, 1)
        finally:
            tf.config.run_functions_eagerly(False)
    pathlib.Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
