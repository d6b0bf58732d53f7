"""Spectral norm against SVD, conditional batch norm against a hand computation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.layers import BatchNorm, ConditionalBatchNorm, SpectralNormConv2D, SpectralNormDense


def _sv_max(mat):
    return float(np.linalg.svd(mat, compute_uv=False)[0])


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_spectral_norm_converges_to_svd(kind):
    rng = np.random.default_rng(0)
    if kind == "dense":
        layer = SpectralNormDense(20)
        x = tf.zeros([1, 30])
    else:
        layer = SpectralNormConv2D(8, 3)
        x = tf.zeros([1, 5, 5, 4])
    layer(x)  # build
    w = rng.normal(size=layer.kernel.shape).astype(np.float32)
    layer.kernel.assign(w)
    # The power iteration runs on the kernel viewed as [kh*kw*cin, cout].
    sigma_true = _sv_max(w.reshape(-1, w.shape[-1]))

    errors = []
    calls = 0
    for target in (1, 3, 10, 30, 100):
        while calls < target:  # one training call == one power iteration
            layer(x, training=True)
            calls += 1
        _, sigma = layer.normalized_kernel(update_u=False)
        errors.append(abs(float(sigma) - sigma_true) / sigma_true)
    # The estimate converges as iterations grow (a lower bound approaching sigma_max) ...
    assert errors[-1] < errors[0]
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:])), errors
    # ... and the normalized kernel has spectral norm 1 within 1e-2.
    w_bar, _ = layer.normalized_kernel(update_u=False)
    w_bar = w_bar.numpy()
    assert abs(_sv_max(w_bar.reshape(-1, w_bar.shape[-1])) - 1.0) < 1e-2


def test_spectral_norm_u_updates_only_in_training():
    layer = SpectralNormDense(6)
    x = tf.ones([2, 5])
    layer(x)
    u0 = layer.u.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    layer(x, training=True, update_state=False)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    layer(x, training=True)
    assert not np.allclose(layer.u.numpy(), u0)
    assert not layer.u.trainable and not any(v is layer.u for v in layer.trainable_variables)


def test_spectral_norm_gradient_goes_through_sigma():
    """Miyato et al. 2018 Eq. 12: for L = <G, W/sigma> with sigma = v^T W u (u, v fixed),
    dL/dW = G/sigma - (<G, W>/sigma^2) v u^T.  Keras' wrapper would give G (no sigma term)."""
    rng = np.random.default_rng(1)
    layer = SpectralNormDense(3)
    layer(tf.zeros([1, 4]))
    layer.kernel.assign(rng.normal(size=(4, 3)).astype(np.float32))
    g = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    # Reproduce the layer's u, v for the oracle (one iteration from the stored u).
    w = layer.kernel.numpy()
    u = layer.u.numpy()
    v = u @ w.T
    v /= np.linalg.norm(v) + 1e-12
    u = v @ w
    u /= np.linalg.norm(u) + 1e-12
    sigma = float((v @ w @ u.T)[0, 0])
    with tf.GradientTape() as tape:
        w_bar, _ = layer.normalized_kernel(update_u=False)
        loss = tf.reduce_sum(g * w_bar)
    grad = tape.gradient(loss, layer.kernel).numpy()
    expected = g.numpy() / sigma - float(np.sum(g.numpy() * w)) / sigma**2 * (v.T @ u)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)


def test_keras_spectral_normalization_overwrites_kernel():
    """Documents keras.layers.SpectralNormalization in the pinned Keras (3.15.1):
    a training call *assigns* W/sigma into the wrapped kernel variable, so the trainable
    variable itself is renormalised every step; inference leaves it alone.  That is
    not the paper's reparameterisation, hence models.layers.SpectralNorm*."""
    keras.utils.set_random_seed(0)
    wrapped = keras.layers.SpectralNormalization(keras.layers.Dense(3))
    x = tf.ones([2, 4])
    wrapped(x)
    w = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 3.0
    wrapped.layer.kernel.assign(w)
    wrapped(x, training=False)
    np.testing.assert_array_equal(wrapped.layer.kernel.numpy(), w)
    for _ in range(50):
        wrapped(x, training=True)
    w_after = wrapped.layer.kernel.numpy()
    assert not np.allclose(w_after, w)  # the variable was overwritten ...
    assert abs(_sv_max(w_after) - 1.0) < 1e-2  # ... with the normalized kernel


