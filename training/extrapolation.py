"""Beyond-boundary fine-tuning (paper §3.5; official train_extrap, LSUN_256x256_N2M2S128_Extrapolation).

A model trained on the regular coordinate range is fine-tuned so that macro patches
*past* the image border (coordinates beyond [-1, 1]) also look real. Per iteration, as the
official trainer.py does:

1. the regular D step and G step of `CocoGanStep`, unchanged;
2. one extra D step and one extra G step on macro positions sampled up to
   `num_extrap_steps` micro patches beyond every border (`PatchGeometry.sample_offsets(
   extra=...)`), with their own Adam optimizers (official `d_optim_extrap`, `g_optim_extrap`):
   - D's extrapolation optimizer updates all of D and the spatial head; G's updates only
     the residual blocks listed in `train_params.extrap_g_blocks` (official: g_resblock_0
     and g_resblock_1, i.e. [0, 1]);
   - the real half of the extrapolation D step is the regular batch: real patches exist
     only inside the image, and the official feed keeps `macro_coord_real` at the regular
     positions and changes only the fake coordinates; z is the iteration's z;
   - the spatial consistency loss of a fake patch whose macro coordinate lies outside
     [-1, 1] keeps its value but is wrapped in stop_gradient (official `oob_mask`): it
     trains neither G nor the spatial head (there is no correct answer to regress to);
     in-range fakes of the same batch keep their gradient.

Decisions where the official code has no exact counterpart (docs/variants.md):
- Gradient penalty of the extrapolation D step: the official critic ignores coordinates
  (`d_builder(interpolates, None)`); this project's critic is conditioned (training/step.py),
  so here the interpolate x̂ = ε real + (1-ε) fake is scored at ĉ = ε c_real + (1-ε) c_fake
  with the same ε (equal to the regular step whenever c_real = c_fake).
- Q's own update (Q_update_period > 0) stays in the regular G step; the official code ran it
  after the extrapolation steps, on the extrapolated feed. The Extrapolation configuration
  does not train Q (Q_update_period 0), so this changes nothing there.

Randomness stays stateless and keyed on (seed, step): the extrapolated positions and the
second GP ε come from the step's "extrap" stream (rng/streams.py; the regular step draws "z" and "gp").
"""

from __future__ import annotations

import tensorflow as tf

from configs import UserError
from losses import content_consistency_loss, masked_spatial_loss
from rng import replica_rows, stream_key
from training.state import make_adam
from training.step import CocoGanStep

EXTRAP_OPTIMIZERS = {"g_extrap": "g_extrap_optimizer", "d_extrap": "d_extrap_optimizer"}


def extrapolation_g_variables(generator, blocks) -> list:
    """Trainable variables of the generator's residual blocks `blocks` (official g_resblock_i)."""
    n = len(generator.blocks)
    bad = [b for b in blocks if not 0 <= int(b) < n]
    if bad:
        raise UserError(f"train_params.extrap_g_blocks={list(blocks)}: the generator has blocks 0..{n - 1}")
    return [v for b in blocks for v in generator.blocks[int(b)].trainable_variables]


def add_extrapolation_optimizers(state) -> None:
    """Create, build and checkpoint the two extrapolation Adams (state.optimizers g_extrap, d_extrap).

    They are new variables for a run warm-started from a regular checkpoint (training/warm_start.py
    reports them); later resumes restore them from the fine-tuning run's own checkpoints.
    """
    t = state.config.train_params
    if getattr(t, "mixed_precision", "none") == "mixed_float16":
        raise UserError(
            "beyond-boundary fine-tuning does not support mixed_float16 loss scaling; "
            "use mixed_precision: none or mixed_bfloat16"
        )
    models = state.models
    g_opt = make_adam(state.config, t.glr, "g_extrap_adam")
    d_opt = make_adam(state.config, t.dlr, "d_extrap_adam")
    g_opt.build(extrapolation_g_variables(models["generator"], t.extrap_g_blocks))
    d_opt.build(models["discriminator"].trainable_variables + models["spatial_head"].trainable_variables)
    for key, opt in (("g_extrap", g_opt), ("d_extrap", d_opt)):
        state.optimizers[key] = opt
        setattr(state.checkpoint, EXTRAP_OPTIMIZERS[key], opt)  # tracked: saved with the run


