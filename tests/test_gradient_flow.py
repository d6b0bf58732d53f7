"""CocoGanStep (training/step.py) against a reference iteration written here from the paper.

The reference runs the official algorithm literally (trainer.py of hubert0527/COCO-GAN: one D
step, then one G step on the updated D), with the paper's objectives (Sec. 3.2) in plain tf ops:

    D step  (D trunk + spatial head):  -L_W + L_GP + L_S(real) + L_S(fake) [+ L_C]
    G step  (generator, a fresh G forward through the updated D):  -E[D(fake)] + L_S(fake) [+ L_C]
    Q step  (content head, its own Adam, on G's step forward):  L_C

    L_W  = E[D(real)] - E[D(fake)]
    L_GP = gp_lambda * E[(||d D(x_hat) / d x_hat||_2 - 1)^2],  x_hat = eps real + (1 - eps) fake,
           one eps per sample, the norm over all non-batch axes (Gulrajani et al. 2017, Eq. 3)
    L_S  = coord_loss_w * mean squared error between c_M and the spatial head's prediction
    L_C  = code_loss_w * mean |z - Q(h_fake)|

Adam is written out (Kingma & Ba, with Keras' placement of epsilon). Macro patches are the micro
patches concatenated row by row; coordinates are the paper's c_M = -1 + 2i/(R-m), c_m = -1 + 2j/(R-1).

State (docs/design.md, State updates): every network call of a step reads the state the step
started with (D runs three times per D step on one u, as in the official graph); the spectral-norm
u of D and of the spatial head advance one power iteration in D's step (with the spatial head's
batch-norm statistics of the real patches), G's u and moving statistics once in G's step, and Q's
state in G's step.

Two identical states are built from one seed (training/state.py); one is trained by CocoGanStep,
the other by the reference, and gradients, weights and state must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny

from training.state import build_training_state
from training.step import CocoGanStep

# Tiny geometry (configs/tiny.yaml): full 16, macro 8, micro 4: R = 4 micro patches per axis, m = 2.
R, M, P = 4, 2, 4
# Top-left micro index (row, col) of each sample's macro patch; pixel offsets are P times these.
MACRO_INDEX = np.array([[0, 0], [1, 2], [2, 1], [2, 2]])
OFFSETS = tf.constant(MACRO_INDEX * P, tf.int32)
C_MACRO = tf.constant(-1.0 + 2.0 * MACRO_INDEX / (R - M), tf.float32)  # [[-1,-1], [0,1], [1,0], [1,1]]
# Micro coordinates of each macro patch, row-major inside it, sample-major across the batch.
C_MICRO = tf.constant(
    [
        [-1.0 + 2.0 * (i + dr) / (R - 1), -1.0 + 2.0 * (j + dc) / (R - 1)]
        for i, j in MACRO_INDEX
        for dr in range(M)
        for dc in range(M)
    ],
    tf.float32,
)
RTOL = 1e-5
CONTENT = dict(Q_update_period=1, loss={"code_loss_w": 1.0})  # L_C on, Q trained on its own Adam
NOISE = 1e-4  # gradient entries below NOISE x the largest one are rounding-level (Adam.apply)


class Adam:
    """Adam on a list of variables: m, v, bias-corrected step size a, w -= a m / (sqrt(v) + epsilon)."""

    def __init__(self, variables: list, lr: float, beta1: float, beta2: float, epsilon: float):
        self.vars, self.lr, self.b1, self.b2, self.eps, self.t = variables, lr, beta1, beta2, epsilon, 0
        self.m = [np.zeros(v.shape, np.float64) for v in variables]
        self.v = [np.zeros(v.shape, np.float64) for v in variables]

    def apply(self, grads: list, slack: dict) -> None:
        """One update. Where a gradient entry is zero up to rounding (|g| below NOISE times the largest
        entry), Adam's g / (|g| + epsilon) amplifies the rounding: such weights get `slack` (one step size)."""
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        noise = NOISE * max(float(np.max(np.abs(g))) for g in grads)
        for k, (var, g) in enumerate(zip(self.vars, grads)):
            g = np.asarray(g, np.float64)
            slack[var.path] = slack.get(var.path, 0.0) + 2 * self.lr * (np.abs(g) < noise)
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            var.assign((var.numpy() - alpha * self.m[k] / (np.sqrt(self.v[k]) + self.eps)).astype(np.float32))


