"""Distributed training equals one device on the same global batch (docs/scaling.md).

Oracle: the tiny configuration (with Q trained, so every path of the step runs) on the
default strategy, global batch 4. The distributed runs split that batch over 2 replicas
(2 logical CPU devices under MirroredStrategy; 2 worker processes on loopback under
MultiWorkerMirroredStrategy) with synchronised batch statistics, so the mathematics is the
one-device mathematics.

Tolerance: rtol = atol = 1e-4 on every loss of the first 3 iterations. The only difference is
float32 summation order (per-replica partial sums, then an all-reduce, for the gradients and
the batch moments): about 1e-7 relative per reduction, amplified by three Adam updates; the
observed gap is ~1e-6 relative. Without synchronised statistics the 2-row replicas normalise
differently and the losses differ by tens of percent from the first step (a test below
shows that this tolerance detects it).
"""

import json
import os
import pathlib
import socket
import subprocess

import numpy as np
import pytest
from helpers import run_file_code

from training.distribute import make_strategy, precision_policy

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNNER = REPO / "tests" / "distributed_run.py"
STEPS = 3
RTOL = ATOL = 1e-4
TIMEOUT = 600  # seconds; the machine is shared, the runs take ~20-60 s unloaded


@pytest.fixture
def one_device(tiny_q_losses):
    """Per-step losses of the oracle run (default strategy, in this process; tests/conftest.py, shared with
    tests/test_precision.py's float32 oracle). With one replica, synchronised batch statistics are the ordinary
    ones (models/layers.py), so the run without the switch is the synchronised one-device run."""
    assert len(tiny_q_losses) == STEPS
    return tiny_q_losses


def _run(fork_server, tmp_path, name, *args, env=None):
    """`python tests/distributed_run.py ...` as a child of the fork server (tests/conftest.py fork_server): a
    fresh TensorFlow process, which splits the CPU into logical devices or reads TF_CONFIG before its runtime
    starts, without the interpreter start-up."""
    out = tmp_path / f"{name}.json"
    argv = ["--steps", STEPS, "--logdir", tmp_path / name, "--out", out, *args]
    env = {**os.environ, **(env or {})}
    return fork_server.popen(run_file_code(RUNNER), argv, env=env, stderr_to_stdout=True), out


def _result(proc, out):
    try:
        log, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        pytest.fail(f"distributed run timed out after {TIMEOUT}s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    return json.loads(out.read_text())


def _assert_same_losses(got, want, rtol=RTOL, atol=ATOL):
    assert len(got) == len(want) == STEPS
    for step, (g, w) in enumerate(zip(got, want)):
        assert set(g) == set(w)
        for key in w:
            np.testing.assert_allclose(g[key], w[key], rtol=rtol, atol=atol, err_msg=f"{key} at iteration {step + 1}")


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory, fork_server):
    """2 logical CPU devices under MirroredStrategy, one process: the losses with synchronised batch
    statistics, then (same process, fresh Trainer) the first iteration's without."""
    tmp_path = tmp_path_factory.mktemp("mirrored")
    args = ("--strategy", "mirrored", "--cpu_devices", "2", "--sync_batch_norm", "--also_unsynced")
    return _result(*_run(fork_server, tmp_path, "mirrored", *args))


def test_two_logical_cpu_devices_under_mirrored_strategy_match_one_device(mirrored, one_device):
    assert mirrored["replicas"] == 2
    _assert_same_losses(mirrored["losses"], one_device)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_loopback_match_one_device_and_only_the_chief_writes(tmp_path, one_device, fork_server):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    runs = []
    for index in range(2):
        worker_tmp = tmp_path / f"tmp{index}"
        worker_tmp.mkdir()
        env = {
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "TMPDIR": str(worker_tmp),
        }
        runs.append(
            _run(fork_server, tmp_path, f"worker{index}", "--strategy", "multi_worker", "--sync_batch_norm", env=env)
        )
    results = [_result(*run) for run in runs]
    for result in results:
        assert result["replicas"] == 2
        _assert_same_losses(result["losses"], one_device)
    # Checkpoints by the chief only: worker 0 saved ckpt-3; worker 1 took part in the save
    # but wrote nothing into its logdir, and its temporary checkpoint directory is gone.
    assert (tmp_path / "worker0" / "checkpoints" / f"ckpt-{STEPS}.index").is_file()
    assert not (tmp_path / "worker1").exists()
    assert not list((tmp_path / "tmp1").glob("coco_gan_worker_ckpt_*"))


def test_per_replica_batch_statistics_differ_from_one_device_beyond_the_tolerance(mirrored, one_device):
    first = mirrored["losses_unsynced"][0]
    assert abs(first["loss/spatial_real"] - one_device[0]["loss/spatial_real"]) > 100 * (
        ATOL + RTOL * abs(one_device[0]["loss/spatial_real"])
    )


def test_strategy_and_precision_names_are_checked():
    with pytest.raises(ValueError, match="not one of"):
        make_strategy("tpu")
    if "TF_CONFIG" not in os.environ:
        with pytest.raises(ValueError, match="TF_CONFIG"):
            make_strategy("multi_worker")
    with pytest.raises(ValueError, match="not one of"):
        with precision_policy("float8"):
            pass
