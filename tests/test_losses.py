"""Each loss on fixed inputs against a value worked out by hand."""

import numpy as np
import pytest
import tensorflow as tf

from losses import content_consistency_loss, gradient_penalty, spatial_consistency_loss, wasserstein_loss


def test_wasserstein_loss_values():
    # mean(real) = (1 + 3) / 2 = 2, mean(fake) = (-1 + 0) / 2 = -0.5
    # d_loss = mean(fake) - mean(real) = -2.5; g_loss = -mean(fake) = 0.5; L_W = 2.5
    out = wasserstein_loss(tf.constant([[1.0], [3.0]]), tf.constant([[-1.0], [0.0]]))
    assert float(out["d_loss"]) == pytest.approx(-2.5)
    assert float(out["g_loss"]) == pytest.approx(0.5)
    assert float(out["wasserstein"]) == pytest.approx(2.5)


def test_wasserstein_loss_rejects_bad_shape():
    with pytest.raises(ValueError, match="expected shape"):
        wasserstein_loss(tf.zeros([2, 3]), tf.zeros([2, 1]))


def test_gradient_penalty_linear_critic():
    # D(x) = sum(a * x): the input gradient is a everywhere, |a| = sqrt(4 * 1.5^2) = 3,
    # so every slope is 3, gp = (3 - 1)^2 = 4 and gp_loss = 10 * 4 = 40.
    a = tf.fill([1, 2, 2, 1], 1.5)
    real = tf.random.normal([3, 2, 2, 1], seed=1)
    fake = tf.random.normal([3, 2, 2, 1], seed=2)
    out = gradient_penalty(lambda x: tf.reduce_sum(a * x, axis=[1, 2, 3])[:, None], real, fake, 10.0)
    np.testing.assert_allclose(out["gp_slopes"].numpy(), [3.0, 3.0, 3.0], rtol=1e-6)
    assert float(out["gp_loss"]) == pytest.approx(40.0, rel=1e-5)


def test_gradient_penalty_quadratic_critic_norm_over_all_axes():
    # D(x) = 0.5 * sum(x^2): gradient = x_hat, slope = |x_hat| over all 8 non-batch entries.
    # real = 1, fake = 0, eps = [0.5, 0.25] -> x_hat = eps (per sample, every entry)
    # slopes: sqrt(8 * 0.25) = sqrt(2) = 1.414214,  sqrt(8 * 0.0625) = sqrt(0.5) = 0.707107
    # gp = ((1.414214 - 1)^2 + (0.707107 - 1)^2) / 2 = (0.171573 + 0.085786) / 2 = 0.128680
    # (a height-only norm, as upstream, would give sqrt(2 * eps^2) per row instead)
    real = tf.ones([2, 2, 2, 2])
    fake = tf.zeros([2, 2, 2, 2])
    eps = tf.constant([0.5, 0.25])[:, None, None, None]
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]
    out = gradient_penalty(critic, real, fake, gp_lambda=10.0, epsilon=eps)
    np.testing.assert_allclose(out["gp_slopes"].numpy(), [np.sqrt(2.0), np.sqrt(0.5)], rtol=1e-6)
    assert float(out["gp"]) == pytest.approx(0.128680, abs=1e-5)
    assert float(out["gp_loss"]) == pytest.approx(1.28680, abs=1e-4)


def test_gradient_penalty_epsilon_is_uniform_per_sample():
    seen = {}

    def critic(x):
        seen["x_hat"] = x
        return tf.reduce_sum(x, axis=[1, 2, 3])[:, None]

    # real = 1, fake = 0 -> x_hat = eps broadcast over each sample
    gradient_penalty(critic, tf.ones([64, 3, 3, 2]), tf.zeros([64, 3, 3, 2]), 10.0)
    x_hat = seen["x_hat"].numpy().reshape(64, -1)
    np.testing.assert_allclose(x_hat, np.repeat(x_hat[:, :1], x_hat.shape[1], axis=1))
    eps = x_hat[:, 0]
    assert eps.min() >= 0.0 and eps.max() <= 1.0 and eps.std() > 0.1


def test_gradient_penalty_differentiates_critic_weights():
    # D(x) = w * sum(x) with N = 4 entries per sample: slope = |w| * sqrt(4) = 2|w|.
    # gp = (2w - 1)^2; d gp / dw = 2 (2w - 1) * 2; at w = 1: gp = 1, grad = 4, x10 -> 40.
    w = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        out = gradient_penalty(
            lambda x: w * tf.reduce_sum(x, axis=[1, 2, 3])[:, None], tf.ones([2, 2, 2, 1]), tf.zeros([2, 2, 2, 1]), 10.0
        )
    assert float(out["gp_loss"]) == pytest.approx(10.0, rel=1e-5)
    assert float(tape.gradient(out["gp_loss"], w)) == pytest.approx(40.0, rel=1e-5)


def test_gradient_penalty_zero_gradient_is_finite():
    w = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        out = gradient_penalty(
            lambda x: w * tf.zeros([tf.shape(x)[0], 1]), tf.ones([2, 2, 2, 1]), tf.zeros([2, 2, 2, 1]), 10.0
        )
    assert float(out["gp_loss"]) == pytest.approx(10.0, rel=1e-4)  # (0 - 1)^2 * 10
    g = tape.gradient(out["gp_loss"], w)
    assert g is None or np.isfinite(float(g))


def test_gradient_penalty_rejects_bad_epsilon():
    with pytest.raises(ValueError, match="expected shape"):
        gradient_penalty(
            lambda x: x[:, :1, 0, 0], tf.ones([2, 2, 2, 1]), tf.zeros([2, 2, 2, 1]), 10.0, epsilon=tf.ones([2, 2, 2, 1])
        )


def test_spatial_consistency_loss_value():
    # squared errors: (0-0)^2, (0-1)^2, (1-1)^2, (-1-1)^2 = 0, 1, 0, 4 -> mse 5/4 = 1.25
    # loss = 100 * 1.25 = 125
    out = spatial_consistency_loss(tf.constant([[0.0, 0.0], [1.0, -1.0]]), tf.constant([[0.0, 1.0], [1.0, 1.0]]), 100.0)
    assert float(out["mse"]) == pytest.approx(1.25)
    assert float(out["loss"]) == pytest.approx(125.0)


def test_content_consistency_loss_value():
    # |z - z_pred| = 0.5, 0, 0.5, 1 -> mean 0.5; loss = 2 * 0.5 = 1
    out = content_consistency_loss(tf.constant([[0.5, -1.0], [0.0, 1.0]]), tf.constant([[1.0, -1.0], [0.5, 0.0]]), 2.0)
    assert float(out["l1"]) == pytest.approx(0.5)
    assert float(out["loss"]) == pytest.approx(1.0)


def test_consistency_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="expected"):
        spatial_consistency_loss(tf.zeros([2, 3]), tf.zeros([2, 2]), 1.0)
    with pytest.raises(ValueError, match="expected"):
        content_consistency_loss(tf.zeros([2]), tf.zeros([2]), 1.0)
