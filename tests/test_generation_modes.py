"""Inference applications (paper §3.2-3.5) against independent oracles, on the tiny config.

An untrained generator is enough: every property here is an identity between two ways of
producing the same pixels (inference-mode normalisation makes each micro patch a function
of (z, c) alone). Small float tolerances allow for batch-size dependent CPU kernels.
"""

import helpers
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from configs import UserError
from data.pixels import to_uint8
from generation import beyond_boundary as bb
from generation import interpolation as interp
from generation import panorama as pano
from generation.highres import generate_highres, grid_axis_values
from generation.restore import build_generator, compile_patch_function
from generation.sampling import generate_full_images, generate_grid, sample_latents
from generation.viewport import generate_viewport, parse_viewport
from geometry import PatchGeometry

ATOL = 1e-5


@pytest.fixture(scope="module")
def tiny():
    config = helpers.tiny()  # 16x16 images, micro 4: R = 4
    g = build_generator(config)
    return config, compile_patch_function(g), PatchGeometry.from_config(config)


@pytest.fixture(scope="module")
def cylindrical():
    config = helpers.tiny(
        data={"coordinate_system": "cylindrical", "full_image_size": [8, 32]}, model={"spatial_dim": 3}
    )  # R = 2 x 8
    return config, compile_patch_function(build_generator(config)), PatchGeometry.from_config(config)


class CountingGenerator:
    """Records how many micro patches each call asked for."""

    def __init__(self, g):
        self.g, self.patches = g, 0

    def __call__(self, inputs, training=False):
        self.patches += int(inputs[0].shape[0])
        return self.g(inputs, training=training)


def test_full_image_is_the_concatenation_of_patches_made_one_at_a_time(tiny):
    config, g, geo = tiny
    z = sample_latents(2, config.model_params.z_dim, seed=0)
    full = generate_full_images(g, geo, z).numpy()
    R_h, R_w = geo.grid_shape
    p = geo.micro_size[0]
    for b in range(2):
        for r in range(R_h):
            for c in range(R_w):
                coords = geo.micro_coords_for_indices(tf.constant([[r, c]], tf.float32))
                patch = g((z[b : b + 1], coords)).numpy()[0]
                np.testing.assert_allclose(full[b, r * p : (r + 1) * p, c * p : (c + 1) * p], patch, atol=ATOL)


def test_viewport_equals_crop_and_costs_its_area(tiny):
    config, g, geo = tiny
    z = sample_latents(3, config.model_params.z_dim, seed=1)
    full = generate_full_images(g, geo, z).numpy()
    counter = CountingGenerator(g)
    view = generate_viewport(counter, geo, z, 4, 8, 8, 4).numpy()  # 2 x 1 micro patches
    np.testing.assert_allclose(view, full[:, 4:12, 8:12], atol=ATOL)
    assert counter.patches == 3 * 2 * 1  # only the covered micro patches, not the 16 of the image
    np.testing.assert_allclose(generate_viewport(g, geo, z, 0, 0, 16, 16), full, atol=ATOL)


@pytest.mark.parametrize(
    "viewport, message",
    [
        ("3,0,8,8", "top=3 is not a multiple"),
        ("0,0,8,6", "width=6 is not a multiple"),
        ("8,0,12,4", "leave the image"),
        ("0,-4,4,4", "leave the image"),
        ("1,2,3", "four integers"),
    ],
)
def test_viewport_user_errors(tiny, viewport, message):
    config, g, geo = tiny
    with pytest.raises(UserError, match=message):
        generate_viewport(g, geo, tf.zeros([1, config.model_params.z_dim]), *parse_viewport(viewport))


def test_extrapolated_grid_contains_the_regular_grid_as_its_centre(tiny):
    config, g, geo = tiny
    R_h, R_w = geo.grid_shape
    e = 2
    ext = geo.extrapolated_grid_indices(e).reshape(R_h + 2 * e, R_w + 2 * e, 2)
    np.testing.assert_array_equal(ext[e : e + R_h, e : e + R_w].reshape(-1, 2), geo.grid_indices())
    assert ext.min() == -e and ext.max() == R_h - 1 + e
    z = sample_latents(2, config.model_params.z_dim, seed=2)
    big = bb.generate_beyond(g, geo, z, e).numpy()
    assert big.shape == (2, 32, 32, 3)
    top, left, h, w = bb.in_boundary_box(geo, e)
    np.testing.assert_allclose(big[:, top : top + h, left : left + w], generate_full_images(g, geo, z), atol=ATOL)
    # Coordinates continue the training spacing: ±(1 + 2e/(R-1)).
    np.testing.assert_allclose(geo.micro_coords_for_indices(ext[-1, -1]), [1 + 2 * e / 3] * 2, rtol=1e-6)


def test_boundary_overlay_marks_only_outside_the_box():
    images = np.full((1, 12, 12, 1), 7, np.uint8)
    marked = bb.mark_boundary(images, (4, 4, 4, 4), line=2)
    assert marked.shape == (1, 12, 12, 3)
    assert (marked[0, 4:8, 4:8] == 7).all()  # the in-boundary region is untouched
    ring = np.zeros((12, 12), bool)
    ring[2:10, 2:10] = True
    ring[4:8, 4:8] = False
    assert (marked[0][ring] == [255, 0, 0]).all()
    assert (marked[0][~ring & ~np.pad(np.ones((4, 4), bool), 4)] == 7).all()