class ExtrapolationStep(CocoGanStep):
    """CocoGanStep plus the official extra D/G step on beyond-boundary macro positions."""

    def __init__(self, config, models: dict, optimizers: dict, geometry=None):
        super().__init__(config, models, optimizers, geometry)
        t = config.train_params
        if self.geo.cylindrical:
            raise UserError("beyond-boundary fine-tuning needs euclidean coordinates")
        missing = [k for k in EXTRAP_OPTIMIZERS if k not in optimizers]
        if missing:
            raise ValueError(f"optimizers {missing} missing: call add_extrapolation_optimizers(state) first")
        self.extra = int(t.num_extrap_steps)
        self.g_extrap_vars = extrapolation_g_variables(self.G, t.extrap_g_blocks)

    @classmethod
    def from_state(cls, config, state, geometry=None):
        add_extrapolation_optimizers(state)
        return cls(config, state.models, state.optimizers, geometry)

    # ------------------------------------------------------------------ pieces
    def _extrap_keys(self, step):
        return tf.random.experimental.stateless_split(stream_key(self.seed, step, "extrap"), 2)

    def extrap_offsets(self, step, batch):
        """[B, 2] macro offsets up to num_extrap_steps micro patches beyond each border."""
        key = self._extrap_keys(step)[0]
        return replica_rows(lambda n: self.geo.sample_offsets(n, key, extra=self.extra), batch)

    def extrap_gp_epsilon(self, step, batch):
        key = self._extrap_keys(step)[1]
        return replica_rows(lambda n: tf.random.stateless_uniform([n, 1, 1, 1], key), batch)

    # -------------------------------------------------------------------- steps
    def extrap_d_step(self, real, real_offsets, offsets, z, eps):
        """CocoGanStep.critic_update with the fakes at the extrapolated `offsets`, on D's extrapolation Adam."""
        fake = self.generate_macro(z, offsets, training=True, update_state=False)
        d = self.critic_update(real, real_offsets, fake, z, eps, fake_offsets=offsets, optimizer="d_extrap")
        return {
            "extrap/loss_d": d["total"],
            "extrap/gp": d["gp"]["gp_loss"],
            "extrap/wasserstein": d["adv"]["wasserstein"],
            "extrap/spatial_fake_d": d["s_fake"]["loss"],
            "extrap/oob_fraction": d["s_fake"]["oob_fraction"],
            "extrap/d_fake": tf.reduce_mean(d["fake_logits"]),
        }

    def extrap_g_objective(self, offsets, z):
        """G's extrapolation loss and its parts (call inside a tape); updates G's state as upstream."""
        c_fake = self.geo.macro_coords(offsets)
        fake = self.generate_macro(z, offsets, training=True, update_state=True)
        fake_logits, h_fake = self.D((fake, c_fake), training=True, update_state=False)
        p_fake = self.S(h_fake, training=True, update_state=False)
        g_adv = -tf.reduce_mean(fake_logits)
        s_fake = masked_spatial_loss(p_fake, c_fake, self.geo.in_bounds(offsets), self.coord_w)
        total = g_adv + s_fake["loss"]
        if self.code_w > 0:
            total += content_consistency_loss(self.Q(h_fake, training=True, update_state=False), z, self.code_w)["loss"]
        return total, {"adv": g_adv, "spatial": s_fake["loss"]}

    def extrap_g_step(self, offsets, z):
        with tf.GradientTape() as tape:
            total, parts = self.extrap_g_objective(offsets, z)
            scaled = self._scale(total)
        grads = tape.gradient(scaled, self.g_extrap_vars)
        self.opt["g_extrap"].apply_gradients(zip(grads, self.g_extrap_vars))
        return {"extrap/loss_g": total, "extrap/spatial_fake": parts["spatial"]}

    def random_inputs(self, step, batch):
        """(z, (GP ε, extrapolated offsets, extrapolation GP ε)) of iteration `step`, drawn outside
        XLA like CocoGanStep's; the second item travels through `update` as one structure."""
        z, eps = self.sample_z(step, batch), self.gp_epsilon(step, batch)
        return z, (eps, self.extrap_offsets(step, batch), self.extrap_gp_epsilon(step, batch))

    def update(self, real, offsets, z, inputs):
        """The regular D and G steps, then the extrapolation D and G steps (same z, same real batch)."""
        eps, x_offsets, x_eps = inputs
        regular = getattr(super(), "update", None)
        if regular is not None:
            metrics = regular(real, offsets, z, eps)
        else:  # CocoGanStep without a separate update(): its two steps
            metrics = self.d_step(real, offsets, z, eps)
            metrics.update(self.g_step(offsets, z))
        metrics.update(self.extrap_d_step(real, offsets, x_offsets, z, x_eps))
        metrics.update(self.extrap_g_step(x_offsets, z))
        return metrics

    def __call__(self, batch, step):
        real, offsets = batch["macro_patches"], batch["macro_offsets"]
        z, inputs = self.random_inputs(step, tf.shape(real)[0])
        return self.update(real, offsets, z, inputs)


__all__ = ["ExtrapolationStep", "add_extrapolation_optimizers", "extrapolation_g_variables"]
