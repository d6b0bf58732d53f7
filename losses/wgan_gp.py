"""Wasserstein loss and gradient penalty (WGAN-GP) for COCO-GAN.

Paper: Lin et al., ICCV 2019, Sec. 3.2 "Loss functions" (L_W, L_GP); Gulrajani et al., NeurIPS
2017, Eq. 3 (gradient penalty).  Official reference: hubert0527/COCO-GAN
trainer.py ``_compose_losses`` / ``_calc_gradient_penalty``.

Two forms (``loss_params.gp_form``, docs/switches.md):

- ``"wgan_gp"`` (default, Gulrajani et al.): epsilon is one U[0, 1] draw per sample and
  the norm runs over all non-batch axes, one slope per sample.
- ``"official"`` (official ``_calc_gradient_penalty``): epsilon is drawn per element
  (the shape of the patch) and ``slopes = sqrt(sum(g**2, axis=[1]))``, the height axis
  only, so one slope per (sample, column, channel); the penalty is the mean over all of
  them.  The official sqrt had no epsilon; the 1e-10 here only keeps the gradient finite
  where g is exactly zero (it moves a slope near 1 by 5e-11).

Mixed float16: the input gradient dD/dx_hat is taken in the critic's float16 graph and
is not covered by the optimizer's loss scaling, so small gradients would flush to zero.
``loss_scale`` multiplies the (float32) critic output inside the inner tape and the
gradient is divided by it in float32, the standard loss-scaling identity applied to the
inner gradient.
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


GP_FORMS = ("wgan_gp", "official")


def gp_epsilon_shape(batch: int | tf.Tensor | None, patch_shape, form: str = "wgan_gp") -> list:
    """Shape of the interpolation weights: [B, 1, ..., 1] ("wgan_gp") or [B, *patch_shape] ("official")."""
    if form not in GP_FORMS:
        raise ValueError(f"gp form {form!r} is not one of {list(GP_FORMS)}")
    patch_shape = list(patch_shape)
    return [batch] + (patch_shape if form == "official" else [1] * len(patch_shape))


def gradient_penalty(critic_fn, real, fake, gp_lambda, epsilon=None, form: str = "wgan_gp", loss_scale=None) -> dict:
    """WGAN-GP penalty (paper Sec. 3.2 L_GP; Gulrajani et al. Eq. 3):

        x_hat = eps * real + (1 - eps) * fake,   eps ~ U[0, 1]
        form "wgan_gp":  eps one per sample;  slope_b = sqrt(sum_{non-batch axes} g^2 + 1e-10)
        form "official": eps per element;     slope_bwc = sqrt(sum_{h} g^2 + 1e-10)
        gp_loss = gp_lambda * mean((slope - 1)^2),   g = dD(x_hat)/dx_hat

    ``critic_fn(x)`` returns the logits [B, 1] (the caller closes over the macro
    coordinates).  The input gradient is taken with an inner GradientTape, so an
    enclosing tape differentiates gp_loss with respect to the critic's weights.
    ``epsilon`` (shape ``gp_epsilon_shape(B, patch shape, form)``) may be given for
    reproducibility.  ``loss_scale`` (a float32 scalar, e.g. a LossScaleOptimizer's
    dynamic_scale) scales the inner gradient's backward pass; the result is unscaled.
    Returns dict(gp_loss, gp (unweighted), gp_slopes: [B] or [B, W, C] for "official").
    """
    real = tf.convert_to_tensor(real)
    fake = tf.convert_to_tensor(fake)
    if real.shape.rank is None or real.shape.rank < 2:
        raise ValueError(f"real: expected shape [B, ...] vs got {list(real.shape)}")
    if real.shape != fake.shape and (None not in real.shape and None not in fake.shape):
        raise ValueError(f"fake: expected shape {list(real.shape)} vs got {list(fake.shape)}")
    rank = real.shape.rank
    if form == "official" and rank < 3:
        raise ValueError(f"the official gradient penalty needs [B, H, ...] inputs vs got shape {list(real.shape)}")
    if epsilon is None:
        eps_shape = gp_epsilon_shape(tf.shape(real)[0], tf.unstack(tf.shape(real)[1:], num=rank - 1), form)
        epsilon = tf.random.uniform(eps_shape, 0.0, 1.0, dtype=real.dtype)
    else:
        epsilon = tf.convert_to_tensor(epsilon, dtype=real.dtype)
        _check(epsilon, rank, "epsilon")
        want = gp_epsilon_shape(None, real.shape[1:], form)
        if any(w is not None and d is not None and int(d) != int(w) for d, w in zip(epsilon.shape[1:], want[1:])):
            raise ValueError(f"epsilon ({form}): expected shape {['B', *want[1:]]} vs got {list(epsilon.shape)}")
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as inner:
        inner.watch(x_hat)
        logits = tf.cast(critic_fn(x_hat), tf.float32)
        if loss_scale is not None:
            logits = logits * tf.cast(loss_scale, tf.float32)
    # d sum(logits) / d x_hat = per-sample input gradients (samples are independent).
    grads = inner.gradient(logits, x_hat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grads = tf.cast(grads, tf.float32)
    if loss_scale is not None:
        grads = grads / tf.cast(loss_scale, tf.float32)
    axes = [1] if form == "official" else list(range(1, rank))
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + _SQRT_EPS)
    gp = tf.reduce_mean(tf.square(slopes - 1.0))
    return dict(gp_loss=gp_lambda * gp, gp=gp, gp_slopes=slopes)
