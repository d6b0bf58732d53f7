"""The applications of generate.py (paper §3.2-3.5), one function per mode with explicit arguments.

Each `run_<mode>(loaded, out, *, ...)` takes a restored generator (generation.restore.load_generator)
and an `Outputs` directory, writes its files there and prints what it wrote. File names carry the
seed, so one seed gives the same latents (z = generation.sampling.sample_latents(num, z_dim, seed))
in every mode. The heavy imports are inside the functions: generate.py imports this module before
its cheap flag checks.
"""

from __future__ import annotations

import os
import time

from configs import UserError


class Outputs:
    """Writes PNG/GIF files into the output directory (and TensorBoard images) and lists them."""

    def __init__(self, out_dir: str, tb_logdir: str | None = None, step: int | None = 0, mode: str = ""):
        self.dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.tb_logdir, self.step, self.mode = tb_logdir, step or 0, mode

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def png(self, name: str, image, tb: bool = True) -> None:
        from generation.sampling import save_png

        save_png(self.path(name), image)
        if tb and self.tb_logdir:
            from generation.tensorboard import write_images

            write_images(self.tb_logdir, f"generate/{self.mode}/{name[:-4]}", image, self.step)
        print(f"wrote {self.path(name)}  ({image.shape[1]}x{image.shape[0]})", flush=True)

    def gif(self, name: str, frames, duration_ms: int) -> None:
        from generation.gif import save_gif

        scale = max(1, 128 // max(frames.shape[1:3]))
        save_gif(self.path(name), frames, duration_ms, scale=scale)
        print(f"wrote {self.path(name)}  ({len(frames)} frames)", flush=True)


def _latents(loaded, num: int, seed: int):
    from generation.sampling import sample_latents

    return sample_latents(num, loaded.z_dim, seed)


def _batched(fn, z, batch_size: int):
    """fn on consecutive batches of z, concatenated (numpy)."""
    import numpy as np

    return np.concatenate([fn(z[i : i + batch_size]).numpy() for i in range(0, int(z.shape[0]), batch_size)], 0)


def run_samples(loaded, out: Outputs, *, seed: int, num: int, batch_size: int) -> None:
    """`num` full images in one grid: samples_seed<seed>.png."""
    from data.pixels import to_uint8
    from generation.sampling import generate_full_images, image_grid

    z = _latents(loaded, num, seed)
    images = to_uint8(generate_full_images(loaded.patches, loaded.geometry, z, batch_size))
    out.png(f"samples_seed{seed}.png", image_grid(images))


def run_interpolate(
    loaded,
    out: Outputs,
    *,
    seed: int,
    num: int,
    steps: int,
    coord_steps: int | None = None,
    index: str | None = None,
    gif_ms: int = 100,
) -> None:
    """Latent slerp of full images and of one micro patch for `num` latent pairs, and a spatial
    interpolation with a fixed z. `index` is the micro patch 'row,col' (default: the centre);
    `coord_steps` the coordinate values per axis (default 2R - 1: training coordinates and midpoints)."""
    import numpy as np

    from data.pixels import to_uint8
    from generation import interpolation as interp
    from generation.sampling import image_grid
    from generation.viewport import parse_ints

    geo = loaded.geometry
    z = _latents(loaded, 2 * num, seed).numpy()
    z0, z1 = z[0::2], z[1::2]
    # Latent slerp of full images: one row per pair; GIF frame t shows every pair at step t.
    full = np.stack(
        [to_uint8(interp.interpolate_full_images(loaded.patches, geo, a, b, steps)) for a, b in zip(z0, z1)]
    )
    out.png(f"interp_latent_seed{seed}.png", image_grid(full.reshape((-1,) + full.shape[2:]), cols=steps))
    frames = np.stack([image_grid(full[:, t]) for t in range(steps)])
    out.gif(f"interp_latent_seed{seed}.gif", frames, gif_ms)
    # Latent slerp of one micro patch at a fixed coordinate.
    if index:
        index = parse_ints(index, 2, "index", "two integers 'row,col'")
    else:
        index = (geo.grid_shape[0] // 2, geo.grid_shape[1] // 2)
    micro = np.stack(
        [to_uint8(interp.interpolate_micro_patch(loaded.patches, geo, a, b, steps, index)) for a, b in zip(z0, z1)]
    )
    out.png(
        f"interp_micro_r{index[0]}c{index[1]}_seed{seed}.png",
        image_grid(micro.reshape((-1,) + micro.shape[2:]), cols=steps, pad=1),
    )
    # Spatial interpolation with a fixed z: continuous coordinates across [-1, 1].
    k = coord_steps or 2 * max(geo.grid_shape) - 1
    patches = to_uint8(interp.interpolate_coordinates(loaded.patches, geo, z0[0], k).numpy())
    out.png(f"interp_coords_seed{seed}.png", image_grid(patches.reshape((-1,) + patches.shape[2:]), cols=k, pad=1))
    out.gif(f"interp_coords_seed{seed}.gif", patches.reshape((-1,) + patches.shape[2:]), gif_ms)


def run_viewport(loaded, out: Outputs, *, seed: int, num: int, batch_size: int, viewport: str | None) -> None:
    """Only the micro patches of a region 'top,left,height,width' (pixels, multiples of the micro size)."""
    from data.pixels import to_uint8
    from generation.sampling import image_grid
    from generation.viewport import generate_viewport, parse_viewport

    if not viewport:
        raise UserError(
            "--mode=viewport needs --viewport=top,left,height,width (pixels, multiples of the "
            f"micro patch size {loaded.geometry.micro_size[0]})"
        )
    top, left, height, width = parse_viewport(viewport)
    geo = loaded.geometry
    z = _latents(loaded, num, seed)
    images = _batched(lambda zb: generate_viewport(loaded.patches, geo, zb, top, left, height, width), z, batch_size)
    n_view = (height // geo.micro_size[0]) * (width // geo.micro_size[1])
    n_full = geo.grid_shape[0] * geo.grid_shape[1]
    print(
        f"viewport {height}x{width} at ({top},{left}): {n_view} micro patches per image instead of "
        f"{n_full} ({n_view / n_full:.0%})"
    )
    out.png(f"viewport_{top}_{left}_{height}_{width}_seed{seed}.png", image_grid(to_uint8(images)))


def run_beyond(
    loaded, out: Outputs, *, seed: int, num: int, batch_size: int, extra: int = 1, overlay: bool = True
) -> None:
    """Beyond-boundary images, `extra` micro patches past every border (and a copy with the border marked)."""
    from data.pixels import to_uint8
    from generation import beyond_boundary as bb
    from generation.sampling import image_grid

    geo = loaded.geometry
    bb.check_beyond(geo, extra)
    z = _latents(loaded, num, seed)
    images = to_uint8(_batched(lambda zb: bb.generate_beyond(loaded.patches, geo, zb, extra), z, batch_size))
    R_h, R_w = geo.grid_shape
    e = extra
    print(
        f"beyond-boundary: {R_h + 2 * e}x{R_w + 2 * e} micro patches, coordinates to "
        f"±{geo.micro_coord_1d(R_h - 1 + e, 0):.3g} (rows) / ±{geo.micro_coord_1d(R_w - 1 + e, 1):.3g} (cols), "
        f"{images.shape[1]}x{images.shape[2]} pixels from a {geo.full_size[0]}x{geo.full_size[1]} model"
    )
    out.png(f"beyond_e{e}_seed{seed}.png", image_grid(images))
    if overlay:
        marked = bb.mark_boundary(images, bb.in_boundary_box(geo, e))
        out.png(f"beyond_e{e}_marked_seed{seed}.png", image_grid(marked))


def run_panorama(loaded, out: Outputs, *, seed: int, num: int, batch_size: int, turns: float = 1.0) -> None:
    """360° panoramas of a cylindrical model with a seam check, tiled twice; `turns` != 1 adds a wider one."""
    from data.pixels import to_uint8
    from generation import panorama as pano
    from generation.sampling import image_grid

    geo = loaded.geometry
    pano.check_panorama(geo)
    z = _latents(loaded, num, seed)
    full = _batched(lambda zb: pano.generate_panorama(loaded.patches, geo, zb, 1.0), z, batch_size)
    print("seam check (360° panorama, values in [-1, 1]):", pano.seam_report(full, geo.micro_size[1]))
    out.png(f"panorama_seed{seed}.png", image_grid(to_uint8(full), cols=1))
    out.png(f"panorama_tiled_seed{seed}.png", image_grid(to_uint8(pano.tile_horizontally(full, 2)), cols=1))
    if turns != 1.0:
        wide = _batched(lambda zb: pano.generate_panorama(loaded.patches, geo, zb, turns), z, batch_size)
        out.png(f"panorama_turns{turns:g}_seed{seed}.png", image_grid(to_uint8(wide), cols=1))


def run_highres(
    loaded,
    out: Outputs,
    *,
    seed: int,
    num: int,
    grid: str | None = None,
    layout: str = "extrapolate",
    patch_batch: int = 64,
    formats: tuple = ("npy", "png"),
) -> None:
    """Images of `grid` micro patches ('rows,cols', one number, or None: the model's grid), streamed row
    band by row band into highres_<H>x<W>_seed<seed>.<format>; `layout` 'extrapolate' or 'stretch'."""
    from generation.highres import generate_highres, parse_grid

    geo = loaded.geometry
    grid = parse_grid(grid, geo)
    z = _latents(loaded, num, seed).numpy()
    H, W = grid[0] * geo.micro_size[0], grid[1] * geo.micro_size[1]
    print(
        f"high resolution: {grid[0]}x{grid[1]} micro patches ({layout}) = {H}x{W} pixels per image, "
        f"{patch_batch} patches per call",
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
        out.path(f"highres_{H}x{W}_seed{seed}"),
        tuple(formats),
        layout,
        patch_batch,
        progress,
    )
    for path in paths:
        print(f"wrote {path}")
    print(f"{len(z)} image(s) in {time.time() - t0:.1f} s")


def run_export(loaded, out: Outputs, *, export_dir: str) -> None:
    """The generator of a training run as a SavedModel in `export_dir` (`out` is not used)."""
    from generation.export import export_generator
    from generation.restore import PatchFunction

    if isinstance(loaded.generator, PatchFunction):
        raise UserError("--mode=export needs a training log directory, not an export directory")
    path = export_generator(loaded.generator, loaded.config, export_dir)
    print(
        f"exported the generator of {loaded.source} to {path}\n"
        f"  signatures: micro_patches(z [N,{loaded.z_dim}], coords [N,{loaded.geometry.coord_dim}]) -> patches; "
        f"full_images(z [B,{loaded.z_dim}]) -> images"
    )


def run_patch_guided(
    loaded,
    out: Outputs,
    *,
    seed: int,
    num: int,
    batch_size: int,
    data_dir: str | None = None,
    first_image: int = 0,
) -> None:
    """Paper §3.4 (generation/patch_guided.py): errors over every macro position of `num` real images
    (from `first_image` in sorted order in `data_dir`, default the run's), and a figure of the first 8:
    input patch | generated image with the predicted box | generated | real."""
    import numpy as np
    import tensorflow as tf

    from data.pipeline import make_full_image_dataset
    from generation import patch_guided as pg

    models = pg.restore_patch_guided(loaded.config, loaded.source, generator=loaded.patches)
    images = (
        make_full_image_dataset(loaded.config, batch_size, data_dir, limit=first_image + num)
        .unbatch()
        .skip(first_image)
    )
    images = np.stack(list(images.as_numpy_iterator()))
    if len(images) < num:
        raise UserError(f"--first_image={first_image} --num={num}: only {len(images)} images there")
    print(pg.format_errors(pg.reconstruction_errors(models, images, seed, batch_size * 4)))
    n_rows, n_cols = models.geometry.num_macro_positions
    rng = np.random.default_rng(seed)
    shown = images[:8]
    true = np.stack([rng.integers(0, n_rows, len(shown)), rng.integers(0, n_cols, len(shown))], 1) * np.array(
        models.geometry.micro_size
    )
    patches = models.geometry.crop_macro_patches(tf.constant(shown), true)
    result = pg.patch_guided_generate(models, patches)
    out.png(f"patch_guided_first{first_image}_seed{seed}.png", pg.figure(models, patches, result, shown, true))