def merge_macro(micro: tf.Tensor) -> tf.Tensor:
    """[B*M*M, P, P, C] -> [B, M*P, M*P, C]: each sample's M x M micro patches concatenated."""
    n = M * M
    out = []
    for b in range(micro.shape[0] // n):
        rows = [tf.concat([micro[b * n + r * M + c] for c in range(M)], axis=1) for r in range(M)]
        out.append(tf.concat(rows, axis=0))
    return tf.stack(out)


def mse(a, b):
    return tf.reduce_mean(tf.square(a - b))


class Reference:
    """The official order on a TrainingState: d_step(), then g_step() (which also trains Q)."""

    def __init__(self, state):
        self.config = state.config
        self.G, self.D = state.models["generator"], state.models["discriminator"]
        self.S, self.Q = state.models["spatial_head"], state.models["content_head"]
        loss, t = self.config.loss_params, self.config.train_params
        self.gp_lambda, self.coord_w, self.code_w = loss.gp_lambda, loss.coord_loss_w, loss.code_loss_w
        self.d_vars = self.D.trainable_variables + self.S.trainable_variables
        self.slack = {}  # per weight: how far Adam may move it on rounding-level gradients
        eps = getattr(t, "adam_epsilon", 1e-7)  # Keras' default unless the config sets one
        self.adam = {
            "d": Adam(self.d_vars, t.dlr, t.beta1, t.beta2, eps),
            "g": Adam(self.G.trainable_variables, t.glr, t.beta1, t.beta2, eps),
            "q": Adam(self.Q.trainable_variables, t.qlr, t.beta1, t.beta2, eps),
        }

    def fake(self, z, update_state):
        z_rep = tf.repeat(z, M * M, axis=0)
        return merge_macro(self.G((z_rep, C_MICRO), training=True, update_state=update_state))

    def d_step(self, real, z, eps) -> list:
        fake = self.fake(z, update_state=False)
        with tf.GradientTape() as tape:
            d_real, h_real = self.D((real, C_MACRO), training=True, update_state=False)
            d_fake, h_fake = self.D((fake, C_MACRO), training=True, update_state=False)
            l_w = tf.reduce_mean(d_real) - tf.reduce_mean(d_fake)
            x_hat = eps * real + (1.0 - eps) * fake
            with tf.GradientTape() as inner:
                inner.watch(x_hat)
                d_hat = self.D((x_hat, C_MACRO), training=True, update_state=False)[0]
            slopes = tf.norm(tf.reshape(inner.gradient(d_hat, x_hat), [real.shape[0], -1]), axis=1)
            l_gp = self.gp_lambda * tf.reduce_mean(tf.square(slopes - 1.0))
            l_s_real = self.coord_w * mse(self.S(h_real, training=True, update_state=False), C_MACRO)
            l_s_fake = self.coord_w * mse(self.S(h_fake, training=True, update_state=False), C_MACRO)
            loss = -l_w + l_gp + l_s_real + l_s_fake
            if self.code_w > 0:
                z_pred = self.Q(h_fake, training=True, update_state=False)
                loss += self.code_w * tf.reduce_mean(tf.abs(z - z_pred))
        grads = tape.gradient(loss, self.d_vars)
        # D's state advances once, from the step's starting state, before its weights change.
        self.D((real, C_MACRO), training=True, update_state=True)
        self.S(h_real, training=True, update_state=True)
        self.adam["d"].apply(grads, self.slack)
        return grads

    def g_step(self, z) -> tuple:
        with tf.GradientTape(persistent=True) as tape:
            fake = self.fake(z, update_state=True)  # G's state advances here, once
            d_fake, h_fake = self.D((fake, C_MACRO), training=True, update_state=False)
            loss = -tf.reduce_mean(d_fake) + self.coord_w * mse(
                self.S(h_fake, training=True, update_state=False), C_MACRO
            )
            l_c = 0.0
            if self.code_w > 0:
                l_c = self.code_w * tf.reduce_mean(tf.abs(z - self.Q(h_fake, training=True, update_state=True)))
                loss += l_c
        g_grads = tape.gradient(loss, self.G.trainable_variables)
        q_grads = None
        if self.code_w > 0 and self.config.train_params.Q_update_period > 0:
            q_grads = tape.gradient(l_c, self.Q.trainable_variables)
        del tape
        self.adam["g"].apply(g_grads, self.slack)
        if q_grads is not None:
            self.adam["q"].apply(q_grads, self.slack)
        return g_grads, q_grads


class Recording:
    """An optimizer wrapper that keeps the last gradients it applied (in variables, so that it
    also works inside a tf.function) and the variables they were for."""

    def __init__(self, optimizer, variables: list):
        self.optimizer = optimizer
        self.grads = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
        self.variables = None

    def apply_gradients(self, grads_and_vars):
        grads_and_vars = list(grads_and_vars)
        self.variables = [v for _, v in grads_and_vars]
        for slot, (g, _) in zip(self.grads, grads_and_vars):
            slot.assign(g)
        return self.optimizer.apply_gradients(grads_and_vars)

    def numpy(self) -> list:
        return [g.numpy() for g in self.grads]


def two_states(**overrides):
    """(state trained by CocoGanStep, its recording optimizers, state trained by the reference)."""
    config = tiny(**overrides)
    assert getattr(config.loss_params, "gp_form", "wgan_gp") == "wgan_gp"  # the reference's penalty
    ours, theirs = build_training_state(config), build_training_state(config)
    models = ours.models
    wanted = {
        "d": models["discriminator"].trainable_variables + models["spatial_head"].trainable_variables,
        "g": models["generator"].trainable_variables,
        "q": models["content_head"].trainable_variables,
    }
    recorders = {k: Recording(ours.optimizers[k], wanted[k]) for k in "dgq"}
    step = CocoGanStep(config, ours.models, recorders)
    for k in "dgq":  # the step's variable lists are the partition under test
        assert [v.path for v in getattr(step, f"{k}_vars")] == [v.path for v in wanted[k]]
    assert_same_models(ours, theirs)  # one seed, one initialisation
    return step, recorders, Reference(theirs), ours, theirs


def inputs(seed: int, z_dim: int = 8):
    rng = np.random.default_rng(seed)
    real = tf.constant(rng.uniform(-1, 1, (4, 8, 8, 3)), tf.float32)
    z = tf.constant(rng.uniform(-1, 1, (4, z_dim)), tf.float32)
    eps = tf.constant(rng.uniform(0, 1, (4, 1, 1, 1)), tf.float32)
    return real, z, eps


def assert_close_grads(got: list, want: list, variables: list) -> None:
    """Equal to RTOL, elementwise and relative to the step's largest gradient entry (some entries,
    e.g. of biases followed by a batch norm, are zero up to rounding)."""
    want = [np.asarray(w if w is not None else np.zeros(v.shape)) for w, v in zip(want, variables)]
    scale = max(float(np.max(np.abs(w))) for w in want)
    assert scale > 0
    for g, w, v in zip(got, want, variables):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, err_msg=v.path)