def test_slerp_endpoints_and_coordinate_sweep(tiny):
    config, g, geo = tiny
    z = sample_latents(2, config.model_params.z_dim, seed=3).numpy()
    path = interp.latent_path(z[0], z[1], 5)
    np.testing.assert_allclose(path[0], z[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], z[1], atol=1e-6)
    # On unit vectors slerp walks the great circle: unit norm, equal angular steps.
    u0, u1 = z[0] / np.linalg.norm(z[0]), z[1] / np.linalg.norm(z[1])
    unit = interp.latent_path(u0, u1, 5)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], 1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
    imgs = interp.interpolate_full_images(g, geo, z[0], z[1], 5).numpy()
    np.testing.assert_allclose(imgs[[0, -1]], generate_full_images(g, geo, z), atol=ATOL)
    micro = interp.interpolate_micro_patch(g, geo, z[0], z[1], 5, index=(1, 2)).numpy()
    np.testing.assert_allclose(micro, imgs[:, 4:8, 8:12], atol=ATOL)
    # With R steps the sweep's coordinates are the training grid: the patches tile the full image.
    R = geo.grid_shape[0]
    sweep = interp.interpolate_coordinates(g, geo, z[0], R).numpy()  # [R, R, p, p, C]
    np.testing.assert_allclose(geo.merge(sweep.reshape((-1,) + sweep.shape[2:]), R, R)[0], imgs[0], atol=1e-4)


def test_panorama_coordinates_wrap_and_more_turns_repeat(cylindrical):
    config, g, geo = cylindrical
    R_h, R_w = geo.grid_shape
    coords = geo.micro_coords_for_indices(tf.constant([[0, R_w], [0, 0]], tf.float32)).numpy()
    np.testing.assert_allclose(coords[0], coords[1], atol=1e-6)  # θ = 1 is θ = -1 (up to float32 sin(±π))
    z = sample_latents(2, config.model_params.z_dim, seed=4)
    col_rw = generate_grid(g, geo, z, np.array([[1, R_w]], np.float32), 1, 1).numpy()
    col_0 = generate_grid(g, geo, z, np.array([[1, 0]], np.float32), 1, 1).numpy()
    np.testing.assert_allclose(col_rw, col_0, atol=ATOL)
    idx, _, cols = pano.panorama_indices(geo, turns=1.5)
    assert cols == 12 and idx[:, 1].max() == R_w - 1  # wrapped before the coordinates are computed
    one = pano.generate_panorama(g, geo, z, 1.0).numpy()
    two = pano.generate_panorama(g, geo, z, 2.0).numpy()
    assert one.shape == (2, 8, 32, 3)
    np.testing.assert_allclose(two, pano.tile_horizontally(one, 2), atol=ATOL)
    # A viewport across the seam is the rolled panorama's crop.
    view = generate_viewport(g, geo, z, 0, 24, 8, 16).numpy()
    np.testing.assert_allclose(view, np.roll(one, -24, axis=2)[:, :, :16], atol=ATOL)


def test_seam_report_on_known_images():
    # A horizontal ramp 0, 1, ..., 7 repeated: neighbouring columns differ by 1, the seam by 7.
    ramp = np.tile(np.arange(8, dtype=np.float64)[None, None, :, None], (1, 2, 1, 1))
    r = pano.seam_report(ramp, micro_width=4)
    assert (r.seam, r.interior, r.patch_boundaries, r.ratio) == (7.0, 1.0, 1.0, 7.0)
    # A periodic stripe pattern 0, 1, 0, 1, ... (even width): the seam is like any other border.
    x = (np.arange(32) % 2).astype(np.float64)[None, None, :, None]
    assert pano.seam_report(x, micro_width=4).ratio == 1.0


def test_panorama_needs_a_cylindrical_model(tiny):
    _, g, geo = tiny
    with pytest.raises(UserError, match="cylindrical"):
        pano.generate_panorama(g, geo, tf.zeros([1, 8]))
    with pytest.raises(UserError, match="cylindrical"):
        bb.check_beyond(PatchGeometry((8, 32), (8, 8), (4, 4), "cylindrical"), 1)


def test_highres_stream_equals_in_memory_generation(tiny, tmp_path):
    config, g, geo = tiny
    z = sample_latents(2, config.model_params.z_dim, seed=5)
    # R' = R + 2: the extrapolated layout is the beyond-boundary image; 36 patches in batches of 5 (padded).
    paths = generate_highres(g, geo, z, (6, 6), tmp_path / "hr", ("npy", "png"), "extrapolate", patch_batch=5)
    want = to_uint8(bb.generate_beyond(g, geo, z, 1))
    for b in range(2):
        npy = np.load(tmp_path / f"hr_{b:03d}.npy", mmap_mode="r")
        png = np.asarray(Image.open(tmp_path / f"hr_{b:03d}.png"))
        np.testing.assert_array_equal(npy, png)
        assert np.abs(npy.astype(int) - want[b]).max() <= 1  # rounding of float32 differences
    assert len(paths) == 4
    # Stretch layout: R' coordinates spread over [-1, 1]; R' = R gives the training grid.
    np.testing.assert_allclose(grid_axis_values(geo, 0, 4, "stretch"), geo.micro_coord_1d(np.arange(4.0), 0), atol=1e-6)
    vals = grid_axis_values(geo, 1, 7, "stretch")
    assert vals[0] == -1 and vals[-1] == 1 and len(vals) == 7
