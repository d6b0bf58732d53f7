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
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging

from configs import UserError
from configs.errors import run_cli

MODES = ("samples", "interpolate", "viewport", "beyond", "panorama", "highres", "export", "patch_guided")

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "samples", MODES, "What to generate.")
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


def _pair(text, name):
    from generation.viewport import parse_ints

    return parse_ints(text, 2, name, "two integers 'row,col'")


class Outputs:
    """Writes PNG/GIF files into the output directory (and TensorBoard images) and lists them."""

    def __init__(self, out_dir, tb_logdir=None, step=0, mode=""):
        self.dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.tb_logdir, self.step, self.mode = tb_logdir, step or 0, mode

    def path(self, name):
        return os.path.join(self.dir, name)

    def png(self, name, image, tb=True):
        from generation.sampling import save_png

        save_png(self.path(name), image)
        if tb and self.tb_logdir:
            from generation.tensorboard import write_images

            write_images(self.tb_logdir, f"generate/{self.mode}/{name[:-4]}", image, self.step)
        print(f"wrote {self.path(name)}  ({image.shape[1]}x{image.shape[0]})", flush=True)

    def gif(self, name, frames, duration_ms):
        from generation.gif import save_gif

        scale = max(1, 128 // max(frames.shape[1:3]))
        save_gif(self.path(name), frames, duration_ms, scale=scale)
        print(f"wrote {self.path(name)}  ({len(frames)} frames)", flush=True)


def _latents(loaded, num, seed):
    from generation.sampling import sample_latents

    return sample_latents(num, loaded.z_dim, seed)


def _batched(fn, z, batch_size):
    import numpy as np

    return np.concatenate([fn(z[i : i + batch_size]).numpy() for i in range(0, int(z.shape[0]), batch_size)], 0)


def mode_samples(loaded, out, num):
    from generation.sampling import generate_full_images, image_grid, to_uint8

    z = _latents(loaded, num, FLAGS.seed)
    images = to_uint8(generate_full_images(loaded.patches, loaded.geometry, z, FLAGS.batch_size))
    out.png(f"samples_seed{FLAGS.seed}.png", image_grid(images))


def mode_interpolate(loaded, out, num):
    import numpy as np

    from generation import interpolation as interp
    from generation.sampling import image_grid, to_uint8

    geo = loaded.geometry
    z = _latents(loaded, 2 * num, FLAGS.seed).numpy()
    z0, z1 = z[0::2], z[1::2]
    steps = FLAGS.steps
    # Latent slerp of full images: one row per pair; GIF frame t shows every pair at step t.
    full = np.stack(
        [to_uint8(interp.interpolate_full_images(loaded.patches, geo, a, b, steps)) for a, b in zip(z0, z1)]
    )
    out.png(f"interp_latent_seed{FLAGS.seed}.png", image_grid(full.reshape((-1,) + full.shape[2:]), cols=steps))
    frames = np.stack([image_grid(full[:, t]) for t in range(steps)])
    out.gif(f"interp_latent_seed{FLAGS.seed}.gif", frames, FLAGS.gif_ms)
    # Latent slerp of one micro patch at a fixed coordinate.
    index = _pair(FLAGS.index, "index") if FLAGS.index else (geo.grid_shape[0] // 2, geo.grid_shape[1] // 2)
    micro = np.stack(
        [to_uint8(interp.interpolate_micro_patch(loaded.patches, geo, a, b, steps, index)) for a, b in zip(z0, z1)]
    )
    out.png(
        f"interp_micro_r{index[0]}c{index[1]}_seed{FLAGS.seed}.png",
        image_grid(micro.reshape((-1,) + micro.shape[2:]), cols=steps, pad=1),
    )
    # Spatial interpolation with a fixed z: continuous coordinates across [-1, 1].
    k = FLAGS.coord_steps or 2 * max(geo.grid_shape) - 1
    patches = to_uint8(interp.interpolate_coordinates(loaded.patches, geo, z0[0], k).numpy())
    out.png(
        f"interp_coords_seed{FLAGS.seed}.png", image_grid(patches.reshape((-1,) + patches.shape[2:]), cols=k, pad=1)
    )
    out.gif(f"interp_coords_seed{FLAGS.seed}.gif", patches.reshape((-1,) + patches.shape[2:]), FLAGS.gif_ms)


def mode_viewport(loaded, out, num):
    from generation.sampling import image_grid, to_uint8
    from generation.viewport import generate_viewport, parse_viewport

    if not FLAGS.viewport:
        raise UserError(
            "--mode=viewport needs --viewport=top,left,height,width (pixels, multiples of the "
            f"micro patch size {loaded.geometry.micro_size[0]})"
        )
    top, left, height, width = parse_viewport(FLAGS.viewport)
    geo = loaded.geometry
    z = _latents(loaded, num, FLAGS.seed)
    images = _batched(
        lambda zb: generate_viewport(loaded.patches, geo, zb, top, left, height, width), z, FLAGS.batch_size
    )
    n_view = (height // geo.micro_size[0]) * (width // geo.micro_size[1])
    print(
        f"viewport {height}x{width} at ({top},{left}): {n_view} micro patches per image instead of "
        f"{geo.grid_shape[0] * geo.grid_shape[1]} ({n_view / (geo.grid_shape[0] * geo.grid_shape[1]):.0%})"
    )
    out.png(f"viewport_{top}_{left}_{height}_{width}_seed{FLAGS.seed}.png", image_grid(to_uint8(images)))


def mode_beyond(loaded, out, num):
    from generation import beyond_boundary as bb
    from generation.sampling import image_grid, to_uint8

    geo = loaded.geometry
    bb.check_beyond(geo, FLAGS.extra)
    z = _latents(loaded, num, FLAGS.seed)
    images = to_uint8(
        _batched(lambda zb: bb.generate_beyond(loaded.patches, geo, zb, FLAGS.extra), z, FLAGS.batch_size)
    )
    R_h, R_w = geo.grid_shape
    e = FLAGS.extra
    print(
        f"beyond-boundary: {R_h + 2 * e}x{R_w + 2 * e} micro patches, coordinates to "
        f"±{geo.micro_coord_1d(R_h - 1 + e, 0):.3g} (rows) / ±{geo.micro_coord_1d(R_w - 1 + e, 1):.3g} (cols), "
        f"{images.shape[1]}x{images.shape[2]} pixels from a {geo.full_size[0]}x{geo.full_size[1]} model"
    )
    out.png(f"beyond_e{e}_seed{FLAGS.seed}.png", image_grid(images))
    if FLAGS.overlay:
        marked = bb.mark_boundary(images, bb.in_boundary_box(geo, e))
        out.png(f"beyond_e{e}_marked_seed{FLAGS.seed}.png", image_grid(marked))


def mode_panorama(loaded, out, num):
    from generation import panorama as pano
    from generation.sampling import image_grid, to_uint8

    geo = loaded.geometry
    pano.check_panorama(geo)
    z = _latents(loaded, num, FLAGS.seed)
    full = _batched(lambda zb: pano.generate_panorama(loaded.patches, geo, zb, 1.0), z, FLAGS.batch_size)
    print("seam check (360° panorama, values in [-1, 1]):", pano.seam_report(full, geo.micro_size[1]))
    out.png(f"panorama_seed{FLAGS.seed}.png", image_grid(to_uint8(full), cols=1))
    out.png(f"panorama_tiled_seed{FLAGS.seed}.png", image_grid(to_uint8(pano.tile_horizontally(full, 2)), cols=1))
    if FLAGS.turns != 1.0:
        wide = _batched(lambda zb: pano.generate_panorama(loaded.patches, geo, zb, FLAGS.turns), z, FLAGS.batch_size)
        out.png(f"panorama_turns{FLAGS.turns:g}_seed{FLAGS.seed}.png", image_grid(to_uint8(wide), cols=1))


def mode_highres(loaded, out, num):
    from generation.highres import generate_highres, parse_grid

    geo = loaded.geometry
    grid = parse_grid(FLAGS.grid, geo)
    z = _latents(loaded, num, FLAGS.seed).numpy()
    H, W = grid[0] * geo.micro_size[0], grid[1] * geo.micro_size[1]
    print(
        f"high resolution: {grid[0]}x{grid[1]} micro patches ({FLAGS.layout}) = {H}x{W} pixels per image, "
        f"{FLAGS.patch_batch} patches per call",
        flush=True,
    )
    t0 = time.time()
    last = [0.0]

    def progress(row, rows):
        if time.time() - last[0] > 10 or row == rows:
            last[0] = time.time()
            print(f"  row band {row}/{rows}", flush=True)

    paths = generate_highres(
        loaded.patches,
        geo,
        z,
        grid,
        out.path(f"highres_{H}x{W}_seed{FLAGS.seed}"),
        tuple(FLAGS.formats),
        FLAGS.layout,
        FLAGS.patch_batch,
        progress,
    )
    for path in paths:
        print(f"wrote {path}")
    print(f"{len(z)} image(s) in {time.time() - t0:.1f} s")


def mode_export(loaded, out, num):
    from generation.export import export_generator
    from generation.restore import PatchFunction

    if isinstance(loaded.generator, PatchFunction):
        raise UserError("--mode=export needs a training log directory, not an export directory")
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.logdir, "export")
    path = export_generator(loaded.generator, loaded.config, export_dir)
    print(
        f"exported the generator of {loaded.source} to {path}\n"
        f"  signatures: micro_patches(z [N,{loaded.z_dim}], coords [N,{loaded.geometry.coord_dim}]) -> patches; "
        f"full_images(z [B,{loaded.z_dim}]) -> images"
    )


def mode_patch_guided(loaded, out, num):
    """Paper §3.4 (generation/patch_guided.py): errors over every macro position of `num` images, and a
    figure of the first 8: input patch | generated image with the predicted box | generated | real."""
    import numpy as np
    import tensorflow as tf

    from data.pipeline import make_full_image_dataset
    from generation import patch_guided as pg

    models = pg.restore_patch_guided(loaded.config, loaded.source, generator=loaded.patches)
    images = (
        make_full_image_dataset(loaded.config, FLAGS.batch_size, FLAGS.data_dir, limit=FLAGS.first_image + num)
        .unbatch()
        .skip(FLAGS.first_image)
    )
    images = np.stack(list(images.as_numpy_iterator()))
    if len(images) < num:
        raise UserError(f"--first_image={FLAGS.first_image} --num={num}: only {len(images)} images there")
    print(pg.format_errors(pg.reconstruction_errors(models, images, FLAGS.seed, FLAGS.batch_size * 4)))
    n_rows, n_cols = models.geometry.num_macro_positions
    rng = np.random.default_rng(FLAGS.seed)
    shown = images[:8]
    true = np.stack([rng.integers(0, n_rows, len(shown)), rng.integers(0, n_cols, len(shown))], 1) * np.array(
        models.geometry.micro_size
    )
    patches = models.geometry.crop_macro_patches(tf.constant(shown), true)
    result = pg.patch_guided_generate(models, patches)
    out.png(
        f"patch_guided_first{FLAGS.first_image}_seed{FLAGS.seed}.png", pg.figure(models, patches, result, shown, true)
    )


DEFAULT_NUM = {
    "samples": 16,
    "interpolate": 4,
    "viewport": 4,
    "beyond": 4,
    "panorama": 2,
    "highres": 1,
    "export": 0,
    "patch_guided": 8,
}


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}; flags look like --mode samples")
    logging.set_verbosity(logging.WARNING)
    if not FLAGS.logdir:
        raise UserError("--logdir is required: the log directory of a training run (or an export directory)")
    num = DEFAULT_NUM[FLAGS.mode] if FLAGS.num is None else FLAGS.num
    if FLAGS.mode != "export" and num < 1:
        raise UserError(f"--num={num} must be at least 1")
    if FLAGS.batch_size < 1:
        raise UserError(f"--batch_size={FLAGS.batch_size} must be at least 1")
    from generation.restore import load_generator  # imports TensorFlow: after the cheap checks
    from training.devices import print_device_report

    print_device_report(log=lambda text: print(text, flush=True))
    loaded = load_generator(FLAGS.logdir, FLAGS.checkpoint)
    step = f" (step {loaded.step})" if loaded.step is not None else ""
    print(f"{FLAGS.mode}: generator of {loaded.source}{step}", flush=True)
    out = Outputs(FLAGS.out or os.path.join(FLAGS.logdir, "generated"), FLAGS.tb_logdir, loaded.step, FLAGS.mode)
    globals()[f"mode_{FLAGS.mode}"](loaded, out, num)


def run():
    """The command line: flags parsed by absl, user errors printed as one line (exit 1)."""
    run_cli(main)


if __name__ == "__main__":
    run()
