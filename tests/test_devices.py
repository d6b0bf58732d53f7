"""The start-up device report (training/devices.py), the CPU warning for paper configurations,
and that the command lines print them."""

import os
import pathlib
import sys

import pytest
import tensorflow as tf
from helpers import import_cli, run_cli_in_process

from configs import config_path, load_config
from training import devices

REPO = pathlib.Path(__file__).resolve().parents[1]


def fake_gpus(n):
    return [tf.config.PhysicalDevice(name=f"/physical_device:GPU:{i}", device_type="GPU") for i in range(n)]


def test_cpu_report_names_cores_strategy_policy_and_xla():
    cores = len(os.sched_getaffinity(0))
    text = devices.device_report(precision="none", jit_compile=True)
    assert text == f"devices: CPU only ({cores} cores) | default strategy, 1 replica | dtype policy float32 | XLA on"
    text = devices.device_report(precision="mixed_bfloat16", jit_compile=False)
    assert text.endswith("| dtype policy mixed_bfloat16 | XLA off")


def test_report_without_a_training_config_shows_the_global_policy_and_no_xla():
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        text = devices.device_report()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert text.endswith("| dtype policy mixed_bfloat16")
    assert "XLA" not in text


def test_fake_gpus_are_listed_with_name_capability_and_memory(monkeypatch):
    details = {0: {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)}, 1: {}}
    monkeypatch.setattr(devices, "physical_gpus", lambda: fake_gpus(2))
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda d: details[int(d.name.rsplit(":", 1)[1])])

    def memory(name):
        if name == "GPU:1":
            raise ValueError("not initialised")
        return {"current": 512 * 2**20, "peak": 600 * 2**20}

    monkeypatch.setattr(tf.config.experimental, "get_memory_info", memory)
    text = devices.describe_devices()
    assert text == "2 GPUs: GPU:0 NVIDIA A100-SXM4-40GB (compute 8.0, 512 MiB in use); GPU:1 GPU:1"
    assert devices.cpu_training_warning(load_config(config_path("CelebA_128x128_N2M2S64"))) is None


def test_replicated_strategy_names_its_devices():
    class Extended:
        worker_devices = (
            "/job:localhost/replica:0/task:0/device:GPU:0",
            "/job:localhost/replica:0/task:0/device:GPU:1",
        )

    class MirroredStrategy:  # stands in for tf.distribute.MirroredStrategy over two GPUs
        num_replicas_in_sync = 2
        extended = Extended()

    assert devices.describe_strategy(MirroredStrategy()) == "MirroredStrategy, 2 replicas on GPU:0, GPU:1"


def test_paper_config_without_gpu_warns_with_the_expected_cpu_time():
    config = load_config(config_path("CelebA_128x128_N2M2S64"))
    warning = devices.cpu_training_warning(config, gpus=[])
    # 5.2 TFLOP per iteration at 100 GFLOP/s: 52 s; 100k iterations: 52e5 s = 60 days
    assert warning.startswith("warning: no GPU visible: CelebA_128x128_N2M2S64 (128x128, ngf_base 64, batch 128)")
    assert "~52 s per iteration" in warning and "~60 days for 100k iterations" in warning
    assert "pip install -r requirements-gpu.txt" in warning
    for name in ("CelebA_64x64_N2M2S32", "LSUN_256x256_N2M2S128", "CelebAHQ_1024x1024_N2M2S512"):
        assert devices.cpu_training_warning(load_config(config_path(name)), gpus=[]) is not None, name


@pytest.mark.parametrize(
    "name", ["tiny", "MNIST_32x32_N2M2S32", "CelebA_64x64_N2M2S32_CPU", "CelebA_32x32_N2M2S16_CPU"]
)
def test_cpu_configs_do_not_warn(name):
    assert devices.cpu_training_warning(load_config(config_path(name)), gpus=[]) is None


