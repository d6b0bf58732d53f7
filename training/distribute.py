"""Distribution strategies and numeric precision of a training run (docs/scaling.md).

Strategies (`make_strategy`)
----------------------------
* ``default``      -- `tf.distribute.get_strategy()`: one device, no replication.
* ``mirrored``     -- `tf.distribute.MirroredStrategy` over this host's GPUs; on a CPU-only
                      host `num_cpu_devices=N` first splits the CPU into N logical devices
                      (for tests and demos: same numerics as N GPUs, no speed-up).
* ``multi_worker`` -- `tf.distribute.MultiWorkerMirroredStrategy`; the cluster comes from the
                      ``TF_CONFIG`` environment variable of each worker process.

Batch sizes: ``train_params.batch_size`` is the **global** batch of one iteration; each of the
R replicas (devices x workers) gets ``batch_size / R`` rows. The random numbers of an iteration
(z, GP epsilon, macro positions) are drawn for the global batch and sliced per replica
(training/step.py), and the dataset is split by rows (`distribute_dataset`), so R replicas see
exactly the rows one device would.

Gradients: losses are divided by R inside the replica (CocoGanStep._scale) and Keras 3.15's
TensorFlow optimizers all-reduce (SUM) the gradients inside ``apply_gradients`` when called in
a replica context (keras/src/backend/tensorflow/optimizer.py `_all_reduce_sum_gradients`); the
sum of R per-replica means over B/R rows is the mean over B rows. tests/test_distribute.py
checks the result against one device.

Precision (`precision_policy`): ``none`` (float32), ``mixed_bfloat16`` or ``mixed_float16``
Keras dtype policies for the models; variables stay float32, spectral norm's power iteration,
batch-norm statistics, the losses and the gradient penalty's norm are computed in float32.
``mixed_float16`` wraps the optimizers in `keras.optimizers.LossScaleOptimizer` (dynamic loss
scaling; CocoGanStep scales the loss and the optimizer unscales and skips non-finite steps).
"""

from __future__ import annotations

import contextlib
import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("none", "mixed_bfloat16", "mixed_float16")


def split_cpu(num_devices: int) -> None:
    """Split the (first) physical CPU into `num_devices` logical devices.

    Must run before TensorFlow initialises its devices (before the first op); a later call
    raises a RuntimeError with an explanation instead of TensorFlow's.
    """
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
        )
    except RuntimeError as e:
        raise RuntimeError(
            f"cannot split the CPU into {num_devices} logical devices: TensorFlow is "
            f"already initialised in this process ({e}); call make_strategy first"
        ) from None


def make_strategy(name: str = "default", num_cpu_devices: int | None = None) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name` (one of STRATEGIES).

    `num_cpu_devices` (mirrored only): on a host without GPUs, replicate over that many
    logical CPU devices.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} is not one of {list(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable "
                "(cluster and task of this worker); see docs/scaling.md"
            )
        json.loads(os.environ["TF_CONFIG"])  # a malformed TF_CONFIG fails here, readably
        return tf.distribute.MultiWorkerMirroredStrategy()
    if num_cpu_devices and not tf.config.list_physical_devices("GPU"):
        split_cpu(int(num_cpu_devices))
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MirroredStrategy()


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """Split every global batch by rows across replicas (and workers).

    Sharding by data (not by file) keeps the global batch k of a distributed run equal to
    batch k of one device, so exact resume (data/pipeline.py) and the per-replica slicing of
    the random numbers stay valid; each worker reads the whole stream.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


@contextlib.contextmanager
def precision_policy(name: str):
    """Models built inside use the Keras dtype policy `name` ('none' = float32).

    The global policy is restored on exit: layers keep the policy they were built with, and
    later models (e.g. generation tools in the same process) are unaffected.
    """
    if name not in PRECISIONS:
        raise ValueError(f"mixed_precision {name!r} is not one of {list(PRECISIONS)}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32" if name == "none" else name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def wrap_for_loss_scaling(optimizers: dict, precision: str) -> dict:
    """float16 needs dynamic loss scaling; bfloat16 has float32's exponent range and does not."""
    if precision != "mixed_float16":
        return optimizers
    return {k: keras.optimizers.LossScaleOptimizer(opt, name=f"{opt.name}_loss_scale") for k, opt in optimizers.items()}


__all__ = [
    "STRATEGIES",
    "PRECISIONS",
    "make_strategy",
    "split_cpu",
    "distribute_dataset",
    "precision_policy",
    "wrap_for_loss_scaling",
]
