"""The layout of a run's log directory that training writes and inference reads.

LOGDIR/config.yaml holds the resolved configuration, LOGDIR/checkpoints/ the checkpoints
(training/state.py writes both; generation/restore.py and eval_fid.py read them). An export
directory (generation/export.py) holds a config.yaml too.
"""

from __future__ import annotations

import pathlib

from configs.errors import ConfigError, UserError
from configs.schema import Config, load_config

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"


def read_run_config(directory: pathlib.Path) -> Config:
    """The config.yaml of a training log directory or export directory (one-line UserError if absent or bad)."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise UserError(
            f"{directory} has no {CONFIG_FILE}: pass the --logdir of a training run "
            f"(or an export directory made by generate.py --mode=export)"
        )
    try:
        return load_config(path)
    except ConfigError as e:
        raise UserError(f"{path} is not a valid configuration ({e})") from None
