"""Start a run from another run's checkpoint (official train_params.force_load_from_dir).

Used by beyond-boundary fine-tuning (LSUN_256x256_N2M2S128_Extrapolation starts from a
trained LSUN_256x256_N2M2S128), and by any configuration that sets force_load_from_dir.

Order of precedence when a Trainer starts (`restore_or_warm_start`):
1. the run's own newest checkpoint (`training.state.restore_latest`): a resume;
2. otherwise, if force_load_from_dir is set, the newest checkpoint found there: every
   object the two runs share (networks, the regular optimizers, the step counter) is
   restored; variables the source does not hold (e.g. the extrapolation optimizers' slots)
   keep their initial values and are listed in one message; the warm-started state is
   saved at once as the run's first checkpoint, so later resumes take path 1;
3. otherwise a fresh start, which a beyond-boundary run refuses (the official code asserts
   that extrapolation training loaded a pretrained model).

As upstream (logger.load_ckpt), the step counter continues from the source checkpoint, so
`--steps` / total_steps count from the regular run's step.
"""

from __future__ import annotations

import pathlib

import tensorflow as tf

from configs import ConfigError, UserError, load_config
from training.state import CHECKPOINT_DIR, CONFIG_FILE, restore_latest

# Keys that must agree between the source run and this one (the shapes of every variable).
_SHAPE_KEYS = {
    "data_params": ("full_image_size", "macro_patch_size", "micro_patch_size", "c_dim", "coordinate_system"),
    "model_params": ("z_dim", "spatial_dim", "g_extra_layers", "d_extra_layers", "ngf_base", "ndf_base", "aux_dim"),
}


def find_source_checkpoint(source) -> str:
    """The checkpoint prefix to warm-start from: a checkpoint prefix, a checkpoints dir or a run dir."""
    path = pathlib.Path(str(source))
    if tf.io.gfile.exists(str(path) + ".index"):
        return str(path)
    for directory in (path, path / CHECKPOINT_DIR):
        if directory.is_dir():
            found = tf.train.latest_checkpoint(str(directory))
            if found:
                return found
    raise UserError(
        f"train_params.force_load_from_dir={source}: no checkpoint there; point it at the "
        f"checkpoints directory (or log directory) of a trained run"
    )


def _check_compatible(config, checkpoint: str) -> None:
    """Compare the geometry and model keys with the source run's config.yaml, when there is one."""
    ckpt_dir = pathlib.Path(checkpoint).parent
    for run_dir in (ckpt_dir, ckpt_dir.parent):
        if (run_dir / CONFIG_FILE).is_file():
            try:
                saved = load_config(run_dir / CONFIG_FILE).to_dict()
            except ConfigError:
                return
            new = config.to_dict()
            diffs = [
                f"{s}.{k}: {saved[s][k]!r} (source) vs {new[s][k]!r}"
                for s, keys in _SHAPE_KEYS.items()
                for k in keys
                if saved[s][k] != new[s][k]
            ]
            if diffs:
                raise UserError(f"cannot warm-start from {checkpoint}: the networks differ ({'; '.join(diffs)})")
            return


def _state_variables(state) -> dict:
    """{display name: variable} for every variable of the networks and optimizers."""
    out = {}
    for name, model in state.models.items():
        for v in model.variables:
            out[f"{name}/{v.path}"] = v
    for name, opt in state.optimizers.items():
        for v in opt.variables:
            out[f"optimizer {name}/{v.path}"] = v
    return out


def _not_restored(status, variables: dict) -> list:
    """Names of `variables` the restore did not fill (TF keeps this list internally only)."""
    try:
        restored = {id(obj) for obj in status._checkpoint.object_by_proto_id.values()}
    except AttributeError:  # TF internals moved: report nothing rather than guess
        return []
    return [name for name, v in variables.items() if id(v) not in restored]


def warm_start(state, source, manager=None, log=print) -> int:
    """Restore whatever `state` shares with the newest checkpoint in `source`; returns the step."""
    checkpoint = find_source_checkpoint(source)
    _check_compatible(state.config, checkpoint)
    try:
        status = state.checkpoint.restore(checkpoint).expect_partial()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot warm-start from {checkpoint}: {first[:300]}") from None
    variables = _state_variables(state)
    missing = _not_restored(status, variables)
    if missing and len(missing) == len(variables):
        raise UserError(
            f"cannot warm-start from {checkpoint}: it holds none of this run's variables "
            f"(not a checkpoint of this project's training runs?)"
        )
    step = int(state.step.numpy())
    lines = [
        f"Warm start from {checkpoint} (step {step}): restored {len(variables) - len(missing)} of "
        f"{len(variables)} variables."
    ]
    if missing:
        lines.append(f"Not in that checkpoint, initialised fresh ({len(missing)}):")
        lines += [f"  {name}" for name in missing]
    log("\n".join(lines))
    if manager is not None:
        manager.save(checkpoint_number=step)
    return step


def restore_or_warm_start(state, manager, log=print) -> int:
    """The step a Trainer starts from: its own checkpoint, else force_load_from_dir, else 0."""
    step = restore_latest(state, manager, log)
    if manager.latest_checkpoint:
        return step
    t = state.config.train_params
    if t.force_load_from_dir:
        return warm_start(state, t.force_load_from_dir, manager, log)
    if t.train_extrap:
        raise UserError(
            "beyond-boundary fine-tuning (train_extrap) starts from a trained model: set "
            "train_params.force_load_from_dir to the checkpoints directory of the regular run"
        )
    return step


__all__ = ["warm_start", "restore_or_warm_start", "find_source_checkpoint"]