def assert_same_models(ours, theirs, slack: dict | None = None) -> None:
    """Every variable (weights, SN u, moving statistics) of the four networks agrees."""
    slack = slack or {}
    for name in ("generator", "discriminator", "spatial_head", "content_head"):
        for a, b in zip(ours.models[name].variables, theirs.models[name].variables):
            assert a.path == b.path
            got, want = a.numpy(), b.numpy()
            bad = np.abs(got - want) > RTOL * np.abs(want) + 1e-6 + slack.get(b.path, 0.0)
            assert not bad.any(), f"{a.path}: {bad.sum()} of {bad.size} differ, max {np.max(np.abs(got - want)):.3g}"


def snapshot(state) -> dict:
    return {v.path: v.numpy().copy() for m in state.models.values() for v in m.variables}


def changed(state, before: dict) -> set:
    return {v.path for m in state.models.values() for v in m.variables if not np.array_equal(v.numpy(), before[v.path])}


def test_d_step_equals_the_reference_d_step():
    step, rec, ref, ours, theirs = two_states()
    real, z, eps = inputs(0)
    before = snapshot(ours)
    step.d_step(real, OFFSETS, z, eps)
    want = ref.d_step(real, z, eps)
    assert_close_grads(rec["d"].numpy(), want, step.d_vars)
    assert [v.path for v in rec["d"].variables] == [v.path for v in step.d_vars]
    assert rec["g"].variables is None and rec["q"].variables is None
    assert_same_models(ours, theirs, ref.slack)
    # Only D's and the spatial head's weights and state changed (their u once: equal to the reference).
    moved = changed(ours, before)
    assert moved and all(p.startswith(("discriminator/", "spatial_head/")) for p in moved), moved
    assert any(p.endswith("sn_u") for p in moved) and any("moving_mean" in p for p in moved)


