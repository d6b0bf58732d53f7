"""Patch geometry against docs/design.md, Coordinates and patches, and against pixel-exact crop/merge identities."""

import math

import numpy as np
import pytest
import tensorflow as tf

from geometry import PatchGeometry, repeat_latents, tile_coords


def all_discrete_offsets(geo):
    n_rows, n_cols = geo.num_macro_positions
    p = geo.micro_size[0]
    return np.array([[i * p, j * p] for i in range(n_rows) for j in range(n_cols)], np.int32)


@pytest.mark.parametrize(
    "full,macro,micro,R,m",
    [
        (64, 32, 16, 4, 2),  # CelebA_64x64_N2M2S32
        (128, 64, 32, 4, 2),  # CelebA_128x128_N2M2S64
        (128, 64, 4, 32, 16),  # CelebA_128x128_N16M16S64
    ],
)
def test_euclidean_grid_values_follow_the_formulas(full, macro, micro, R, m):
    geo = PatchGeometry(full, macro, micro)
    assert geo.grid_shape == (R, R) and geo.ratio == (m, m)
    assert geo.num_macro_positions == (R - m + 1, R - m + 1)
    offsets = all_discrete_offsets(geo)
    c_M = geo.macro_coords(offsets).numpy()
    i = offsets // micro
    np.testing.assert_allclose(c_M, -1 + 2 * i / (R - m), atol=1e-6)
    # Every macro coordinate value on one axis, sorted: -1 + 2i/(R-m), i = 0..R-m, ending at exactly 1.
    np.testing.assert_allclose(np.unique(c_M[:, 0]), [-1 + 2 * k / (R - m) for k in range(R - m + 1)], atol=1e-6)
    # Micro coordinates of a macro patch: its top-left micro index plus row-major offsets.
    c_m = geo.micro_coords_in_macro(offsets).numpy()
    assert c_m.shape == (len(offsets), m * m, 2)
    for b in (0, len(offsets) // 2, len(offsets) - 1):
        for k in range(m * m):
            j = i[b] + [k // m, k % m]
            np.testing.assert_allclose(c_m[b, k], -1 + 2 * j / (R - 1), atol=1e-6)
    full_grid = geo.full_grid_coords().numpy()
    assert full_grid.shape == (R * R, 2)
    np.testing.assert_allclose(full_grid[:R, 1], np.linspace(-1, 1, R), atol=1e-6)  # first row sweeps columns
    np.testing.assert_allclose(full_grid[::R, 0], np.linspace(-1, 1, R), atol=1e-6)  # first column sweeps rows


def test_n2m2_has_nine_macro_positions_with_coordinates_minus_one_zero_one():
    geo = PatchGeometry(64, 32, 16)
    c_M = geo.macro_coords(all_discrete_offsets(geo)).numpy()
    assert len(c_M) == 9
    assert sorted(set(c_M[:, 0].round(6))) == [-1.0, 0.0, 1.0]
    # Micro coordinates: -1, -1/3, 1/3, 1.
    np.testing.assert_allclose(geo.micro_coord_1d(np.arange(4), 0), [-1, -1 / 3, 1 / 3, 1], atol=1e-6)


def test_cylindrical_mp3d_grid():
    geo = PatchGeometry((256, 768), 128, 64, "cylindrical")
    assert geo.grid_shape == (4, 12) and geo.coord_dim == 3
    # Rows are euclidean (3 positions), columns wrap: all 12 angular positions are valid.
    assert geo.num_macro_positions == (3, 12)
    offsets = all_discrete_offsets(geo)
    c_M = geo.macro_coords(offsets).numpy()
    theta = -1 + 2 * (offsets[:, 1] // 64) / 12
    np.testing.assert_allclose(c_M[:, 0], -1 + 2 * (offsets[:, 0] // 64) / 2, atol=1e-6)
    np.testing.assert_allclose(c_M[:, 1], np.cos(np.pi * theta), atol=1e-6)
    np.testing.assert_allclose(c_M[:, 2], np.sin(np.pi * theta), atol=1e-6)
    # The right-most macro patch (θ index 11) continues onto θ index 0 = 12: the same angle.
    last = np.array([[0, 11 * 64]], np.int32)
    c_m = geo.micro_coords_in_macro(last).numpy()[0]
    first_col = geo.micro_coords_for_indices(np.array([[0.0, 0.0]], np.float32)).numpy()[0]
    np.testing.assert_allclose(c_m[1], first_col, atol=1e-6)  # micro k=1 is (row 0, col 12 == col 0)
    # cos^2 + sin^2 = 1 everywhere on the full grid.
    grid = geo.full_grid_coords().numpy()
    np.testing.assert_allclose(grid[:, 1] ** 2 + grid[:, 2] ** 2, 1, atol=1e-6)


@pytest.mark.parametrize("coordinate_system", ["euclidean", "cylindrical"])
def test_crop_every_position_and_merge_micro_crops_reproduces_the_image(coordinate_system):
    geo = PatchGeometry((32, 48), 16, 8, coordinate_system)
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 32, 48, 3)).astype(np.float32)
    offsets = all_discrete_offsets(geo)
    macro = geo.crop_macro_patches(np.repeat(image, len(offsets), 0), offsets).numpy()
    for b, (top, left) in enumerate(offsets):
        cols = np.arange(left, left + 16) % 48
        np.testing.assert_array_equal(macro[b], image[0, top : top + 16][:, cols])
    # Split the full image into micro patches and merge them back: exact identity.
    micro = geo.split(image)
    assert micro.shape == (4 * 6, 8, 8, 3)
    np.testing.assert_array_equal(geo.merge_full(micro).numpy(), image)
    # The micro patches of a macro patch merge into exactly its crop.
    first = geo.split(macro[:1])
    np.testing.assert_array_equal(geo.merge_macro(first).numpy(), macro[:1])


def test_cylindrical_crop_wraps_around_the_seam():
    geo = PatchGeometry((16, 32), 16, 8, "cylindrical")
    image = np.tile(np.arange(32, dtype=np.float32)[None, None, :, None], (1, 16, 1, 1))
    macro = geo.crop_macro_patches(image, np.array([[0, 24]], np.int32)).numpy()
    np.testing.assert_array_equal(macro[0, 0, :, 0], list(range(24, 32)) + list(range(0, 8)))


def test_euclidean_crop_of_real_image_matches_numpy_slices_for_random_batch():
    geo = PatchGeometry(64, 32, 16)
    images = np.random.default_rng(1).normal(size=(8, 64, 64, 3)).astype(np.float32)
    offsets = geo.sample_offsets(8, tf.constant([3, 4])).numpy()
    crops = geo.crop_macro_patches(images, offsets).numpy()
    for b, (t, l) in enumerate(offsets):
        np.testing.assert_array_equal(crops[b], images[b, t : t + 32, l : l + 32])


def test_viewport_merges_to_the_crop_of_the_full_image():
    geo = PatchGeometry(64, 32, 8)
    image = np.random.default_rng(2).normal(size=(1, 64, 64, 3)).astype(np.float32)
    patches = geo.split(image).numpy()  # stand-in for G on the full grid
    full_idx = geo.grid_indices().astype(int)
    lookup = {tuple(ix): patches[n] for n, ix in enumerate(full_idx)}
    idx = geo.viewport_indices(top=16, left=8, height=24, width=40)
    assert idx.shape == (3 * 5, 2)
    view = geo.merge(np.stack([lookup[tuple(ix)] for ix in idx.astype(int)]), 3, 5).numpy()
    np.testing.assert_array_equal(view[0], image[0, 16:40, 8:48])
    # The viewport's coordinates are the full grid's coordinates at the same indices.
    np.testing.assert_allclose(
        geo.micro_coords_for_indices(idx).numpy(),
        geo.full_grid_coords().numpy().reshape(8, 8, 2)[2:5, 1:6].reshape(-1, 2),
    )
    with pytest.raises(ValueError, match="multiple of the micro size"):
        geo.viewport_indices(top=3, left=0, height=8, width=8)


def test_extrapolated_grid_contains_the_regular_grid_at_its_centre():
    geo = PatchGeometry(256, 128, 64)  # LSUN 256: R = 4
    idx = geo.extrapolated_grid_indices(1)
    coords = geo.micro_coords_for_indices(idx).numpy().reshape(6, 6, 2)
    np.testing.assert_allclose(coords[1:5, 1:5].reshape(-1, 2), geo.full_grid_coords().numpy(), atol=1e-6)
    # Paper: micro coordinate range [-1.66, 1.66] -> 6 x 64 = 384 pixels.
    np.testing.assert_allclose(coords[0, 0], [-5 / 3, -5 / 3], atol=1e-6)
    np.testing.assert_allclose(coords[-1, -1], [5 / 3, 5 / 3], atol=1e-6)


def test_extrapolated_macro_sampling_reaches_beyond_the_border_only_with_extra_steps():
    geo = PatchGeometry(256, 128, 64)
    regular = geo.sample_offsets(512, tf.constant([0, 1])).numpy()
    assert regular.min() == 0 and regular.max() == 128 and (regular % 64 == 0).all()
    assert geo.in_bounds(regular).numpy().all()
    extra = geo.sample_offsets(512, tf.constant([0, 1]), extra=1).numpy()
    assert extra.min() == -64 and extra.max() == 192
    c_M = geo.macro_coords(extra).numpy()
    # Official: -1 + (i - e) * 2 / (R - m), i = 0 .. R - m + 2e  ->  {-2, -1, 0, 1, 2} here.
    assert sorted(set(c_M.ravel().round(6))) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert not geo.in_bounds(extra).numpy().all()


def test_sampling_is_uniform_over_discrete_positions_and_deterministic_in_the_seed():
    geo = PatchGeometry(128, 64, 32)
    a = geo.sample_offsets(9000, tf.constant([5, 6])).numpy()
    b = geo.sample_offsets(9000, tf.constant([5, 6])).numpy()
    np.testing.assert_array_equal(a, b)
    _, counts = np.unique(a // 32, axis=0, return_counts=True)
    assert len(counts) == 9 and counts.min() > 850 and counts.max() < 1150  # 1000 ± ~5 sigma
    cont = geo.sample_offsets(2000, tf.constant([5, 6]), continuous=True).numpy()
    assert cont.min() == 0 and cont.max() == 64 and (cont % 32 != 0).any()


def test_latent_and_coordinate_tiling_pair_up_sample_major():
    z = tf.constant([[1.0], [2.0]])
    coords = tf.constant([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    zz, cc = repeat_latents(z, 3).numpy(), tile_coords(coords, 2).numpy()
    assert zz.ravel().tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(cc[3:], coords.numpy())


def test_impossible_geometry_is_rejected():
    with pytest.raises(ValueError, match="impossible patch geometry"):
        PatchGeometry(100, 32, 16)
    with pytest.raises(ValueError, match="expected shape"):
        PatchGeometry(64, 32, 16).crop_macro_patches(np.zeros((1, 32, 32, 3), np.float32), [[0, 0]])
    assert math.isclose(PatchGeometry(32, 32, 16).macro_coord_1d(0, 0), 0.0)  # one position: centre
