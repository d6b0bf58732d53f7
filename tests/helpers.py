"""Small helpers shared by the training-loop tests (tests/ is on sys.path under pytest)."""

import importlib
import pathlib
import sys

import numpy as np

from configs import Config, config_path, load_config, replace


def tiny(
    *, data: dict | None = None, model: dict | None = None, loss: dict | None = None, log: dict | None = None, **train
) -> Config:
    """The tiny test configuration (configs/tiny.yaml): keyword arguments override train_params,
    `data`, `model`, `loss` and `log` override data_params, model_params, loss_params, log_params."""
    config = load_config(config_path("tiny"))
    sections = {
        "data_params": data,
        "model_params": model,
        "loss_params": loss,
        "log_params": log,
        "train_params": train,
    }
    sections = {name: values for name, values in sections.items() if values}
    return replace(config, **sections) if sections else config


def untrained_run(path: pathlib.Path, config: Config | None = None, step: int = 7):
    """A log directory as training writes it (config.yaml + checkpoints/ckpt-<step>), untrained weights;
    returns the TrainingState that was saved. `config` defaults to the tiny configuration."""
    from training.state import CONFIG_FILE, build_training_state, checkpoint_manager

    config = config or tiny()
    path.mkdir(parents=True, exist_ok=True)
    state = build_training_state(config)
    state.step.assign(step)
    (path / CONFIG_FILE).write_text(config.to_yaml())
    checkpoint_manager(state, path).save(checkpoint_number=step)
    return state


def quiet(*_):
    """A log function that prints nothing."""


_EAGER_MAIN = """
# main.py's command line with every tf.function run eagerly (no tracing at start-up).
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, {repo!r})
import tensorflow as tf
tf.config.run_functions_eagerly(True)
sys.argv[0] = "main.py"
import main
main.run()
"""


def eager_main_command(argv: list) -> list:
    """The command `python main.py ARGV` with every tf.function run eagerly: for subprocesses whose subject is
    around the step (kills, the study runner), not the compiled step, which then costs no tracing."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    return [sys.executable, "-c", _EAGER_MAIN.format(repo=str(repo)), *argv]


def scalar_events(logdir):
    """(step, tag, value) of every scalar summary in logdir's events files, oldest file first."""
    import tensorflow as tf

    for path in sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "scalars":
                        yield event.step, value.tag, tf.make_ndarray(value.tensor).item()
        except tf.errors.DataLossError:  # the tail of a killed process's file
            pass


def load_bench(name):
    """The module of bench/<name>.py (bench/ is scripts, not a package)."""
    import importlib.util

    script = pathlib.Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CLI_FLAGS: dict = {}  # command-line module -> the absl flag names its import defined


def import_cli(name: str):
    """The command-line module `name` (main, generate, eval_fid) with only its own absl flags defined.

    absl flags are process-wide and several CLIs define the same names (--data_dir, --seed...), so the
    flags of any other CLI imported earlier in this test process are removed first."""
    from absl import flags

    for other in [n for n in _CLI_FLAGS if n != name]:
        for flag in _CLI_FLAGS.pop(other):
            if flag in flags.FLAGS:
                delattr(flags.FLAGS, flag)
        sys.modules.pop(other, None)
    if name not in _CLI_FLAGS:
        sys.modules.pop(name, None)
        importlib.import_module(name)
        _CLI_FLAGS[name] = {flag.name for flag in flags.FLAGS.flags_by_module_dict().get(name, [])}
    return sys.modules[name]


def run_cli_in_process(name: str, argv: list, capsys) -> tuple:
    """The command line `name` (main, generate, eval_fid) in this process with this argv: (exit code, stdout,
    stderr).

    `run()` (main.py, generate.py) or eval_fid.py's run_cli(main) is what `python NAME.py ...` runs."""
    from absl import flags

    from configs.errors import run_cli

    module = import_cli(name)
    entry = module.run if hasattr(module, "run") else lambda: run_cli(module.main)
    old = sys.argv
    sys.argv = [f"{name}.py", *argv]
    flags.FLAGS.unparse_flags()
    try:
        try:
            entry()
        except SystemExit as exit_info:
            code = exit_info.code
        else:
            raise AssertionError(f"{name}: the command line returned without exiting")
    finally:
        sys.argv = old
        flags.FLAGS.unparse_flags()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_main_in_process(argv: list, capsys) -> tuple:
    """main.run() in this process with this argv: (exit code, stderr)."""
    code, _, err = run_cli_in_process("main", argv, capsys)
    return code, err


class TinyFeatures:
    """A stand-in for the Inception network in tests of the code around FID (the study runner, the
    in-training hook): `dim` fixed random projections of the raw pixel values, so a Fréchet distance is a
    dim x dim problem instead of a 2048 x 2048 one. Deterministic: equal images give equal features."""

    def __init__(self, dim: int = 4):
        self.dim = dim

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        flat = images.reshape(len(images), -1).astype(np.float64)
        projection = np.random.default_rng(flat.shape[1]).normal(size=(flat.shape[1], self.dim))
        return flat @ projection / np.sqrt(flat.shape[1])


def use_tiny_fid_features(monkeypatch, dim: int = 4) -> None:
    """Every fid.statistics.FeatureExtractor built from now on (FidMonitor, eval_fid.py, bench/study.py) is a
    TinyFeatures(dim), and .npz statistics of dim-d features load."""
    from fid import statistics

    monkeypatch.setattr(statistics, "FeatureExtractor", lambda *_a, **_k: TinyFeatures(dim))
    monkeypatch.setattr(statistics, "FEATURE_DIM", dim)


_CASES_DRIVER = """
# One command line (module.entry via `call`) for several argv in one fresh process: one start-up.
# Records each case's exit code, stderr and whether TensorFlow had been imported by its end.
import contextlib, io, json, sys
sys.path.insert(0, {repo!r})
from absl import flags
import {module}
from configs.errors import run_cli
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    sys.argv = ["{module}.py", *argv]
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            {call}
        except SystemExit as e:
            code = e.code
    results.append([code, err.getvalue(), "tensorflow" in sys.modules])
print("RESULTS " + json.dumps(results))
"""


def run_cli_cases(module: str, call: str, argvs: list, timeout: int = 600) -> list:
    """[(exit code, stderr, tensorflow imported)] of `call` (e.g. "main.run()") for each argv, all in one
    subprocess of `python -c` (one start-up instead of one per case)."""
    import json
    import subprocess

    repo = pathlib.Path(__file__).resolve().parents[1]
    script = _CASES_DRIVER.format(repo=str(repo), module=module, call=call)
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)], cwd=repo, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")][0]
    return [tuple(r) for r in json.loads(line[8:])]
