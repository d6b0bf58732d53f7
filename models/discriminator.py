"""COCO-GAN discriminator (projection on the macro coordinate) and its two heads.

Faithfulness header
-------------------
Paper: Lin et al., ICCV 2019, Appendix B; projection discriminator (Miyato &
Koyama, ICLR 2018); spectral normalization (Miyato et al., ICLR 2018).
Reference code: hubert0527/COCO-GAN models/discriminator.py at commit e92e624
("fix discriminator model arch"), models/spatial_prediction.py,
models/content_predictor.py, ops.py.

Kept from the official code
- Channel plan (official rule after e92e624, used here for *every* macro size
  8..512): n = log2(q) - 1 + d_extra_layers blocks, basic = [2, 4, 8, 8];
  if n > 4 the multipliers are [1]*(n-4) + basic, otherwise basic[-n:] with the
  first entry set to 1.  q=8: [1,8]; 16: [1,8,8]; 32: [1,4,8,8];
  64: [1,2,4,8,8]; 128: [1,1,2,4,8,8]; 256: [1,1,1,2,4,8,8];
  512: [1,1,1,1,2,4,8,8] (times ndf).  The official code accepts exactly
  these sizes; for 8, 16, 256, 512 no official config exists, the same rule
  is applied unchanged.
- Block 0 (head): conv3 -> ReLU -> conv3 -> avgpool2; shortcut avgpool2 -> conv1.
  Extra blocks (indices 1..d_extra_layers) do not downsample, the last block
  does not downsample, all others do: the trunk ends at 4x4.
  Other blocks: ReLU -> conv3 -> ReLU -> conv3 -> (avgpool2); shortcut
  (avgpool2) -> conv1x1, always present.  No batch norm in the trunk.
- ReLU -> global *sum* pooling -> h [B, 8*ndf];
  logits = SN-Linear(h -> 1) + sum(SN-Linear(c_macro -> 8*ndf) * h, axis=1).
- Heads on h: SN-Linear(h -> aux_dim) -> BN (trainable gamma/beta, momentum
  0.9, eps 1e-5) -> LeakyReLU(0.2) -> SN-Linear(-> coord_dim | z_dim) -> tanh.
- Every conv/linear is spectrally normalized and has a bias.
- ``coords=None`` drops the projection term, as the official gradient-penalty
  critic ``d_builder(interpolates, None)`` does (an option for the trainer).

Official defects not copied (docs/design.md, Deviations from the official code)
- SN-Linear init: truncated normal sqrt(1/fan_in) instead of the accidental
  Glorot fallback.  (The loss/optimizer defects live in losses/ and the trainer.)

Trainable parameter counts (ndf=64, coord_dim=2, z_dim=128, aux_dim=128; SN u
and BN moving statistics not counted), equal to the official network, derived
in tests/test_param_counts.py:
- D macro 32 (CelebA_64x64_N2M2S32):    9,449,281
- D macro 64 (CelebA_128x128_N2M2S64):  9,842,881
- D macro 128 (LSUN_256x256_N2M2S128):  9,920,897
- spatial head (coord_dim 2): 66,178;  content head Q (z_dim 128): 82,432
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from models.layers import BatchNorm, SpectralNormConv2D, SpectralNormDense, assert_shape, track_in_checkpoints

VALID_MACRO_SIZES = (8, 16, 32, 64, 128, 256, 512)


def discriminator_channel_plan(macro_size: int, d_extra_layers: int = 0) -> list[tuple[int, bool, bool]]:
    """[(ndf multiplier, downsamples?, is_head?)] per block, official rule (e92e624)."""
    if macro_size not in VALID_MACRO_SIZES:
        raise ValueError(f"macro patch size {macro_size} is not supported; use one of {VALID_MACRO_SIZES}")
    extra = int(d_extra_layers)
    total = int(math.log2(macro_size)) - 1 + extra
    basic = [2, 4, 8, 8]
    if total > len(basic):
        mults = [1] * (total - len(basic)) + basic
    else:
        mults = list(basic[-total:])
        mults[0] = 1
    plan = []
    for idx, m in enumerate(mults):
        if idx == 0:
            plan.append((m, True, True))
        elif idx <= extra:
            plan.append((m, False, False))
        elif idx == len(mults) - 1:
            plan.append((m, False, False))
        else:
            plan.append((m, True, False))
    return plan


def _avg_pool2(x):
    return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="VALID")


class DiscriminatorBlock(keras.layers.Layer):
    def __init__(self, channels: int, downsample: bool, is_head: bool, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.downsample = downsample
        self.is_head = is_head
        self.conv1 = SpectralNormConv2D(channels, 3, name="conv_1")
        self.conv2 = SpectralNormConv2D(channels, 3, name="conv_2")
        self.conv_sc = SpectralNormConv2D(channels, 1, name="conv_sc")

    def build(self, input_shape):
        in_shape = (None, None, None, int(input_shape[-1]))
        self.conv1.build(in_shape)
        self.conv2.build((None, None, None, self.channels))
        self.conv_sc.build(in_shape)

    def call(self, x, training=False, update_state=None):
        kw = dict(training=training, update_state=update_state)
        h = x if self.is_head else tf.nn.relu(x)
        h = self.conv1(h, **kw)
        h = self.conv2(tf.nn.relu(h), **kw)
        s = x
        if self.downsample:
            h = _avg_pool2(h)
            s = _avg_pool2(s)
        return h + self.conv_sc(s, **kw)


class Discriminator(keras.Model):
    """D(macro patch, c_macro) -> (logits [B, 1], h [B, 8*ndf]).

    ``coords`` may be None (no projection term).  ``update_state`` (default
    ``training``) controls the SN u updates.
    """

    def __init__(self, macro_size: int, coord_dim: int = 2, ndf_base: int = 64, d_extra_layers: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.macro_size = int(macro_size)
        self.coord_dim = int(coord_dim)
        self.ndf_base = int(ndf_base)
        self.d_extra_layers = int(d_extra_layers)
        self.plan = discriminator_channel_plan(self.macro_size, self.d_extra_layers)
        self.feature_dim = self.ndf_base * self.plan[-1][0]
        self.blocks = [
            DiscriminatorBlock(self.ndf_base * m, down, head, name=f"resblock_{i}")
            for i, (m, down, head) in enumerate(self.plan)
        ]
        track_in_checkpoints(self, self.blocks, "block_")
        self.fc_out = SpectralNormDense(1, name="main_out")
        self.coord_embed = SpectralNormDense(self.feature_dim, name="coord_emb")

    def build(self, input_shape):
        # Explicit build from the channel plan (no symbolic trace); also builds the
        # projection when the first call passes coords=None.
        ch = int(input_shape[0][-1])
        for block, (mult, _, _) in zip(self.blocks, self.plan):
            block.build((None, None, None, ch))
            ch = self.ndf_base * mult
        self.fc_out.build((None, ch))
        self.coord_embed.build((None, self.coord_dim))

    def call(self, inputs, training=False, update_state=None):
        x, coords = inputs
        assert_shape(x, [None, self.macro_size, self.macro_size, None], "Discriminator macro patches")
        kw = dict(training=training, update_state=update_state)
        h = tf.cast(x, self.compute_dtype)  # float32, or bfloat16/float16 under a mixed policy
        for block in self.blocks:
            h = block(h, **kw)
        assert_shape(h, [None, 4, 4, self.feature_dim], "Discriminator trunk output")
        h = tf.reduce_sum(tf.nn.relu(tf.cast(h, tf.float32)), axis=[1, 2])  # global sum pooling
        logits = tf.cast(self.fc_out(h, **kw), tf.float32)
        if coords is not None:
            assert_shape(coords, [None, self.coord_dim], "Discriminator macro coordinates")
            emb = tf.cast(self.coord_embed(tf.cast(coords, tf.float32), **kw), tf.float32)
            logits = logits + tf.reduce_sum(emb * h, axis=1, keepdims=True)
        return logits, h  # float32 (losses and the gradient penalty's norm stay float32)

    def get_config(self):
        return dict(
            macro_size=self.macro_size,
            coord_dim=self.coord_dim,
            ndf_base=self.ndf_base,
            d_extra_layers=self.d_extra_layers,
        )


class _AuxHead(keras.Model):
    """SN-Linear(h -> aux_dim) -> BN -> LeakyReLU(0.2) -> SN-Linear(-> out_dim) -> tanh."""

    def __init__(self, out_dim: int, aux_dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.out_dim = int(out_dim)
        self.aux_dim = int(aux_dim)
        self.fc1 = SpectralNormDense(self.aux_dim, name="fc1")
        self.bn1 = BatchNorm(momentum=0.9, epsilon=1e-5, name="bn1")
        self.fc2 = SpectralNormDense(self.out_dim, name="fc2")

    def build(self, input_shape):
        self.fc1.build((None, int(input_shape[-1])))
        self.bn1.build((None, self.aux_dim))
        self.fc2.build((None, self.aux_dim))

    def call(self, h, training=False, update_state=None):
        assert_shape(h, [None, None], f"{self.name} input features")
        kw = dict(training=training, update_state=update_state)
        x = self.bn1(self.fc1(h, **kw), **kw)
        x = tf.nn.leaky_relu(x, alpha=0.2)
        return tf.cast(tf.nn.tanh(self.fc2(x, **kw)), tf.float32)


class SpatialHead(_AuxHead):
    """Predicts the macro coordinate from D's features h (spatial consistency, L_S)."""

    def __init__(self, coord_dim: int = 2, aux_dim: int = 128, **kwargs):
        kwargs.setdefault("name", "spatial_head")
        super().__init__(coord_dim, aux_dim, **kwargs)
        self.coord_dim = int(coord_dim)

    def get_config(self):
        return dict(coord_dim=self.coord_dim, aux_dim=self.aux_dim)


class ContentHead(_AuxHead):
    """Q: predicts z from D's features h (content consistency, L_C)."""

    def __init__(self, z_dim: int = 128, aux_dim: int = 128, **kwargs):
        kwargs.setdefault("name", "content_head")
        super().__init__(z_dim, aux_dim, **kwargs)
        self.z_dim = int(z_dim)

    def get_config(self):
        return dict(z_dim=self.z_dim, aux_dim=self.aux_dim)
