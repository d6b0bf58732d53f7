"""Train COCO-GAN.

    python main.py                                  # the embedded MNIST demo (no download)
    python main.py --dataset celeba --size 128 --data_dir /data/img_align_celeba
    python main.py --config configs/LSUN_256x256_N2M2S128.yaml --data_dir /data/lsun_bedroom

A run resumes automatically from the newest checkpoint in --logdir.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags

from configs import PRESETS, UserError
from configs.errors import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "mnist", sorted(PRESETS), "Dataset preset (picks the official configuration).")
flags.DEFINE_integer("size", None, "Training image size (height); selects the preset's configuration.")
flags.DEFINE_string("config", None, "A configuration YAML file; overrides --dataset/--size.")
flags.DEFINE_string("data_dir", None, "Folder of training images (or the TFDS data_dir for tfds_celeba).")
flags.DEFINE_string(
    "logdir", None, "Log directory for checkpoints, TensorBoard and samples (default: ./logs/<exp_name>)."
)
flags.DEFINE_integer("steps", None, "Total training iterations (overrides train_params.total_steps).")
flags.DEFINE_float(
    "train_minutes",
    None,
    "Stop (and save) after this many minutes of training time, counted across resumes "
    "(overrides train_params.total_train_minutes; docs/study.md says what counts).",
)
flags.DEFINE_integer("batch_size", None, "Global batch size (overrides train_params.batch_size).")
flags.DEFINE_integer("seed", None, "Random seed (overrides train_params.seed).")
flags.DEFINE_integer("steps_per_call", None, "Iterations per tf.function call (overrides the config).")
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker"],
    "tf.distribute strategy: one device, MirroredStrategy (this host's GPUs), or "
    "MultiWorkerMirroredStrategy (cluster from TF_CONFIG). --batch_size is global.",
)
flags.DEFINE_integer(
    "cpu_devices",
    None,
    "With --strategy=mirrored on a host without GPUs: split the CPU into this many logical devices (tests and demos).",
)
flags.DEFINE_enum(
    "mixed_precision",
    None,
    ["none", "mixed_bfloat16", "mixed_float16"],
    "Keras dtype policy of the models (overrides train_params.mixed_precision).",
)
flags.DEFINE_boolean("jit_compile", None, "Compile the iteration with XLA (overrides train_params.jit_compile).")
flags.DEFINE_boolean(
    "sync_batch_norm", None, "All-reduce batch statistics across replicas (overrides train_params.sync_batch_norm)."
)
flags.DEFINE_bool(
    "deterministic",
    None,
    "Enable TensorFlow op determinism (overrides "
    "train_params.deterministic): a resumed run repeats an uninterrupted one bit for bit.",
)
flags.DEFINE_string(
    "fid_ref",
    None,
    "Reference statistics .npz for the in-training FID (log_params.fid_ref_stats); see eval_fid.py --mode=stats.",
)


def resolve_from_flags():
    from configs import resolve_config

    overrides = {
        "train_params.total_steps": FLAGS.steps,
        "train_params.total_train_minutes": FLAGS.train_minutes,
        "train_params.batch_size": FLAGS.batch_size,
        "train_params.seed": FLAGS.seed,
        "train_params.steps_per_call": FLAGS.steps_per_call,
        "train_params.deterministic": FLAGS.deterministic,
        "data_params.data_dir": FLAGS.data_dir,
        "log_params.fid_ref_stats": FLAGS.fid_ref,
        "train_params.mixed_precision": FLAGS.mixed_precision,
        "train_params.jit_compile": FLAGS.jit_compile,
        "train_params.sync_batch_norm": FLAGS.sync_batch_norm,
    }
    return resolve_config(FLAGS.dataset, FLAGS.size, FLAGS.config, overrides)


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}; flags look like --dataset celeba")
    config = resolve_from_flags()
    logdir = FLAGS.logdir or os.path.join(config.log_params.log_dir, config.log_params.exp_name)
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise UserError(f"--logdir {logdir} is a file, not a folder; pass a folder")
    from training.distribute import make_strategy  # imports TensorFlow: after the cheap checks above

    strategy = make_strategy(FLAGS.strategy, FLAGS.cpu_devices)  # before TensorFlow's first op
    from training.devices import print_device_report
    from training.loop import train

    print(
        f"Training {config.log_params.exp_name} in {logdir} ({FLAGS.strategy} strategy, "
        f"{strategy.num_replicas_in_sync} replica(s))",
        flush=True,
    )
    print_device_report(strategy, config, log=lambda text: print(text, flush=True))
    train(config, logdir, strategy=strategy)
    print(f"Done. Samples and checkpoints are in {logdir}; run: tensorboard --logdir {logdir}", flush=True)


def run():
    """The command line: flags parsed by absl, user errors printed as one line (exit 1)."""
    run_cli(main)


if __name__ == "__main__":
    run()
