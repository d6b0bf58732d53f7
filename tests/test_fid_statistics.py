"""Statistics from features, the .npz format, batching, and the training monitor."""

import numpy as np
import pytest

from configs.errors import UserError
from data.pixels import as_rgb, to_uint8
from fid import statistics, training_monitor


def test_statistics_from_features_by_hand():
    # Two samples (1, 2) and (3, 6): mean (2, 4); with ddof 1 (np.cov, TTUR)
    # var_x = (1 + 1) / 1 = 2, var_y = (4 + 4) / 1 = 8, cov = (-1 * -2 + 1 * 2) = 4.
    mu, sigma = statistics.statistics_from_features([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, [[2.0, 4.0], [4.0, 8.0]])


def test_running_statistics_match_numpy_over_uneven_batches():
    rng = np.random.default_rng(1)
    # A large common offset is where naive sum-of-squares covariances fail.
    features = rng.normal(size=(203, 16)) * 0.3 + 1e3
    running = statistics.RunningStatistics()
    for begin, end in [(0, 100), (100, 101), (101, 203)]:
        running.update(features[begin:end])
    mu, sigma = running.result()
    ref_mu, ref_sigma = statistics.statistics_from_features(features)
    assert running.count == 203
    np.testing.assert_allclose(mu, ref_mu, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sigma, ref_sigma, rtol=0, atol=1e-10)


class _FakeExtractor:
    """Features = per-channel means, so statistics are predictable without Inception."""

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, images):
        self.batch_sizes.append(len(images))
        return np.asarray(images, np.float64).mean(axis=(1, 2))


def test_compute_statistics_uses_partial_last_batch():
    images = np.arange(7 * 2 * 2 * 3, dtype=np.uint8).reshape(7, 2, 2, 3)
    extractor = _FakeExtractor()
    batches = (images[i : i + 3] for i in range(0, 7, 3))
    mu, sigma, _ = statistics.compute_statistics(extractor, batches, 7, show_progress=False)
    assert extractor.batch_sizes == [3, 3, 1]
    ref_mu, ref_sigma = statistics.statistics_from_features(extractor(images))
    np.testing.assert_allclose(mu, ref_mu)
    np.testing.assert_allclose(sigma, ref_sigma)
    with pytest.raises(ValueError, match="expected 8 images, got 7"):
        statistics.compute_statistics(_FakeExtractor(), iter([images]), 8, show_progress=False)


def test_npz_uses_ttur_keys_and_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    mu, sigma = rng.normal(size=2048), np.eye(2048)
    path = tmp_path / "stats.npz"
    statistics.save_statistics(path, mu, sigma, num_images=10)
    with np.load(path) as data:  # what TTUR's _handle_path reads
        np.testing.assert_array_equal(data["mu"], mu)
        np.testing.assert_array_equal(data["sigma"], sigma)
    loaded_mu, loaded_sigma = statistics.load_statistics(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)


def test_bad_npz_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        statistics.load_statistics(tmp_path / "missing.npz")
    np.savez(tmp_path / "keys.npz", m=np.zeros(2048), s=np.eye(2048))
    with pytest.raises(UserError, match='"mu" and "sigma"'):
        statistics.load_statistics(tmp_path / "keys.npz")
    np.savez(tmp_path / "dim.npz", mu=np.zeros(64), sigma=np.eye(64))
    with pytest.raises(UserError, match="expected 2048"):
        statistics.load_statistics(tmp_path / "dim.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable"):
        statistics.load_statistics(tmp_path / "junk.npz")


def test_metric_name_and_uint8_conversion():
    assert training_monitor.metric_name(50000) == "fid50k"
    assert training_monitor.metric_name(5000) == "fid5k"
    assert training_monitor.metric_name(1234) == "fid1234"
    # (x + 1) * 127.5: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128 (round half to even),
    # out-of-range values are clipped.
    np.testing.assert_array_equal(
        to_uint8([-1.0, 1.0, 0.0, -1.5, 1.5, 0.5]), np.array([0, 255, 128, 0, 255, 191], np.uint8)
    )


def test_grayscale_becomes_three_equal_channels_and_rgb_is_unchanged():
    gray = np.arange(6, dtype=np.uint8).reshape(1, 2, 3, 1)
    rgb = as_rgb(gray)
    assert rgb.shape == (1, 2, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray[..., 0])
    colour = np.arange(18, dtype=np.uint8).reshape(1, 2, 3, 3)
    np.testing.assert_array_equal(as_rgb(colour), colour)


def test_fid_monitor_names_metric_and_tracks_best():
    extractor = _FakeExtractor()
    rng = np.random.default_rng(3)
    requested = []
    level = {"value": 0}

    def sample_fn(batch):
        requested.append(batch)
        return np.clip(rng.normal(100 + level["value"], 20, size=(batch, 2, 2, 3)), 0, 255).astype(np.uint8)

    reference = (np.full(3, 100.0), np.eye(3) * 100.0)
    monitor = training_monitor.FidMonitor(sample_fn, reference, num_samples=7, batch_size=3, extractor=extractor)
    first = monitor(step=10)
    assert first.name == "fid7" and first.is_best and first.best_step == 10
    assert requested == [3, 3, 1]  # the partial batch is generated and used
    level["value"] = 60  # far from the reference: worse FID, not the best
    second = monitor(step=20)
    assert second.fid > first.fid and not second.is_best and second.best_step == 10
    monitor2 = training_monitor.FidMonitor(sample_fn, reference, num_samples=5000, extractor=extractor)
    assert monitor2.name == "fid5k"
    monitor2.restore(monitor.state())
    assert monitor2.best_step == 10 and monitor2.best_fid == first.fid


def test_feature_dim_matches_the_network():
    from fid import inception

    assert statistics.FEATURE_DIM == inception.FEATURE_DIM
