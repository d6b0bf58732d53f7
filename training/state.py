"""Everything a run saves: networks, all optimizers, the step counter; and how it is restored.

One `tf.train.Checkpoint` holds the whole state. The random state needs no variable of
its own: every random draw of an iteration is keyed on (seed, step) (training/step.py),
and the data pipeline restarts at batch `step` (data/pipeline.py), so the step counter
*is* the RNG and data position. The resolved configuration is written beside the
checkpoints as config.yaml; a later run in the same log directory must agree with it.
"""

from __future__ import annotations

import dataclasses
import pathlib

import keras
import tensorflow as tf

from configs import Config, ConfigError, UserError, load_config
from configs.run_dir import CHECKPOINT_DIR, CONFIG_FILE
from fileio.atomic import write_atomic
from models.build import build_models
from models.layers import set_synchronized_batch_norm
from training.checkpointing import AtomicCheckpointManager, io_error_message
from training.distribute import precision_policy, wrap_for_loss_scaling

# Keys a resumed run may change; anything else must match the checkpoint's run.
RESUMABLE_CHANGES = {
    ("train_params", "total_steps"),
    ("train_params", "total_train_minutes"),
    ("train_params", "steps_per_call"),
    ("data_params", "data_dir"),
    ("train_params", "force_load_from_dir"),
    ("train_params", "epochs"),
    ("train_params", "sync_batch_norm"),
}


def make_adam(config: Config, lr: float, name: str) -> keras.optimizers.Adam:
    """The one Adam of the project: the config's betas and train_params.adam_epsilon.

    adam_epsilon defaults to Keras' 1e-7; the official runs used TF1's AdamOptimizer
    default 1e-8 (docs/switches.md). Keras and TF1 add epsilon in the same place (to the
    uncorrected sqrt(v), with the bias corrections folded into the step size), so with
    1e-8 the update is TF1's.
    """
    t = config.train_params
    epsilon = float(getattr(t, "adam_epsilon", 1e-7))
    return keras.optimizers.Adam(learning_rate=lr, beta_1=t.beta1, beta_2=t.beta2, epsilon=epsilon, name=name)


def make_optimizers(config: Config) -> dict:
    """Adam with TTUR learning rates (G 1e-4, D 4e-4 officially) and the config's betas."""
    t = config.train_params
    return {
        "g": make_adam(config, t.glr, "g_adam"),
        "d": make_adam(config, t.dlr, "d_adam"),
        "q": make_adam(config, t.qlr, "q_adam"),
    }


@dataclasses.dataclass
class TrainingState:
    config: Config
    models: dict
    optimizers: dict
    step: tf.Variable
    checkpoint: tf.train.Checkpoint
    # Seconds spent in training calls (training/loop.py says what counts); float64 so that
    # adding one call's time to hours of total stays exact to the microsecond.
    train_seconds: tf.Variable | None = None

    @property
    def generator(self):
        return self.models["generator"]


