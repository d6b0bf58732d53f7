"""Small helpers shared by the training-loop tests (tests/ is on sys.path under pytest)."""

import importlib
import pathlib
import sys

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
