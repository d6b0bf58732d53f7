"""Test-time applications of a trained COCO-GAN (paper §3.2-3.5), from a log directory.

    python generate.py --logdir logs/X --mode samples --num 16 --seed 0
    python generate.py --logdir logs/X --mode interpolate --steps 8
    python generate.py --logdir logs/X --mode viewport --viewport 0,16,32,16
    python generate.py --logdir logs/X --mode beyond --extra 1
    python generate.py --logdir logs/P --mode panorama        # cylindrical models only
    python generate.py --logdir logs/X --mode highres --grid 64,64 --layout stretch
    python generate.py --logdir logs/X --mode export --export_dir exports/X
    python generate.py --logdir logs/Q --mode patch_guided --data_dir DIR --first_image 5000 --num 200

--logdir may also be an export directory (made by --mode export). The newest checkpoint is
used unless --checkpoint names one (a step number, "ckpt-N" or a path prefix). Outputs go
to --out (default LOGDIR/generated); --tb_logdir also writes them as TensorBoard images.
The same --seed gives the same latents in every mode, so a viewport or the centre of a
beyond-boundary image is a crop of the sample with that seed.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging

from configs import UserError
from configs.errors import run_cli
from generation import modes  # light: the modes import TensorFlow when they run

MODE_NAMES = ("samples", "interpolate", "viewport", "beyond", "panorama", "highres", "export", "patch_guided")

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "samples", MODE_NAMES, "What to generate.")
flags.DEFINE_string(
    "logdir", None, "Log directory of a training run (config.yaml + checkpoints/) or an export directory."
)
flags.DEFINE_string("checkpoint", None, "Checkpoint to use: a step, 'ckpt-N' or a path prefix (default: newest).")
flags.DEFINE_string("out", None, "Output directory (default: LOGDIR/generated).")
flags.DEFINE_integer("seed", 0, "Seed of the latents z ~ U[-1, 1].")
flags.DEFINE_integer(
    "num",
    None,
    "Number of images (default per mode: samples 16, interpolate 4, viewport 4, beyond 4, panorama 2, highres 1).",
)
flags.DEFINE_integer("batch_size", 16, "Latents generated at once (each is R_h x R_w micro patches).")
flags.DEFINE_string("tb_logdir", None, "Also write the images as TensorBoard image summaries here.")
# interpolate
flags.DEFINE_integer("steps", 8, "interpolate: images along each latent slerp path.")
flags.DEFINE_integer(
    "coord_steps",
    None,
    "interpolate: coordinate values per axis of the spatial "
    "interpolation (default 2R - 1: the training coordinates and the midpoints between them).",
)
flags.DEFINE_string("index", None, "interpolate: micro patch 'row,col' for the micro-patch slerp (default: centre).")
flags.DEFINE_integer("gif_ms", 100, "interpolate: milliseconds per GIF frame.")
# viewport
flags.DEFINE_string(
    "viewport",
    None,
    "viewport: 'top,left,height,width' in pixels of the full image, multiples of the micro patch size.",
)
# beyond
flags.DEFINE_integer("extra", 1, "beyond: micro patches added on every side.")
flags.DEFINE_boolean("overlay", True, "beyond: also write a copy with the in-boundary region outlined.")
# panorama
flags.DEFINE_float("turns", 1.0, "panorama: width in turns of 360 degrees.")
# highres
flags.DEFINE_string(
    "grid", None, "highres: micro patches 'rows,cols' (or one number) of the output (default: the model's own grid)."
)
flags.DEFINE_enum(
    "layout",
    "extrapolate",
    ["extrapolate", "stretch"],
    "highres: coordinates of a larger grid: "
    "'extrapolate' grows the training grid past [-1, 1]; 'stretch' spreads the patches over [-1, 1].",
)
flags.DEFINE_integer("patch_batch", 64, "highres: micro patches per generator call (bounds the memory).")
flags.DEFINE_list("formats", ["npy", "png"], "highres: outputs, streamed row band by row band.")
# export
flags.DEFINE_string("export_dir", None, "export: SavedModel directory (default: LOGDIR/export).")
# patch_guided
flags.DEFINE_string("data_dir", None, "patch_guided: folder of real images (default: the run's data_params.data_dir).")
flags.DEFINE_integer(
    "first_image",
    0,
    "patch_guided: index of the first image in sorted file order "
    "(e.g. 5000 for held-out images 005001... when training used the first 5000).",
)


class Mode(NamedTuple):
    """A generation mode: its function in generation/modes.py, the flags it takes (as keyword
    arguments of the same names) and its default --num."""

    run: Callable
    flags: tuple
    num: int = 0


MODES = {
    "samples": Mode(modes.run_samples, ("seed", "num", "batch_size"), 16),
    "interpolate": Mode(modes.run_interpolate, ("seed", "num", "steps", "coord_steps", "index", "gif_ms"), 4),
    "viewport": Mode(modes.run_viewport, ("seed", "num", "batch_size", "viewport"), 4),
    "beyond": Mode(modes.run_beyond, ("seed", "num", "batch_size", "extra", "overlay"), 4),
    "panorama": Mode(modes.run_panorama, ("seed", "num", "batch_size", "turns"), 2),
    "highres": Mode(modes.run_highres, ("seed", "num", "grid", "layout", "patch_batch", "formats"), 1),
    "export": Mode(modes.run_export, ("export_dir",)),
    "patch_guided": Mode(modes.run_patch_guided, ("seed", "num", "batch_size", "data_dir", "first_image"), 8),
}


def mode_arguments(mode: Mode, num: int) -> dict:
    """The keyword arguments of `mode.run` from the flags (num resolved, export_dir defaulted)."""
    values = {name: FLAGS[name].value for name in mode.flags}
    if "num" in values:
        values["num"] = num
    if "export_dir" in values:
        values["export_dir"] = values["export_dir"] or os.path.join(FLAGS.logdir, "export")
    return values


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}; flags look like --mode samples")
    logging.set_verbosity(logging.WARNING)
    if not FLAGS.logdir:
        raise UserError("--logdir is required: the log directory of a training run (or an export directory)")
    mode = MODES[FLAGS.mode]
    num = mode.num if FLAGS.num is None else FLAGS.num
    if "num" in mode.flags and num < 1:
        raise UserError(f"--num={num} must be at least 1")
    if FLAGS.batch_size < 1:
        raise UserError(f"--batch_size={FLAGS.batch_size} must be at least 1")
    from generation.restore import load_generator  # imports TensorFlow: after the cheap checks
    from training.devices import print_device_report

    print_device_report(log=lambda text: print(text, flush=True))
    loaded = load_generator(FLAGS.logdir, FLAGS.checkpoint)
    step = f" (step {loaded.step})" if loaded.step is not None else ""
    print(f"{FLAGS.mode}: generator of {loaded.source}{step}", flush=True)
    out = modes.Outputs(FLAGS.out or os.path.join(FLAGS.logdir, "generated"), FLAGS.tb_logdir, loaded.step, FLAGS.mode)
    mode.run(loaded, out, **mode_arguments(mode, num))


def run():
    """The command line: flags parsed by absl, user errors printed as one line (exit 1)."""
    run_cli(main)


if __name__ == "__main__":
    run()
