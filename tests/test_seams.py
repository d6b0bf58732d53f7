"""The seam ratio against hand-computed images."""

import numpy as np
import pytest

from generation.seams import format_seam_ratio, seam_ratio, seam_ratio_or_none, shift_patch_tones


def columns_image(values, rows: int = 4) -> np.ndarray:
    """[1, rows, len(values), 1]: every row equal to `values`."""
    return np.tile(np.asarray(values, np.float32)[None, None, :, None], (1, rows, 1, 1))


def test_a_uniform_ramp_has_no_seams():
    assert seam_ratio(columns_image(np.arange(8) * 3.0), 4) == pytest.approx(1.0)


def test_a_step_at_the_patch_border_is_counted_against_the_inner_steps():
    # Columns 0 1 | 3 4 with 2x2 patches: row steps are all 0; column steps 1, 2, 1.
    # Border: row 0 + column 2; inner: row 0 + column mean(1, 1) = 1.
    assert seam_ratio(columns_image([0, 1, 3, 4]), 2) == pytest.approx(2.0)


def test_rectangular_patches_and_uint8_input():
    image = np.zeros([1, 4, 6, 3], np.uint8)
    image[:, :, 3:] = 10  # one jump at the border of 4x3 patches
    image[:, 1, :] += 1  # row steps 1, 1, 0
    # 2x3 patches. Rows: border step 1->2 (1), inner 0->1 and 2->3 (mean 0.5). Columns:
    # border step 2->3 (10), inner steps all 0. Ratio (1 + 10) / (0.5 + 0).
    assert seam_ratio(image, (2, 3)) == pytest.approx(22.0)
    # 4x3 patches: one patch row, so only the columns count, and their inner steps are 0.
    assert seam_ratio(image, (4, 3)) == float("inf")


def test_noise_scores_about_one_and_bad_shapes_are_refused():
    rng = np.random.default_rng(0)
    assert seam_ratio(rng.uniform(size=[64, 32, 32, 3]), 8) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ValueError, match="grid"):
        seam_ratio(np.zeros([1, 8, 8, 1]), 8)
    with pytest.raises(ValueError, match="N, H, W, C"):
        seam_ratio(np.zeros([8, 8]), 4)


def test_shifted_patch_tones_move_whole_patches_and_only_raise_border_steps():
    ramp = np.tile(np.linspace(-0.5, 0.5, 16, dtype=np.float32)[None, None, :, None], (3, 8, 1, 2))
    shifted = shift_patch_tones(ramp, (4, 8), sigma=0.1, seed=3)
    delta = (shifted - ramp).reshape(3, 2, 4, 2, 8, 2)  # [n, patch row, 4, patch col, 8, c]
    # One offset per (image, patch, channel): constant inside each 4x8 patch.
    assert np.allclose(delta, delta[:, :, :1, :, :1, :], atol=1e-6)
    assert delta.std() > 0.03
    assert seam_ratio(ramp, (4, 8)) == pytest.approx(1.0)
    assert seam_ratio(shifted, (4, 8)) > 2.0
    assert np.array_equal(shift_patch_tones(ramp, (4, 8), 0.0), ramp)
    assert np.array_equal(shifted, shift_patch_tones(ramp, (4, 8), sigma=0.1, seed=3))
    assert np.abs(shift_patch_tones(ramp * 4, 4, sigma=1.0)).max() <= 1.0  # clipped to the data range


def test_one_patch_per_image_is_not_applicable_instead_of_an_error():
    images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
    with pytest.raises(ValueError):
        seam_ratio(images, 8)
    assert seam_ratio_or_none(images, 8) is None and seam_ratio_or_none(images, (8, 8)) is None
    assert seam_ratio_or_none(images, 4) == seam_ratio(images, 4)  # a 2x2 grid: the ratio itself
    assert format_seam_ratio(None).startswith("not applicable") and format_seam_ratio(1.23456) == "1.235"
