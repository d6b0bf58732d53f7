"""Small helpers shared by the training-loop tests (tests/ is on sys.path under pytest)."""

import pathlib

from configs import config_path, load_config, replace


def tiny(**train):
    """The tiny test configuration, with train_params overrides."""
    config = load_config(config_path("tiny"))
    return replace(config, train_params=train) if train else config


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
