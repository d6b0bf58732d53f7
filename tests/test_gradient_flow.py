"""One D step, one G step and one Q step change the intended variables and only those.

Partition (official trainer.py: d_vars = names containing 'D', i.e. D_discriminator and
GD_spatial_prediction_head; g_vars = 'G'; q_vars = 'Q'), minus the official defect of
the spatial head also being matched by G's optimizer (DESIGN section 8):
  D's optimizer: discriminator + spatial head
  G's optimizer: generator only
  Q's optimizer: content head only
Objectives (DESIGN section 5 / official _compose_losses):
  D: -L_W + L_GP + L_S(real) + L_C   (L_C reaches D's trunk through h_fake, as in the
                                      paper's and the official D objective; Q's own
                                      weights are not in D's variable list)
  G: -mean D(fake) + L_S(fake) + L_C
  Q: L_C  (the official q_loss also has the adversarial term, which does not depend on Q)
"""

import types

import keras
import numpy as np
import tensorflow as tf

from losses import content_consistency_loss, gradient_penalty, spatial_consistency_loss, wasserstein_loss
from models.build import build_models

MICRO, MACRO, B = 4, 8, 4
P = types.SimpleNamespace(z_dim=8, spatial_dim=2, g_extra_layers=0, d_extra_layers=0, ngf_base=4, ndf_base=4, aux_dim=8)


def _merge(micro):
    """[B*4, 4, 4, 3] (row-major 2x2 per sample) -> [B, 8, 8, 3]."""
    x = tf.reshape(micro, [B, 2, 2, MICRO, MICRO, 3])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [B, MACRO, MACRO, 3])


def _snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def _changed(model, before):
    return [not np.array_equal(v.numpy(), b) for v, b in zip(model.variables, before)]


def test_gradient_flow_partition():
    keras.utils.set_random_seed(0)
    m = build_models(P, MICRO, MACRO)
    G, D, S, Q = m["generator"], m["discriminator"], m["spatial_head"], m["content_head"]
    opt = {k: keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.999) for k in "dgq"}
    d_vars = D.trainable_variables + S.trainable_variables
    z = tf.random.uniform([B, P.z_dim], -1, 1, seed=1)
    # Macro position: the top-left macro patch (-1, -1) ... with its 2x2 micro coordinates.
    c_macro = tf.random.uniform([B, 2], -1, 1, seed=2)
    offsets = tf.constant([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    c_micro = tf.reshape(c_macro[:, None, :] + 0.5 * offsets[None], [-1, 2])
    z_rep = tf.repeat(z, 4, axis=0)
    real = tf.random.uniform([B, MACRO, MACRO, 3], -1, 1, seed=3)

    def fake_macro(update_state):
        return _merge(G((z_rep, c_micro), training=True, update_state=update_state))

    # ------------------------------------------------------------------ D step
    snaps = {k: _snapshot(v) for k, v in m.items()}
    fake = fake_macro(update_state=False)
    with tf.GradientTape() as tape:
        real_logits, h_real = D((real, c_macro), training=True)
        fake_logits, h_fake = D((fake, c_macro), training=True, update_state=False)
        adv = wasserstein_loss(real_logits, fake_logits)
        gp = gradient_penalty(lambda x: D((x, c_macro), training=True, update_state=False)[0], real, fake, 10.0)
        s_real = spatial_consistency_loss(S(h_real, training=True), c_macro, 100.0)
        content = content_consistency_loss(Q(h_fake, training=True, update_state=False), z, 1.0)
        d_loss = adv["d_loss"] + gp["gp_loss"] + s_real["loss"] + content["loss"]
    grads = tape.gradient(d_loss, d_vars)
    assert all(g is not None for g in grads)
    opt["d"].apply_gradients(zip(grads, d_vars))
    # The critic's output bias gets an exactly zero gradient: it cancels in
    # mean(fake) - mean(real) and does not enter the input gradient of the GP.
    zero_grad = {"discriminator/main_out/bias"}
    for name in ("discriminator", "spatial_head"):
        changed = dict(zip([v.path for v in m[name].variables], _changed(m[name], snaps[name])))
        for v in m[name].trainable_variables:
            assert changed[v.path] == (v.path not in zero_grad), v.path
    for name in ("generator", "content_head"):
        assert not any(_changed(m[name], snaps[name])), name  # weights and state untouched

    # L_C does reach D's trunk in D's objective (paper and official), through h_fake.
    with tf.GradientTape() as tape:
        _, h_fake = D((fake, c_macro), training=True, update_state=False)
        lc = content_consistency_loss(Q(h_fake, training=False), z, 1.0)["loss"]
    g_lc = tape.gradient(lc, D.trainable_variables)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in g_lc)

    # ------------------------------------------------------------------ G step
    snaps = {k: _snapshot(v) for k, v in m.items()}
    with tf.GradientTape(persistent=True) as tape:
        fake = fake_macro(update_state=True)
        fake_logits, h_fake = D((fake, c_macro), training=True, update_state=False)
        s_fake = spatial_consistency_loss(S(h_fake, training=True, update_state=False), c_macro, 100.0)
        content = content_consistency_loss(Q(h_fake, training=True, update_state=False), z, 1.0)
        g_loss = wasserstein_loss(fake_logits, fake_logits)["g_loss"] + s_fake["loss"] + content["loss"]
    grads = tape.gradient(g_loss, G.trainable_variables)
    assert all(g is not None for g in grads)
    opt["g"].apply_gradients(zip(grads, G.trainable_variables))
    g_changed = dict(zip([v.path for v in G.variables], _changed(G, snaps["generator"])))
    assert all(g_changed[v.path] for v in G.trainable_variables), g_changed
    for name in ("discriminator", "spatial_head", "content_head"):
        assert not any(_changed(m[name], snaps[name])), name

    # ------------------------------------------------------------------ Q step
    snaps = {k: _snapshot(v) for k, v in m.items()}
    q_grads = tape.gradient(content["loss"], Q.trainable_variables)
    del tape
    opt["q"].apply_gradients(zip(q_grads, Q.trainable_variables))
    q_changed = dict(zip([v.path for v in Q.variables], _changed(Q, snaps["content_head"])))
    assert all(q_changed[v.path] for v in Q.trainable_variables), q_changed
    for name in ("generator", "discriminator", "spatial_head"):
        assert not any(_changed(m[name], snaps[name])), name

    # The optimizers hold slots for exactly their own variables.
    assert {id(v) for v in d_vars}.isdisjoint({id(v) for v in G.trainable_variables + Q.trainable_variables})
    assert {id(v) for v in S.trainable_variables} <= {id(v) for v in d_vars}
