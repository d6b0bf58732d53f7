"""What a run will compute on: a one- or two-line device report printed at start.

`device_report` names the devices (each GPU's name, compute capability and memory in use, or
"CPU only (N cores)"), the tf.distribute strategy and its replicas, the dtype policy and
whether XLA compiles the iteration. `cpu_training_warning` adds a warning when a paper
configuration (full size >= 64 at full width, ngf_base >= 64) is about to train with no GPU
visible: it does not stop the run, it says what to expect and how to install GPU support.

Only TensorFlow and configs are imported, so every command line can print the report.
"""

from __future__ import annotations

import os

import tensorflow as tf

# One iteration of configs/CelebA_128x128_N2M2S64.yaml (full width, batch 128): the TensorFlow
# profiler's float-operation count of the traced update graph (D step with the gradient penalty's
# double backward, G step, Adam), as bench/train_benchmark.py counts it: 83.6 GFLOP at batch 2 and
# 166.3 at batch 4, i.e. 41.4 GFLOP per image, 5.2 TFLOP at batch 128.
CELEBA128_TFLOP_PER_ITERATION = 5.2
# An idle 2-core AVX2/FMA CPU reaches ~100 GFLOP/s of float32 convolutions: docs/scaling.md
# measured the step at 70-90 % of the float32 matmul peak, and that peak at 100-150 GFLOP/s.
CPU_GFLOPS_ESTIMATE = 100.0
PAPER_MIN_SIZE = 64
PAPER_MIN_WIDTH = 64


def physical_gpus() -> list:
    """The GPUs TensorFlow sees (a function of its own so that tests can substitute fake ones)."""
    return tf.config.list_physical_devices("GPU")


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _gpu_line(index: int, device) -> str:
    try:
        details = tf.config.experimental.get_device_details(device)
    except (ValueError, RuntimeError):  # unknown to the runtime (e.g. a fake device in tests)
        details = {}
    parts = [details.get("device_name", device.name.replace("/physical_device:", ""))]
    if details.get("compute_capability"):
        parts.append("compute {}.{}".format(*details["compute_capability"]))
    try:
        used = tf.config.experimental.get_memory_info(f"GPU:{index}")["current"]
        parts.append(f"{used / 2**20:.0f} MiB in use")
    except (ValueError, RuntimeError):  # the device is not initialised (yet) in this process
        pass
    return f"GPU:{index} " + ", ".join(parts)


def describe_devices(gpus: list | None = None) -> str:
    """'2 GPUs: GPU:0 NAME (compute 8.0, 512 MiB in use), ...' or 'CPU only (N cores)'."""
    gpus = physical_gpus() if gpus is None else gpus
    if not gpus:
        return f"CPU only ({cpu_cores()} cores)"
    lines = [_gpu_line(i, g) for i, g in enumerate(gpus)]
    head, _, rest = zip(*(line.partition(", ") for line in lines))
    described = [h + (f" ({r})" if r else "") for h, r in zip(head, rest)]
    return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: " + "; ".join(described)


def describe_strategy(strategy: tf.distribute.Strategy | None = None) -> str:
    """'default strategy, 1 replica' or 'MirroredStrategy, 2 replicas on GPU:0, GPU:1'."""
    strategy = strategy or tf.distribute.get_strategy()
    name = type(strategy).__name__
    name = "default strategy" if name.startswith("_Default") else name
    replicas = strategy.num_replicas_in_sync
    text = f"{name}, {replicas} replica{'s' if replicas != 1 else ''}"
    if replicas > 1:
        try:
            devices = strategy.extended.worker_devices
        except (AttributeError, RuntimeError):  # e.g. a multi-worker strategy's remote replicas
            devices = ()
        if devices:
            text += " on " + ", ".join(d.split("device:")[-1] for d in devices)
    return text


def device_report(
    strategy: tf.distribute.Strategy | None = None,
    precision: str | None = None,
    jit_compile: bool | None = None,
    gpus: list | None = None,
) -> str:
    """One line: devices | strategy and replicas | dtype policy | XLA.

    `precision` is the run's train_params.mixed_precision ('none' = float32); None reports the
    current global Keras policy. `jit_compile` None (not a training run) leaves XLA out.
    """
    if precision is None:
        import keras

        policy = keras.mixed_precision.global_policy().name
    else:
        policy = "float32" if precision == "none" else precision
    parts = [f"devices: {describe_devices(gpus)}", describe_strategy(strategy), f"dtype policy {policy}"]
    if jit_compile is not None:
        parts.append(f"XLA {'on' if jit_compile else 'off'}")
    return " | ".join(parts)


def is_paper_scale(config) -> bool:
    """A paper configuration's cost: full size >= 64 and the paper's width (ngf_base >= 64)."""
    size = min(config.data_params.full_image_size)
    return size >= PAPER_MIN_SIZE and config.model_params.ngf_base >= PAPER_MIN_WIDTH


def cpu_training_warning(config, gpus: list | None = None) -> str | None:
    """A warning when a paper-scale configuration trains without a GPU; None otherwise."""
    gpus = physical_gpus() if gpus is None else gpus
    if gpus or not is_paper_scale(config):
        return None
    seconds = CELEBA128_TFLOP_PER_ITERATION * 1e3 / CPU_GFLOPS_ESTIMATE
    h, w = config.data_params.full_image_size
    return (
        f"warning: no GPU visible: {config.log_params.exp_name} ({h}x{w}, ngf_base "
        f"{config.model_params.ngf_base}, batch {config.train_params.batch_size}) will train on "
        f"{cpu_cores()} CPU cores. For scale: one iteration of CelebA 128x128 at full width and batch 128 "
        f"is ~{CELEBA128_TFLOP_PER_ITERATION:g} TFLOP (TensorFlow profiler count, bench/train_benchmark.py), "
        f"i.e. ~{seconds:.0f} s per iteration on a 2-core CPU at ~{CPU_GFLOPS_ESTIMATE:.0f} GFLOP/s "
        f"(~{seconds * 1e5 / 86400:.0f} days for 100k iterations). GPU support: "
        f"pip install -r requirements-gpu.txt (NVIDIA driver >= 525.60.13), then check with "
        f"python bench/gpu_check.py. Training continues."
    )


def print_device_report(strategy=None, config=None, log=print) -> str:
    """Print the device report (and the CPU warning of a training `config`); returns the text."""
    if config is not None:
        tp = config.train_params
        text = device_report(strategy, tp.mixed_precision, bool(tp.jit_compile))
        warning = cpu_training_warning(config)
        if warning:
            text += "\n" + warning
    else:
        text = device_report(strategy)
    log(text)
    return text


__all__ = [
    "CELEBA128_TFLOP_PER_ITERATION",
    "CPU_GFLOPS_ESTIMATE",
    "physical_gpus",
    "cpu_cores",
    "describe_devices",
    "describe_strategy",
    "device_report",
    "is_paper_scale",
    "cpu_training_warning",
    "print_device_report",
]