def build_training_state(config: Config) -> TrainingState:
    """Models, optimizers (with their slots already built) and the checkpoint object.

    Call inside `strategy.scope()` when distributing. Optimizer variables are created
    now, not lazily at the first update, so a restore fills them at once.
    """
    d = config.data_params
    # Seeded initialisation: two runs with one seed start from the same weights.
    keras.utils.set_random_seed(int(config.train_params.seed))
    t = config.train_params
    with precision_policy(t.mixed_precision):  # layers keep the dtype policy they are built with
        models = build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)
    for model in models.values():
        set_synchronized_batch_norm(model, t.sync_batch_norm)
    optimizers = wrap_for_loss_scaling(make_optimizers(config), t.mixed_precision)
    optimizers["g"].build(models["generator"].trainable_variables)
    optimizers["d"].build(models["discriminator"].trainable_variables + models["spatial_head"].trainable_variables)
    optimizers["q"].build(models["content_head"].trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
    checkpoint = tf.train.Checkpoint(
        step=step,
        train_seconds=train_seconds,
        generator=models["generator"],
        discriminator=models["discriminator"],
        spatial_head=models["spatial_head"],
        content_head=models["content_head"],
        g_optimizer=optimizers["g"],
        d_optimizer=optimizers["d"],
        q_optimizer=optimizers["q"],
    )
    return TrainingState(config, models, optimizers, step, checkpoint, train_seconds)


def config_differences(saved: Config, new: Config) -> list:
    """'section.key: saved -> new' for every key that differs and may not change on resume."""
    diffs = []
    saved_d, new_d = saved.to_dict(), new.to_dict()
    for section, values in new_d.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES or section == "log_params":
                continue
            if saved_d[section].get(key) != value:
                diffs.append(f"{section}.{key}: {saved_d[section].get(key)!r} -> {value!r}")
    return diffs


def check_or_write_config(config: Config, logdir: pathlib.Path, write: bool = True) -> None:
    """Write config.yaml into a new log directory; in an existing one, refuse a conflicting config.

    write=False only checks (the trainer writes after the checkpoint restored, so a failed
    start changes nothing in the log directory)."""
    path = logdir / CONFIG_FILE
    if path.exists():
        try:
            saved = load_config(path)
        except ConfigError as e:
            raise UserError(f"{path} is unreadable ({e}); use a new --logdir") from None
        diffs = config_differences(saved, config)
        if diffs:
            raise UserError(
                f"--logdir {logdir} holds a run with another configuration ({'; '.join(diffs)}); "
                f"use a new --logdir or the saved settings"
            )
    if write:
        write_text_atomic(path, config.to_yaml())


def write_text_atomic(path: pathlib.Path, text: str) -> None:
    """Write-fsync-rename, so a crash never leaves a half-written file; a failed write is a UserError."""
    try:
        write_atomic(path, text)
    except OSError as e:
        raise UserError(io_error_message("write", path, e)) from None


def checkpoint_manager(state: TrainingState, logdir: pathlib.Path) -> AtomicCheckpointManager:
    """Atomic, flushed saves; old checkpoints pruned only after the new one is committed."""
    return AtomicCheckpointManager(
        state.checkpoint, pathlib.Path(logdir) / CHECKPOINT_DIR, max_to_keep=state.config.log_params.max_to_keep
    )


def restore_latest(state: TrainingState, manager: AtomicCheckpointManager, log=print) -> int:
    """Restore the newest checkpoint if there is one; returns the step it resumed from (0 if new).

    A checkpoint that does not load is a one-line UserError that names the newest one that does
    (training/checkpointing.py); nothing in the log directory is changed.
    """
    legacy = _checkpoint_without_train_seconds(state, manager.latest_checkpoint)
    if legacy is None:
        restored = manager.restore_latest(log=log)
    else:  # written before train_seconds existed: restore the rest, the training time starts at 0
        manager.checkpoint = legacy
        try:
            restored = manager.restore_latest(log=log)
        finally:
            manager.checkpoint = state.checkpoint
    if restored is None:
        return 0
    return int(state.step.numpy())


def _checkpoint_without_train_seconds(state: TrainingState, path: str | None) -> tf.train.Checkpoint | None:
    """A checkpoint object of the same state minus train_seconds, when `path` has no train_seconds.

    The manager's restore asserts that every object of the state is in the file, which a
    checkpoint from before the training-time budget fails only for train_seconds.
    """
    if not path:
        return None
    try:
        names = {name for name, _ in tf.train.list_variables(path)}
    except (tf.errors.OpError, ValueError):  # unreadable: the manager's restore reports it
        return None
    if any(name.startswith("train_seconds/") for name in names):
        return None
    root = state.checkpoint  # its children include objects added later (training/extrapolation.py)
    children = tf.train.TrackableView(root).children(root)
    return tf.train.Checkpoint(**{k: v for k, v in children.items() if k not in ("train_seconds", "save_counter")})
