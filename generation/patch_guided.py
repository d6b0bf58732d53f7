"""Patch-guided image generation (paper §3.4): a full image from one real macro patch.

    real macro patch x ──D trunk──> h ──Q──────────> ẑ  (content estimate)
                                      └─spatial head─> ĉ  (position estimate)
    G on every micro coordinate with ẑ ──> full image; ĉ rounded to the nearest discrete
    macro position says where the input patch should sit in it.

Wiring (docs/design.md, Training variants): the official graph builds ẑ = Q(D(real_macro, None)) and then generates
its "patch-guided" images from the *random* z placeholder, so ẑ is never used. Here G is run
on ẑ, and `tests/test_variants_patch_guided.py` checks that the image is G(ẑ) and that a
different input patch changes ẑ and the image.

D is called with coords=None, as the official patch-guided graph does: h (the pooled trunk
features that Q and the spatial head read) does not depend on the coordinate at all, only
the projection term of the logits does, and the position is unknown here anyway. Every
network runs with training=False (heads' batch norms use their moving averages).

`reconstruction_errors` is the measurement of docs/variants.md: the error between each input
macro patch and the generated macro patch at the predicted position, against the same error
for a random z (z ~ U[-1, 1], the prior) at the same position.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from configs import Config, UserError
from data.pixels import as_rgb, to_uint8
from generation.sampling import generate_full_images, sample_latents
from geometry import PatchGeometry


@dataclasses.dataclass
class PatchGuidedModels:
    config: Config
    geometry: PatchGeometry
    generator: object
    discriminator: object
    spatial_head: object
    content_head: object


def restore_patch_guided(config: Config, checkpoint_path: str, generator=None) -> PatchGuidedModels:
    """D, the spatial head and Q (and G unless given) restored from a training checkpoint."""
    from models.build import build_models

    if config.loss_params.code_loss_w <= 0:
        raise UserError(
            "patch-guided generation needs a model whose content head Q was trained "
            "(loss_params.code_loss_w > 0, e.g. configs/CelebA_128x128_N2M2S64_PatchGuidedGeneration.yaml)"
        )
    d = config.data_params
    models = build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)
    parts = {k: models[k] for k in ("discriminator", "spatial_head", "content_head")}
    if generator is None:
        parts["generator"] = models["generator"]
    checkpoint = tf.train.Checkpoint(**parts)
    try:
        checkpoint.restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot restore D, the spatial head and Q from {checkpoint_path}: {first[:300]}") from None
    return PatchGuidedModels(
        config,
        PatchGeometry.from_config(config),
        generator or models["generator"],
        models["discriminator"],
        models["spatial_head"],
        models["content_head"],
    )


def offsets_from_coords(geo: PatchGeometry, coords) -> np.ndarray:
    """Spatial-head outputs [B, coord_dim] -> nearest discrete macro positions, int [B, 2] pixel offsets.

    Inverts c_M = -1 + 2 i / (R - m) per axis (rounded, clipped to 0..R-m); the column of a
    panorama is θ = atan2(sin, cos) / π, θ = -1 + 2 j / R_w, j taken modulo R_w.
    """
    c = np.asarray(coords, np.float64)
    (R_h, R_w), (m_h, m_w), (p_h, p_w) = geo.grid_shape, geo.ratio, geo.micro_size

    def axis(value, span):
        if span <= 0:
            return np.zeros(value.shape, np.int64)
        return np.clip(np.rint((value + 1.0) / 2.0 * span), 0, span).astype(np.int64)

    rows = axis(c[:, 0], R_h - m_h)
    if geo.cylindrical:
        theta = np.arctan2(c[:, 2], c[:, 1]) / math.pi
        cols = np.mod(np.rint((theta + 1.0) / 2.0 * R_w).astype(np.int64), R_w)
    else:
        cols = axis(c[:, 1], R_w - m_w)
    return np.stack([rows * p_h, cols * p_w], axis=1)


def estimate(models: PatchGuidedModels, patches) -> dict:
    """Real macro patches [B, q, q, C] -> dict(z [B, z_dim], coords [B, coord_dim], offsets int [B, 2])."""
    patches = tf.convert_to_tensor(patches, tf.float32)
    _, h = models.discriminator((patches, None), training=False)
    z = models.content_head(h, training=False)
    coords = models.spatial_head(h, training=False)
    return {"z": z, "coords": coords, "offsets": offsets_from_coords(models.geometry, coords.numpy())}


def patch_guided_generate(models: PatchGuidedModels, patches, batch_size: int = 64) -> dict:
    """`estimate` plus the full images G generates from the estimated z: dict(z, coords, offsets, images)."""
    out = estimate(models, patches)
    out["images"] = generate_full_images(models.generator, models.geometry, out["z"], batch_size)
    return out


def reconstruction_errors(models: PatchGuidedModels, images, seed: int = 0, batch_size: int = 64) -> dict:
    """Errors of patch-guided reconstruction on every discrete macro position of `images`.

    For each full image [N, H, W, C] in [-1, 1] and each of its macro positions: the input is
    the real macro patch; `l1_q` / `mse_q` compare it with the generated macro patch at the
    *predicted* position of G(ẑ); `l1_random` / `mse_random` do the same with G(z), z ~ U[-1, 1]
    (one z per input, seeded), at the same predicted position. `*_true_pos` use the true
    position instead; `position_accuracy` is the fraction of exactly predicted positions.
    """
    geo = models.geometry
    images = tf.convert_to_tensor(images, tf.float32)
    n_rows, n_cols = geo.num_macro_positions
    p_h, p_w = geo.micro_size
    grid = np.stack(np.meshgrid(np.arange(n_rows) * p_h, np.arange(n_cols) * p_w, indexing="ij"), -1).reshape(-1, 2)
    k = len(grid)
    n = int(images.shape[0])
    offsets = np.tile(grid, (n, 1)).astype(np.int32)  # image-major: image i, position j at row i*k+j
    full = tf.repeat(images, k, axis=0)
    patches = geo.crop_macro_patches(full, offsets)
    sums = {}

    def add(name, value):
        sums[name] = sums.get(name, 0.0) + float(value)

    total = len(offsets)
    for start in range(0, total, batch_size):
        sl = slice(start, start + batch_size)
        x = patches[sl]
        est = patch_guided_generate(models, x, batch_size)
        z_rand = sample_latents(int(x.shape[0]), models.config.model_params.z_dim, seed * 100003 + start)
        rand_images = generate_full_images(models.generator, geo, z_rand, batch_size)
        b = int(x.shape[0])
        for tag, where in (("", est["offsets"]), ("_true_pos", offsets[sl])):
            for src, imgs in (("q", est["images"]), ("random", rand_images)):
                diff = geo.crop_macro_patches(imgs, where) - x
                add(f"l1_{src}{tag}", tf.reduce_mean(tf.abs(diff)) * b)
                add(f"mse_{src}{tag}", tf.reduce_mean(tf.square(diff)) * b)
        add("position_accuracy", np.all(est["offsets"] == offsets[sl], axis=1).sum())
        add("coord_l1", tf.reduce_mean(tf.abs(est["coords"] - geo.macro_coords(offsets[sl]))) * b)
    out = {name: value / total for name, value in sums.items()}
    out["num_patches"] = total
    out["num_images"] = n
    return out


def draw_box(images_uint8, offsets, size, color=(255, 0, 0)) -> np.ndarray:
    """uint8 [B, H, W, C] -> RGB copies with a 1-pixel rectangle on the border of each box.

    Box b has top-left `offsets[b]` and `size` (h, w); columns wrap (panoramas).
    """
    out = np.array(as_rgb(images_uint8), copy=True)
    color = np.asarray(color, np.uint8)
    H, W = out.shape[1:3]
    h, w = size
    for b, (top, left) in enumerate(np.asarray(offsets)):
        rows = np.clip(np.arange(top, top + h), 0, H - 1)
        cols = np.mod(np.arange(left, left + w), W)
        out[b, rows[0], cols] = color
        out[b, rows[-1], cols] = color
        out[b, rows, cols[0]] = color
        out[b, rows, cols[-1]] = color
    return out


def figure(
    models: PatchGuidedModels, patches, result: dict, real_images=None, true_offsets=None, scale: int = 4, pad: int = 2
) -> np.ndarray:
    """One row per input: [input patch | generated image with the predicted box | generated image
    (| real image with the true box)], as a uint8 image magnified `scale` times (nearest)."""
    geo = models.geometry
    H, W = geo.full_size
    q_h, q_w = geo.macro_size
    gen = to_uint8(result["images"])
    inp = np.full((len(gen), H, W, 3), 255, np.uint8)  # the input patch, centred on white, RGB like the others
    top, left = (H - q_h) // 2, (W - q_w) // 2
    inp[:, top : top + q_h, left : left + q_w] = np.broadcast_to(as_rgb(to_uint8(patches)), (len(gen), q_h, q_w, 3))
    columns = [inp, draw_box(gen, result["offsets"], geo.macro_size), draw_box(gen, [], geo.macro_size)]
    if real_images is not None:
        columns.append(draw_box(to_uint8(real_images), true_offsets, geo.macro_size, color=(0, 200, 0)))
    n, k = len(gen), len(columns)
    canvas = np.full((n * (H + pad) + pad, k * (W + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        y = pad + i * (H + pad)
        for j, col in enumerate(columns):
            x = pad + j * (W + pad)
            canvas[y : y + H, x : x + W] = col[i]
    return np.repeat(np.repeat(canvas, scale, 0), scale, 1)


def format_errors(m: dict) -> str:
    return (
        f"{m['num_patches']} real macro patches ({m['num_images']} images x every macro position):\n"
        f"  generated patch at the predicted position vs input, G(Q estimate): L1 {m['l1_q']:.4f}  "
        f"MSE {m['mse_q']:.4f}\n"
        f"  same position, G(random z):                                    L1 {m['l1_random']:.4f}  "
        f"MSE {m['mse_random']:.4f}\n"
        f"  at the true position: G(Q estimate) L1 {m['l1_q_true_pos']:.4f}, G(random z) L1 "
        f"{m['l1_random_true_pos']:.4f}\n"
        f"  position accuracy {m['position_accuracy']:.3f}, mean |c_pred - c_true| {m['coord_l1']:.4f}"
    )


__all__ = [
    "PatchGuidedModels",
    "restore_patch_guided",
    "offsets_from_coords",
    "estimate",
    "patch_guided_generate",
    "reconstruction_errors",
    "draw_box",
    "figure",
    "format_errors",
]
