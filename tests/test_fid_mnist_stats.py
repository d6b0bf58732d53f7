"""eval_fid.py --mode=stats --dataset=mnist: reference statistics of the embedded digits the MNIST demo trains on.

The features are helpers.TinyFeatures (the subject is which images reach the network and how they are
prepared, not Inception); the oracle is numpy's mean and covariance of those features computed here from
data.memory's digits replicated to RGB, as generated grayscale digits are for FID."""

import numpy as np
import pytest
from helpers import TinyFeatures, run_cli_in_process, use_tiny_fid_features

from data import memory


def test_mnist_stats_are_the_moments_of_the_embedded_digits_in_rgb(tmp_path, monkeypatch, capsys):
    use_tiny_fid_features(monkeypatch, dim=4)
    out = tmp_path / "mnist.npz"
    argv = ["--mode=stats", "--dataset=mnist", f"--out={out}", "--start=10", "--num_images=300", "--batch_size=64"]
    code, stdout, err = run_cli_in_process("eval_fid", argv, capsys)
    assert code in (0, None), err  # SystemExit(None): success
    assert "300 embedded MNIST digits [10:310]" in stdout
    assert "covariance is singular" in err  # 300 < 2,048 images
    features = TinyFeatures(4)(np.repeat(memory.mnist_images()[10:310], 3, axis=-1))
    with np.load(out) as stats:
        np.testing.assert_allclose(stats["mu"], features.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(stats["sigma"], np.cov(features, rowvar=False), rtol=1e-8)
        assert int(stats["num_images"]) == 300
        assert int(stats["size"]) == 32


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data_dir=somewhere"], "drop --data_dir"),
        (["--size=64"], "drop --size"),
        (["--start=4999"], "1 image; FID needs at least 2"),
    ],
)
def test_mnist_stats_mistakes_are_one_line(tmp_path, capsys, extra, message):
    argv = ["--mode=stats", "--dataset=mnist", f"--out={tmp_path / 'x.npz'}", *extra]
    code, _, err = run_cli_in_process("eval_fid", argv, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "x.npz").exists()