def test_main_prints_the_report_and_the_warning_and_still_trains(monkeypatch, capsys, tmp_path):
    from absl import flags

    main = import_cli("main")
    import training.loop

    calls = []
    monkeypatch.setattr(training.loop, "train", lambda config, logdir, strategy: calls.append(config))
    for name, warns in (("CelebA_128x128_N2M2S64", True), ("tiny", False)):
        monkeypatch.setattr(sys, "argv", ["main.py", f"--config={config_path(name)}", f"--logdir={tmp_path / name}"])
        flags.FLAGS.unparse_flags()
        try:
            with pytest.raises(SystemExit) as exit_info:
                main.run()
        finally:
            flags.FLAGS.unparse_flags()
        out = capsys.readouterr().out
        assert exit_info.value.code in (0, None)
        assert f"devices: CPU only ({len(os.sched_getaffinity(0))} cores) | default strategy, 1 replica" in out
        assert ("warning: no GPU visible" in out) == warns
    assert [c.log_params.exp_name for c in calls] == ["CelebA_128x128_N2M2S64", "tiny"]  # the warning does not stop


def test_generate_and_eval_fid_print_the_report_first(tmp_path, capsys):
    """Both command lines in this process (run_cli(main), what `python generate.py` / `python eval_fid.py`
    run); the exit codes of the real scripts are tests/test_generation_cli.py's and test_fid_cli.py's."""
    import numpy as np

    ref = tmp_path / "ref.npz"  # valid statistics: eval_fid.py's input checks pass, the missing run fails later
    np.savez(ref, mu=np.zeros(2048, np.float32), sigma=np.eye(2048, dtype=np.float32))
    commands = {
        "generate": ["--logdir=/nonexistent/run"],
        "eval_fid": ["--mode=checkpoint", "--logdir=/nonexistent/run", f"--ref={ref}"],
    }
    for name, argv in commands.items():
        capsys.readouterr()
        code, out, err = run_cli_in_process(name, argv, capsys)
        assert code == 1, (name, err)  # the bad input still fails as one error line, after the report
        assert out.splitlines()[0].startswith("devices: CPU only ("), (name, out, err)
        assert "error:" in err, name


def test_gpu_requirements_are_the_cpu_pins_plus_the_cuda_extra_of_the_same_tensorflow():
    def pins(name):
        lines = (REPO / name).read_text().splitlines()
        return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]

    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    assert gpu == ["-r requirements.txt", "tensorflow[and-cuda]==2.21.0"]
    assert "tensorflow==2.21.0" in cpu  # pip merges the two into one tensorflow with the extra's packages


# Ops that, with tf.config.experimental.enable_op_determinism() on a GPU, raise UnimplementedError
# (no deterministic GPU kernel) or are moved to the CPU: the TensorFlow determinism RFC
# (tensorflow/community rfcs/20210119-determinism.md) and the 2.8 release notes. Segment sums and
# tf.gather's gradient have had deterministic GPU kernels since 2.7.
NO_DETERMINISTIC_GPU_KERNEL = {
    "ResizeNearestNeighborGrad",  # tf.image.resize(method="nearest") gradient
    "ResizeBicubicGrad",
    "ResizeAreaGrad",
    "CropAndResizeGradImage",
    "CropAndResizeGradBoxes",
    "DepthwiseConv2dNativeBackpropFilter",
    "SparseTensorDenseMatMul",
    "AdjustContrastv2",
    "Bincount",
    "DenseBincount",
    "MaxPoolGrad",  # cuDNN's max-pooling backward is not deterministic
    "ScatterNd",  # the scatter family runs on the CPU under determinism
    "TensorScatterAdd",
    "TensorScatterUpdate",
    "ResourceScatterAdd",
}
HOST_ROUND_TRIPS = {"PyFunc", "EagerPyFunc", "PyFuncStateless"}


def op_types(concrete) -> set:
    """Op types of a traced function and of every function in its library (conds, nested functions)."""
    graph_def = concrete.graph.as_graph_def()
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types |= {node.op for node in function.node_def}
    return types


def test_op_finder_sees_a_resize_gradient():
    # A positive control of op_types: the nearest-neighbour resize gradient is found.
    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.image.resize(x, [8, 8], method="nearest")
        return tape.gradient(y, x)

    assert "ResizeNearestNeighborGrad" in op_types(grad.get_concrete_function(tf.TensorSpec([1, 4, 4, 1])))


# The training iteration's graph (mixed_float16 with its loss-scale conds, Q trained: every path of the step)
# has deterministic GPU kernels, no host round trip and no unseeded random op: tests/test_precision.py,
# test_mixed_float16_with_loss_scaling_stays_finite_and_its_graph_has_deterministic_gpu_kernels, on the graph
# of its own traced run (op_types and the op sets above).