@pytest.mark.parametrize("content", [False, True], ids=["no_content_loss", "content_loss_and_Q"])
def test_g_step_equals_the_reference_g_step(content):
    """G's step (its own G forward) and, with L_C and Q_update_period 1, Q's step on its own Adam."""
    step, rec, ref, ours, theirs = two_states(**(CONTENT if content else {}))
    _, z, _ = inputs(1)
    before = snapshot(ours)
    step.g_step(OFFSETS, z)
    want_g, want_q = ref.g_step(z)
    assert_close_grads(rec["g"].numpy(), want_g, step.g_vars)
    assert rec["d"].variables is None
    if content:
        assert_close_grads(rec["q"].numpy(), want_q, step.q_vars)
        assert [v.path for v in rec["q"].variables] == [v.path for v in step.q_vars]
    else:
        assert rec["q"].variables is None
    assert_same_models(ours, theirs, ref.slack)
    # Only G's (and Q's) weights and state changed: G's u and moving statistics once, like the reference's.
    moved = changed(ours, before)
    owners = ("generator/", "content_head/") if content else ("generator/",)
    assert moved and all(p.startswith(owners) for p in moved), moved
    assert any(p.endswith("sn_u") for p in moved) and any("moving_variance" in p for p in moved)
    assert any(p.startswith("content_head/") for p in moved) == content


@pytest.mark.parametrize("content", [False, True], ids=["no_content_loss", "content_loss_and_Q"])
def test_update_equals_the_official_order(content):
    """`update` (one G forward shared by both steps), compiled as the training loop runs it, equals
    a D step with its own G forward then a G step with a fresh one, over two iterations."""
    step, rec, ref, ours, theirs = two_states(**(CONTENT if content else {}))
    update = tf.function(step.update, autograph=False)
    for it in range(2):
        real, z, eps = inputs(10 + it)
        update(real, OFFSETS, z, eps)
        want_d = ref.d_step(real, z, eps)
        want_g, want_q = ref.g_step(z)
        assert_close_grads(rec["d"].numpy(), want_d, step.d_vars)
        assert_close_grads(rec["g"].numpy(), want_g, step.g_vars)
        if content:
            assert_close_grads(rec["q"].numpy(), want_q, step.q_vars)
            assert [v.path for v in rec["q"].variables] == [v.path for v in step.q_vars]
        else:
            assert rec["q"].variables is None
        assert_same_models(ours, theirs, ref.slack)
        # Start the next iteration from equal weights: Adam's g / (|g| + epsilon) turns rounding-level
        # gradient differences into step-size differences (the slack above), which would compound.
        for name, model in theirs.models.items():
            for a, b in zip(ours.models[name].variables, model.variables):
                a.assign(b)
        ref.slack.clear()
