"""One COCO-GAN training iteration: a D step, a G step, Q's own step (docs/design.md, Losses and optimisation).

The trainer owns the optimizers; the models own only their weights. Objectives:

    D:  -L_W + L_GP + L_S(real) + L_S(fake) + L_C          (D trunk + spatial head)
    G:   L_W-term + L_S(real) + L_S(fake) + L_C            (generator only)
    Q:   L_C                                               (content head, its own Adam)

with L_W = E[D(real)] - E[D(fake)], exactly the official trainer's sums (its G and Q
objectives also carry terms that do not depend on their variables; they change nothing).

State is updated once per iteration, as in the official graph: the spectral-norm u
vectors of D (and of the heads) advance one power iteration in D's step only, and the
generator's batch-norm moving averages only in G's step (every other forward pass
passes update_state=False).

Randomness is stateless and keyed on (seed, step): z, GP epsilons and the discriminator's
macro positions of an iteration depend only on the seed and the step counter, so resuming
from a checkpoint replays exactly, and a batch split over replicas draws the same numbers
as one device (each replica slices its rows out of the global draw). The streams are named
in rng/streams.py.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from geometry import PatchGeometry, repeat_latents
from losses import (
    content_consistency_loss,
    gradient_penalty,
    masked_spatial_loss,
    spatial_consistency_loss,
    wasserstein_loss,
)
from losses.wgan_gp import gp_epsilon_shape
from rng import replica_rows, stream_key, uniform_latents


class CocoGanStep:
    """Builds the losses and applies the updates of one iteration.

    `models` is the dict of models.build_models; `optimizers` has keys g, d and q.
    """

    def __init__(self, config, models: dict, optimizers: dict, geometry: PatchGeometry | None = None):
        self.config = config
        self.geo = geometry or PatchGeometry.from_config(config)
        self.G = models["generator"]
        self.D = models["discriminator"]
        self.S = models["spatial_head"]
        self.Q = models["content_head"]
        self.opt = optimizers
        loss = config.loss_params
        self.gp_lambda, self.coord_w, self.code_w = loss.gp_lambda, loss.coord_loss_w, loss.code_loss_w
        self.gp_form = getattr(loss, "gp_form", "wgan_gp")  # docs/switches.md
        self.gp_patch_shape = [*self.geo.macro_size, int(config.data_params.c_dim)]
        self.z_dim = config.model_params.z_dim
        self.seed = int(config.train_params.seed)
        self.train_q = config.train_params.Q_update_period > 0 and self.code_w > 0
        self.d_vars = self.D.trainable_variables + self.S.trainable_variables
        self.g_vars = self.G.trainable_variables
        self.q_vars = self.Q.trainable_variables

    # ------------------------------------------------------------------ pieces
    def sample_z(self, step, batch):
        key = stream_key(self.seed, step, "z")
        return replica_rows(lambda n: uniform_latents(key, n, self.z_dim), batch)

    def gp_epsilon(self, step, batch):
        """GP interpolation weights: [B, 1, 1, 1], or one per element [B, q, q, C] for gp_form "official"."""
        key = stream_key(self.seed, step, "gp")
        shape = self.gp_patch_shape
        return replica_rows(lambda n: tf.random.stateless_uniform(gp_epsilon_shape(n, shape, self.gp_form), key), batch)

    def generate_macro(self, z, offsets, training=True, update_state=False):
        """G on the micro coordinates of each macro patch, merged: [B, q, q, C]."""
        n = self.geo.micro_per_macro
        coords = tf.reshape(self.geo.micro_coords_in_macro(offsets), [-1, self.geo.coord_dim])
        micro = self.G((repeat_latents(z, n), coords), training=training, update_state=update_state)
        return self.geo.merge_macro(micro)

    def _scale(self, loss, optimizer=None):
        """Per-replica loss scaling: gradients are summed across replicas by the optimizer
        (Keras 3 all-reduces them in apply_gradients). Under mixed_float16 the optimizer is a
        LossScaleOptimizer: the loss is also multiplied by its dynamic scale, which its
        apply_gradients divides out again (skipping the update if a gradient is not finite)."""
        ctx = tf.distribute.get_replica_context()
        loss = loss / (ctx.num_replicas_in_sync if ctx is not None else 1)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            loss = optimizer.scale_loss(loss)
        return loss

    @staticmethod
    def _loss_scale(optimizer) -> tf.Tensor | None:
        """The dynamic loss scale of a mixed_float16 optimizer (None otherwise), for the gradient
        penalty's inner input gradient, which the outer loss scaling does not cover."""
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return None
        return tf.convert_to_tensor(optimizer.dynamic_scale if optimizer.built else optimizer.initial_scale)

    # -------------------------------------------------------------------- steps
    def d_step(self, real, offsets, z, eps, fake=None):
        """D's update; `fake` (G's merged macro patches for z, offsets) is computed if not given."""
        if fake is None:
            fake = self.generate_macro(z, offsets, training=True, update_state=False)
        d = self.critic_update(real, offsets, fake, z, eps)
        return {
            "loss/d": d["total"],
            "loss/d_adv": d["adv"]["d_loss"],
            "loss/gp": d["gp"]["gp_loss"],
            "loss/spatial_real": d["s_real"]["loss"],
            "loss/spatial_fake_d": d["s_fake"]["loss"],
            "loss/wasserstein": d["adv"]["wasserstein"],
            "gp/slopes_mean": tf.reduce_mean(d["gp"]["gp_slopes"]),
            "gp/slopes_max": tf.reduce_max(d["gp"]["gp_slopes"]),
            "metric/spatial_error_real": tf.reduce_mean(tf.abs(d["pred_real"] - d["c_real"])),
            "metric/d_real": tf.reduce_mean(d["real_logits"]),
            "metric/d_fake": tf.reduce_mean(d["fake_logits"]),
        }

    def critic_update(self, real, offsets, fake, z, eps, fake_offsets=None, optimizer: str = "d") -> dict:
        """One update of D and the spatial head on D's objective -L_W + L_GP + L_S(real) + L_S(fake) [+ L_C],
        applied by ``self.opt[optimizer]``; real patches at `offsets`, `fake` (G's patches for z) under
        stop_gradient.

        With `fake_offsets` (beyond-boundary fine-tuning, training/extrapolation.py) the fakes sit
        elsewhere: D scores them at their own coordinates, the gradient penalty scores the interpolate
        x̂ = ε real + (1-ε) fake at ĉ = ε c_real + (1-ε) c_fake, and L_S(fake) stops the gradient of
        rows outside the image (losses.masked_spatial_loss). Returns the loss parts and the tensors
        the metrics need (dict: total, adv, gp, s_real, s_fake, c_real, pred_real, real_logits, fake_logits).
        """
        c_real = self.geo.macro_coords(offsets)
        if fake_offsets is None:
            c_fake = c_gp = c_real
        else:
            c_fake = self.geo.macro_coords(fake_offsets)
            e = tf.reshape(eps, [-1, 1])
            c_gp = e * c_real + (1.0 - e) * c_fake
        fake = tf.stop_gradient(fake)
        with tf.GradientTape() as tape:
            # Every D and head call of this step reads the same spectral-norm u, as in the official
            # graph: the calls that leave u alone (gradient penalty, the head on fakes) run before
            # the ones that advance it, which tf.function's automatic control dependencies keep in order.
            gp = gradient_penalty(
                lambda x: self.D((x, c_gp), training=True, update_state=False)[0],
                real,
                fake,
                self.gp_lambda,
                epsilon=eps,
                form=self.gp_form,
                loss_scale=self._loss_scale(self.opt[optimizer]),
            )
            # Real and fake share D's trunk call (no batch norm in the trunk, so this is exact)
            # and advance spectral norm's u once; the heads see them separately, as upstream.
            both = tf.concat([real, fake], 0)
            logits, h = self.D((both, tf.concat([c_real, c_fake], 0)), training=True, update_state=True)
            real_logits, fake_logits = tf.split(logits, 2)
            h_real, h_fake = tf.split(h, 2)
            pred_fake = self.S(h_fake, training=True, update_state=False)
            pred_real = self.S(h_real, training=True, update_state=True)
            adv = wasserstein_loss(real_logits, fake_logits)
            s_real = spatial_consistency_loss(pred_real, c_real, self.coord_w)
            if fake_offsets is None:
                s_fake = spatial_consistency_loss(pred_fake, c_fake, self.coord_w)
            else:
                s_fake = masked_spatial_loss(pred_fake, c_fake, self.geo.in_bounds(fake_offsets), self.coord_w)
            total = adv["d_loss"] + gp["gp_loss"] + s_real["loss"] + s_fake["loss"]
            if self.code_w > 0:
                z_pred = self.Q(h_fake, training=True, update_state=False)
                total += content_consistency_loss(z_pred, z, self.code_w)["loss"]
            scaled = self._scale(total, self.opt[optimizer])
        grads = tape.gradient(scaled, self.d_vars)
        self.opt[optimizer].apply_gradients(zip(grads, self.d_vars))
        return dict(
            total=total,
            adv=adv,
            gp=gp,
            s_real=s_real,
            s_fake=s_fake,
            c_real=c_real,
            pred_real=pred_real,
            real_logits=real_logits,
            fake_logits=fake_logits,
        )

    def g_step(self, offsets, z, fake=None, tape=None):
        """G's (and Q's) update. Given `fake` recorded on `tape` (see `update`), G's forward is
        not run again; otherwise it runs here, updating G's state (SN u, moving statistics)."""
        c_M = self.geo.macro_coords(offsets)
        if tape is None:
            tape = tf.GradientTape(persistent=self.train_q)
        with tape:
            if fake is None:
                fake = self.generate_macro(z, offsets, training=True, update_state=True)
            fake_logits, h_fake = self.D((fake, c_M), training=True, update_state=False)
            c_fake = self.S(h_fake, training=True, update_state=False)
            g_adv = -tf.reduce_mean(fake_logits)
            s_fake = spatial_consistency_loss(c_fake, c_M, self.coord_w)
            total = g_adv + s_fake["loss"]
            content = tf.constant(0.0)
            if self.code_w > 0:
                z_pred = self.Q(h_fake, training=True, update_state=True)
                content = content_consistency_loss(z_pred, z, self.code_w)["loss"]
                total += content
            scaled = self._scale(total, self.opt["g"])
            scaled_q = self._scale(content, self.opt["q"])
        grads = tape.gradient(scaled, self.g_vars)
        self.opt["g"].apply_gradients(zip(grads, self.g_vars))
        out = {
            "loss/g": total,
            "loss/g_adv": g_adv,
            "loss/spatial_fake": s_fake["loss"],
            "loss/content": content,
            "metric/spatial_error_fake": tf.reduce_mean(tf.abs(c_fake - c_M)),
        }
        if self.train_q:
            q_grads = tape.gradient(scaled_q, self.q_vars)
            self.opt["q"].apply_gradients(zip(q_grads, self.q_vars))
            out["loss/q"] = content
            del tape
        return out

    def random_inputs(self, step, batch):
        """(z, GP epsilon) of iteration `step` for this replica's `batch` rows.

        Kept out of XLA: TensorFlow's and XLA's stateless Philox kernels produce different
        streams, and the draws must not depend on train_params.jit_compile.
        """
        return self.sample_z(step, batch), self.gp_epsilon(step, batch)

    def update(self, real, offsets, z, eps):
        """D step then G (and Q) step on given inputs; the part that XLA may compile.

        G runs forward once per iteration: its weights do not change in D's step, so the
        official algorithm's second G forward (in G's step, same z, positions, u and batch
        statistics) would recompute the same patches. The forward is recorded on G's tape,
        D's step uses it under stop_gradient, and G's step differentiates through it after
        D's update (the D forward of G's step does use the updated D). G's state (SN u,
        moving statistics) is advanced by this one forward, as by G's step before.
        """
        g_tape = tf.GradientTape(persistent=self.train_q)
        with g_tape:
            fake = self.generate_macro(z, offsets, training=True, update_state=True)
        metrics = self.d_step(real, offsets, z, eps, fake=fake)
        metrics.update(self.g_step(offsets, z, fake=fake, tape=g_tape))
        return metrics

    def __call__(self, batch, step):
        """One iteration on a (per-replica) batch; returns per-replica scalar metrics."""
        real, offsets = batch["macro_patches"], batch["macro_offsets"]
        z, eps = self.random_inputs(step, tf.shape(real)[0])
        return self.update(real, offsets, z, eps)