def _cbn_with_known_projections(epsilon=0.0):
    cbn = ConditionalBatchNorm(momentum=0.99, epsilon=epsilon)
    cbn((tf.zeros([2, 1, 2, 2]), tf.zeros([2, 1])))
    # gamma(y) = y * [1, 2] + [0, 1];  beta(y) = y * [0.5, 0] + [0, -1]
    cbn.gamma_dense.kernel.assign([[1.0, 2.0]])
    cbn.gamma_dense.bias.assign([0.0, 1.0])
    cbn.beta_dense.kernel.assign([[0.5, 0.0]])
    cbn.beta_dense.bias.assign([0.0, -1.0])
    return cbn


def test_conditional_batch_norm_hand_computation():
    # x[b, 0, w, c]; channel 0 values (b,w) = 0,0,4,4 -> mean 2, var 4, std 2 -> -1,-1,1,1
    #                channel 1 values       = 2,8,2,8 -> mean 5, var 9, std 3 -> -1,1,-1,1
    x = tf.constant([[[[0.0, 2.0], [0.0, 8.0]]], [[[4.0, 2.0], [4.0, 8.0]]]])
    y = tf.constant([[1.0], [2.0]])
    # gamma: sample 0 -> [1, 3], sample 1 -> [2, 5];  beta: sample 0 -> [0.5, -1], sample 1 -> [1, -1]
    # out[0] = [[-1*1+0.5, -1*3-1], [-1*1+0.5, 1*3-1]] = [[-0.5, -4], [-0.5, 2]]
    # out[1] = [[ 1*2+1,   -1*5-1], [ 1*2+1,   1*5-1]] = [[ 3,   -6], [ 3,   4]]
    # (the official sqrt(var**2 + eps) would divide by 4 and 9 instead of 2 and 3)
    cbn = _cbn_with_known_projections()
    out = cbn((x, y), training=True).numpy()
    expected = np.array([[[[-0.5, -4.0], [-0.5, 2.0]]], [[[3.0, -6.0], [3.0, 4.0]]]])
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # One training call: moving = 0.99 * moving + 0.01 * batch  (init mean 0, var 1)
    np.testing.assert_allclose(cbn.moving_mean.numpy(), [0.02, 0.05], atol=1e-6)
    np.testing.assert_allclose(cbn.moving_variance.numpy(), [1.03, 1.08], atol=1e-6)
    # Inference uses the moving averages and does not change them:
    # channel 0 of sample 1, w 0: (4 - 0.02) / sqrt(1.03) * 2 + 1
    out_inf = cbn((x, y), training=False).numpy()
    assert abs(out_inf[1, 0, 0, 0] - ((4 - 0.02) / np.sqrt(1.03) * 2 + 1)) < 1e-5
    np.testing.assert_allclose(cbn.moving_mean.numpy(), [0.02, 0.05], atol=1e-6)
    assert len(cbn.trainable_variables) == 4  # two dense layers, kernel + bias each


def test_conditional_batch_norm_starts_as_plain_normalisation():
    # gamma's bias starts at 1 and beta's at 0: for y = 0 a fresh CBN is (x - mu) / sqrt(var + eps).
    cbn = ConditionalBatchNorm(epsilon=0.0)
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1) ** 2)
    out = cbn((x, tf.zeros([2, 3])), training=True).numpy()
    xs = x.numpy()
    np.testing.assert_allclose(out, (xs - xs.mean()) / xs.std(), rtol=1e-5, atol=1e-6)


def test_batch_norm_momentum_and_trainable_affine():
    bn = BatchNorm(momentum=0.9, epsilon=0.0)
    x = tf.constant([[1.0], [3.0]])  # mean 2, var 1 -> -1, 1
    np.testing.assert_allclose(bn(x, training=True).numpy(), [[-1.0], [1.0]], atol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [0.2], atol=1e-6)  # 0.9*0 + 0.1*2
    np.testing.assert_allclose(bn.moving_variance.numpy(), [1.0], atol=1e-6)  # 0.9*1 + 0.1*1
    assert sorted(v.name for v in bn.trainable_variables) == ["beta", "gamma"]
