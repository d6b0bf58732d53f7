"""Fréchet distance on cases worked out by hand (TTUR's formula and numerics)."""

import numpy as np
import pytest

from fid import frechet


def test_equal_covariances_give_squared_mean_distance():
    # sigma1 = sigma2 = S: Tr(S + S - 2 (S S)^(1/2)) = Tr(2S - 2S) = 0, so
    # d^2 = ||mu1 - mu2||^2 = 3^2 + 4^2 = 25, whatever S is.
    s = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert frechet.frechet_distance([0, 0], s, [3, 4], s) == pytest.approx(25.0, abs=1e-9)


def test_diagonal_covariances():
    # Diagonal covariances commute, so (S1 S2)^(1/2) = diag(sqrt(a_i b_i)) and
    # d^2 = sum_i (sqrt(a_i) - sqrt(b_i))^2 + ||mu1 - mu2||^2.
    # a = (1, 4), b = (9, 16): (1 - 3)^2 + (2 - 4)^2 = 8; means (1, 1) vs (1, 2): 1.
    d = frechet.frechet_distance([1, 1], np.diag([1.0, 4.0]), [1, 2], np.diag([9.0, 16.0]))
    assert d == pytest.approx(9.0, abs=1e-9)


def test_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 6))
    b = rng.normal(size=(50, 6)) + 0.3
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ma, mb = a.mean(0), b.mean(0)
    assert frechet.frechet_distance(ma, sa, ma, sa) == pytest.approx(0.0, abs=1e-8)
    assert frechet.frechet_distance(ma, sa, mb, sb) == pytest.approx(frechet.frechet_distance(mb, sb, ma, sa), rel=1e-9)


def test_singular_product_adds_offset_to_diagonals(monkeypatch):
    # Simulate sqrtm failing on the raw product; TTUR then retries with
    # (S1 + eps I)(S2 + eps I). With S1 = S2 = I, eps = 0.5 the retry gets
    # 2.25 I, whose root is 1.5 I: d^2 = 0 + 2 + 2 - 2 * 3 = -2 (the offset is
    # only inside the root, exactly as in TTUR).
    calls = []
    real_sqrtm = frechet._sqrtm

    def fake_sqrtm(matrix):
        calls.append(matrix.copy())
        return np.full_like(matrix, np.inf) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(frechet, "_sqrtm", fake_sqrtm)
    with pytest.warns(UserWarning, match="adding 0.5"):
        d = frechet.frechet_distance([0, 0], np.eye(2), [0, 0], np.eye(2), eps=0.5)
    np.testing.assert_allclose(calls[1], 2.25 * np.eye(2))
    assert d == pytest.approx(-2.0)


def test_small_imaginary_part_is_dropped_large_one_raises():
    # A non-PSD "covariance" diag(1, -1) times I has root diag(1, 1j): the
    # imaginary diagonal is 1 > 1e-3, which TTUR reports as an error.
    with pytest.raises(ValueError, match="Imaginary component"):
        frechet.frechet_distance([0, 0], np.diag([1.0, -1.0]), [0, 0], np.eye(2))
    # diag(1, -1e-8): imaginary diagonal 1e-4 < 1e-3 is dropped as rounding noise.
    # Real part of the root is diag(1, 0): d^2 = (1 - 1e-8) + 2 - 2 * 1.
    d = frechet.frechet_distance([0, 0], np.diag([1.0, -1e-8]), [0, 0], np.eye(2))
    assert d == pytest.approx(1.0, abs=1e-6)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        frechet.frechet_distance([0, 0], np.eye(2), [0, 0, 0], np.eye(3))
