"""Wasserstein loss and gradient penalty (WGAN-GP) for COCO-GAN.

Paper: Lin et al., ICCV 2019, Sec. 3.2 "Loss functions" (L_W, L_GP); Gulrajani et al., NeurIPS
2017, Eq. 3 (gradient penalty).  Official reference: hubert0527/COCO-GAN
trainer.py ``_compose_losses`` / ``_calc_gradient_penalty``.

Defects of the official penalty not copied (DESIGN section 8): its slopes were
``sqrt(sum(g**2, axis=[1]))`` (the height axis only, one slope per row and
channel) and its interpolation weight was drawn per element.  Here epsilon is one
U[0, 1] draw per sample and the norm runs over all non-batch axes.
"""

from __future__ import annotations

import tensorflow as tf

_SQRT_EPS = 1e-10  # keeps d sqrt / dx finite where the gradient is exactly zero


def _check(t, rank, what):
    if len(t.shape) != rank:
        raise ValueError(f"{what}: expected rank {rank} vs got shape {list(t.shape)}")


def wasserstein_loss(real_logits, fake_logits) -> dict:
    """WGAN adversarial terms (paper Sec. 3.2: L_W = E[D(x_real)] - E[D(G(z))]).

    Returns dict(d_loss = -L_W = mean(fake) - mean(real),   (D minimises)
                 g_loss = -mean(fake),                      (G minimises; = -L_W up to a G-free term)
                 wasserstein = L_W = mean(real) - mean(fake)) (logged estimate).
    Logits of shape [B, 1] (or [B]).
    """
    real_logits = tf.convert_to_tensor(real_logits)
    fake_logits = tf.convert_to_tensor(fake_logits)
    for t, what in ((real_logits, "real logits"), (fake_logits, "fake logits")):
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise ValueError(f"{what}: expected shape [B, 1] vs got {list(t.shape)}")
    mean_real = tf.reduce_mean(real_logits)
    mean_fake = tf.reduce_mean(fake_logits)
    return dict(d_loss=mean_fake - mean_real, g_loss=-mean_fake, wasserstein=mean_real - mean_fake)


def gradient_penalty(critic_fn, real, fake, gp_lambda, epsilon=None) -> dict:
    """WGAN-GP penalty (paper Sec. 3.2 L_GP; Gulrajani et al. Eq. 3):

        x_hat = eps * real + (1 - eps) * fake,   eps ~ U[0, 1], one per sample
        slope = sqrt(sum_{non-batch axes} (dD(x_hat)/dx_hat)^2 + 1e-10)
        gp_loss = gp_lambda * mean((slope - 1)^2)

    ``critic_fn(x)`` returns the logits [B, 1] (the caller closes over the macro
    coordinates).  The input gradient is taken with an inner GradientTape, so an
    enclosing tape differentiates gp_loss with respect to the critic's weights.
    ``epsilon`` (shape [B, 1, ..., 1]) may be given for reproducibility.
    Returns dict(gp_loss, gp (unweighted), gp_slopes [B]).
    """
    real = tf.convert_to_tensor(real)
    fake = tf.convert_to_tensor(fake)
    if real.shape.rank is None or real.shape.rank < 2:
        raise ValueError(f"real: expected shape [B, ...] vs got {list(real.shape)}")
    if real.shape != fake.shape and (None not in real.shape and None not in fake.shape):
        raise ValueError(f"fake: expected shape {list(real.shape)} vs got {list(fake.shape)}")
    rank = real.shape.rank
    eps_shape = [tf.shape(real)[0]] + [1] * (rank - 1)
    if epsilon is None:
        epsilon = tf.random.uniform(eps_shape, 0.0, 1.0, dtype=real.dtype)
    else:
        epsilon = tf.convert_to_tensor(epsilon, dtype=real.dtype)
        _check(epsilon, rank, "epsilon")
        if any(int(d) != 1 for d in epsilon.shape[1:]):
            raise ValueError(f"epsilon: expected shape [B{', 1' * (rank - 1)}] vs got {list(epsilon.shape)}")
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as inner:
        inner.watch(x_hat)
        logits = critic_fn(x_hat)
    # d sum(logits) / d x_hat = per-sample input gradients (samples are independent).
    grads = inner.gradient(logits, x_hat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, rank))) + _SQRT_EPS)
    gp = tf.reduce_mean(tf.square(slopes - 1.0))
    return dict(gp_loss=gp_lambda * gp, gp=gp, gp_slopes=slopes)
