"""Load a trained generator from a log directory (or an exported SavedModel) for inference.

A log directory holds ``config.yaml`` and ``checkpoints/`` (training/state.py). Only the
generator is restored (``expect_partial``: D, the heads and the optimizers stay in the
checkpoint). Every inference mode then calls ``LoadedGenerator.patches``: one compiled
``tf.function`` (z [N, z_dim], c [N, coord_dim]) -> micro patches [N, p, p, C] with
``training=False``, so batch-norm uses its moving averages and every patch is a function
of (z, c) alone: patches can be produced in any order and batch split and still tile.

An export directory (generation/export.py) works in place of a log directory: it holds
``saved_model.pb`` and the run's ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from configs import Config, UserError
from configs.run_dir import CHECKPOINT_DIR, read_run_config
from generation.export import load_exported
from generation.sampling import generate_grid, sample_latents
from geometry import PatchGeometry
from models import build as models_build


class PatchFunction:
    """(z [N, z_dim], coords [N, coord_dim]) -> micro patches, with the Generator's call protocol.

    ``fn(z, coords)`` is a compiled function; calling the object as ``obj((z, coords))``
    lets it stand in for the Keras Generator in generation/sampling.py.
    """

    def __init__(self, fn: Callable, z_dim: int, coord_dim: int):
        self.fn = fn
        self.z_dim = int(z_dim)
        self.coord_dim = int(coord_dim)

    def __call__(self, inputs, training=False):
        if training:
            raise ValueError("inference only: a PatchFunction always runs with training=False")
        z, coords = inputs
        return self.fn(tf.cast(z, tf.float32), tf.cast(coords, tf.float32))


def compile_patch_function(generator) -> PatchFunction:
    """Wrap a Keras Generator in one tf.function with a [None]-batch signature (no retracing)."""
    spec = (
        tf.TensorSpec([None, generator.z_dim], tf.float32, name="z"),
        tf.TensorSpec([None, generator.coord_dim], tf.float32, name="coords"),
    )

    @tf.function(input_signature=spec)
    def patches(z, coords):
        return generator((z, coords), training=False)

    return PatchFunction(patches, generator.z_dim, generator.coord_dim)


@dataclasses.dataclass
class LoadedGenerator:
    """A generator ready for inference.

    ``generator``: the Keras Generator (or, from a SavedModel, a PatchFunction with the
    same call protocol); ``patches``: the compiled PatchFunction every mode should use;
    ``source``: the checkpoint path or export directory it came from; ``step``: the
    training step of the checkpoint (None when unknown).
    """

    config: Config
    generator: object
    geometry: PatchGeometry
    patches: PatchFunction = None
    source: str = ""
    step: Optional[int] = None

    @property
    def z_dim(self) -> int:
        return self.config.model_params.z_dim


def is_saved_model(path) -> bool:
    return (pathlib.Path(path) / "saved_model.pb").is_file()


def resolve_checkpoint(logdir, checkpoint=None) -> str:
    """The checkpoint prefix to restore: the newest in logdir/checkpoints, or the one asked for.

    ``checkpoint`` may be a step number (ckpt-<step> in logdir/checkpoints), a checkpoint
    name such as "ckpt-2000", or a full path prefix.
    """
    ckpt_dir = pathlib.Path(logdir) / CHECKPOINT_DIR
    if checkpoint is None or str(checkpoint) == "":
        path = tf.train.latest_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
        if not path:
            raise UserError(
                f"no checkpoint in {ckpt_dir}: train first (python main.py --logdir {logdir}) or pass --checkpoint"
            )
        return path
    text = str(checkpoint)
    candidates = [text, str(ckpt_dir / text)]
    if re.fullmatch(r"\d+", text):
        candidates.insert(0, str(ckpt_dir / f"ckpt-{text}"))
    for cand in candidates:
        if tf.io.gfile.exists(cand + ".index"):
            return cand
    available = sorted(p.name[: -len(".index")] for p in ckpt_dir.glob("*.index")) if ckpt_dir.is_dir() else []
    raise UserError(f"checkpoint {text!r} not found in {ckpt_dir}; available: {available or 'none'}")


def build_generator(config: Config):
    """The Generator of `config`, variables created (models.build's construction)."""
    d = config.data_params
    return models_build.build_generator(config.model_params, d.micro_patch_size[0], d.c_dim)


def load_generator(logdir, checkpoint=None) -> LoadedGenerator:
    """Config, generator and geometry of a log directory (newest checkpoint) or export directory."""
    logdir = pathlib.Path(logdir)
    if not logdir.is_dir():
        raise UserError(f"log directory {logdir} does not exist")
    config = read_run_config(logdir)
    geometry = PatchGeometry.from_config(config)
    if is_saved_model(logdir):
        if checkpoint is not None:
            raise UserError(f"{logdir} is an exported SavedModel; --checkpoint applies to log directories only")
        fn = load_exported(logdir)
        pf = PatchFunction(fn, config.model_params.z_dim, config.model_params.spatial_dim)
        return LoadedGenerator(config, pf, geometry, pf, str(logdir), None)
    path = resolve_checkpoint(logdir, checkpoint)
    generator, step = restore_generator(config, path)
    return LoadedGenerator(config, generator, geometry, compile_patch_function(generator), path, step)


def restore_generator(config: Config, path: str):
    """(generator, step) restored from the checkpoint prefix `path` of a training run.

    The checkpoint is read through the same object names training writes (step, generator,
    g_optimizer), everything else is ignored (``expect_partial``). The generator's optimizer
    is included because checkpoints written while Keras 3 did not expose the generator's
    residual blocks (a Python list) as checkpoint dependencies reach the block weights only
    through the optimizer that tracks them. Generator variables such a checkpoint does not
    hold at all (block moving statistics, spectral-norm u vectors) keep their initial
    values and are reported with one warning.
    """
    generator = build_generator(config)
    # Only the slot structure matters here (the restore fills the values, learning rate included),
    # so a default Adam stands in for training/state.py's g_adam.
    optimizer = keras.optimizers.Adam(name="g_adam")
    optimizer.build(generator.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, name="step")
    checkpoint = tf.train.Checkpoint(step=step, generator=generator, g_optimizer=optimizer)
    try:
        status = checkpoint.restore(path).expect_partial()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot restore the generator from {path}: {first[:300]}") from None
    missing = _unrestored(status, generator)
    if missing:
        print(
            f"warning: {path} does not hold {len(missing)} of the generator's {len(generator.variables)} "
            f"variables (e.g. {missing[0]}); they keep their initial values (see generation/restore.py)",
            file=sys.stderr,
            flush=True,
        )
    return generator, int(step.numpy())


def _unrestored(status, model) -> list:
    """Paths of `model` variables the restore did not fill."""
    try:
        restored = status._checkpoint.object_by_proto_id.values()  # TF internals: no public list exists
    except AttributeError:
        return []
    ids = {id(obj) for obj in restored}
    return [v.path for v in model.variables if id(v) not in ids]


def unreachable_variables(root, model) -> list:
    """Paths of `model` variables that a checkpoint of `root` does not save."""
    reachable = {id(obj) for obj in tf.train.TrackableView(root).descendants()}
    return [v.path for v in model.variables if id(v) not in reachable]


def full_image_sampler(logdir, batch_size: int = 64, checkpoint=None):
    """(config, sample_fn) where sample_fn(num, seed) -> float32 numpy [num, H, W, C] in [-1, 1].

    z ~ U[-1, 1] drawn by `sample_latents(num, z_dim, seed)`: the same (num, seed) always gives
    the same images. At most `batch_size` latents (x R_h*R_w micro patches) run at once.
    """
    loaded = load_generator(logdir, checkpoint)
    return loaded.config, make_full_image_sampler(loaded, batch_size)


def make_full_image_sampler(loaded: LoadedGenerator, batch_size: int = 64):
    geo = loaded.geometry
    rows, cols = geo.grid_shape
    idx = geo.grid_indices()

    def sample_fn(num: int, seed: int) -> np.ndarray:
        z = sample_latents(int(num), loaded.z_dim, int(seed))
        out = [
            generate_grid(loaded.patches, geo, z[i : i + batch_size], idx, rows, cols).numpy()
            for i in range(0, int(num), batch_size)
        ]
        if not out:
            h, w = geo.full_size
            return np.zeros([0, h, w, loaded.config.data_params.c_dim], np.float32)
        return np.concatenate(out, 0)

    return sample_fn


# An alias of full_image_sampler (the same function).
sample_full_images_fn = full_image_sampler

__all__ = [
    "LoadedGenerator",
    "PatchFunction",
    "compile_patch_function",
    "load_generator",
    "full_image_sampler",
    "sample_full_images_fn",
    "make_full_image_sampler",
    "resolve_checkpoint",
    "build_generator",
    "is_saved_model",
    "read_run_config",
]
