"""COCO-GAN generator: (z, micro coordinate) -> one micro patch.

Faithfulness header
-------------------
Paper: Lin et al., "COCO-GAN: Generation by Parts via Conditional Coordinating",
ICCV 2019, Appendix B (generator) and Eq. 5 (conditional batch norm).
Reference code: hubert0527/COCO-GAN models/generator.py and ops.py (TF1).

Kept from the official code
- cond = concat(z, c_micro) (130-d, 131-d for cylindrical coordinates).
- SN-Linear(cond -> 2*2*16*ngf) -> reshape [2, 2, 16*ngf].
- log2(micro)-1 upsampling residual blocks followed by ``g_extra_layers``
  non-upsampling blocks; widths ngf*[8, 4, 2, 1, 1, ...] (truncated to the
  number of blocks: micro 4 has one block of 8*ngf).
- Block: CBN -> ReLU -> nearest x2 -> SNConv3x3 -> CBN -> ReLU -> SNConv3x3;
  shortcut: nearest x2 -> SNConv1x1 (always present); sum.
- Head: BN (trainable gamma/beta, momentum 0.9, eps 1e-5) -> ReLU ->
  SNConv3x3 (-> c_dim) -> tanh.
- Every SN conv/linear has a bias; CBN gamma/beta are plain dense layers on
  cond with biases, Glorot init, no "1 +" on gamma; CBN momentum 0.99, eps 1e-5.
- Conv init truncated normal sqrt(2/fan_in); one power iteration per update.

Official defects not copied (docs/design.md, Deviations from the official code)
- CBN normalised by sqrt(var**2 + eps): here sqrt(var + eps) (paper Eq. 5).
- SN-Linear init fell back to Glorot uniform through an inverted ``if``: here the
  intended truncated normal with stddev sqrt(1/fan_in).

Initialisation deviation
- CBN gamma's bias starts at 1 (official 0), see models/layers.py ConditionalBatchNorm.

Switches (docs/switches.md): ``cbn_norm="official"`` restores the official CBN
normalisation and ``cbn_gamma_bias=0.0`` the official gamma bias initialisation.

Trainable parameter counts (ngf=64, z_dim=128, coord_dim=2, c_dim=3; SN u
vectors and BN moving statistics are non-trainable and not counted); equal to
the official network, derived in tests/test_param_counts.py:
- micro 16 (CelebA_64x64_N2M2S32):   11,225,091
- micro 32 (CelebA_128x128_N2M2S64): 11,392,515
- micro 64 (LSUN_256x256_N2M2S128):  11,504,067
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from models.layers import (
    BatchNorm,
    ConditionalBatchNorm,
    SpectralNormConv2D,
    SpectralNormDense,
    assert_shape,
    track_in_checkpoints,
)

VALID_MICRO_SIZES = (4, 8, 16, 32, 64, 128, 256)
_INIT_SPATIAL = 2
_INIT_NGF_MULT = 16


def generator_channel_plan(micro_size: int, g_extra_layers: int = 0) -> list[tuple[int, bool]]:
    """[(ngf multiplier, upsamples?)] per residual block, as the official rule."""
    if micro_size not in VALID_MICRO_SIZES:
        raise ValueError(f"micro patch size {micro_size} is not supported; use one of {VALID_MICRO_SIZES}")
    num_resize = int(math.log2(micro_size)) - 1
    total = num_resize + int(g_extra_layers)
    basic = [8, 4, 2]
    mults = basic + [1] * (total - len(basic)) if total >= len(basic) else basic[:total]
    return [(m, idx < num_resize) for idx, m in enumerate(mults)]


def _upsample2(x):
    # Nearest-neighbour x2 (== TF1 resize_nearest_neighbor for an exact factor 2).
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


class GeneratorBlock(keras.layers.Layer):
    def __init__(self, channels: int, upsample: bool, cbn_norm: str = "std", cbn_gamma_bias: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.upsample = upsample
        cbn = dict(norm=cbn_norm, gamma_bias=cbn_gamma_bias)
        self.cbn1 = ConditionalBatchNorm(name="cbn_1", **cbn)
        self.conv1 = SpectralNormConv2D(channels, 3, name="conv_1")
        self.cbn2 = ConditionalBatchNorm(name="cbn_2", **cbn)
        self.conv2 = SpectralNormConv2D(channels, 3, name="conv_2")
        self.conv_sc = SpectralNormConv2D(channels, 1, name="conv_sc")

    def build(self, input_shape):
        # Explicit build: avoids Keras' symbolic trace of the whole block.
        x_shape, cond_shape = (tuple(s) for s in input_shape)
        out_shape = x_shape[:-1] + (self.channels,)
        self.cbn1.build((x_shape, cond_shape))
        self.conv1.build(x_shape)
        self.cbn2.build((out_shape, cond_shape))
        self.conv2.build(out_shape)
        self.conv_sc.build(x_shape)

    def call(self, inputs, training=False, update_state=None):
        x, cond = inputs
        kw = dict(training=training, update_state=update_state)
        h = tf.nn.relu(self.cbn1((x, cond), **kw))
        if self.upsample:
            h = _upsample2(h)
        h = self.conv1(h, **kw)
        h = tf.nn.relu(self.cbn2((h, cond), **kw))
        h = self.conv2(h, **kw)
        sc = _upsample2(x) if self.upsample else x
        sc = self.conv_sc(sc, **kw)
        return h + sc


class Generator(keras.Model):
    """G(z, c_micro) -> micro patch in [-1, 1].

    call((z [B, z_dim], coords [B, coord_dim]), training, update_state=None)
    -> [B, micro, micro, c_dim].  ``update_state`` (default: ``training``)
    controls whether SN u vectors and batch-norm moving averages are updated;
    the official trainer runs G with batch statistics in D's step but applies
    G's state updates only in G's step (``training=True, update_state=False``).
    """

    def __init__(
        self,
        micro_size: int,
        z_dim: int = 128,
        coord_dim: int = 2,
        ngf_base: int = 64,
        g_extra_layers: int = 0,
        c_dim: int = 3,
        cbn_norm: str = "std",
        cbn_gamma_bias: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cbn_norm = str(cbn_norm)
        self.cbn_gamma_bias = float(cbn_gamma_bias)
        self.micro_size = int(micro_size)
        self.z_dim = int(z_dim)
        self.coord_dim = int(coord_dim)
        self.ngf_base = int(ngf_base)
        self.g_extra_layers = int(g_extra_layers)
        self.c_dim = int(c_dim)
        self.plan = generator_channel_plan(self.micro_size, self.g_extra_layers)
        self.init_ch = self.ngf_base * _INIT_NGF_MULT
        self.fc = SpectralNormDense(_INIT_SPATIAL * _INIT_SPATIAL * self.init_ch, name="z_fc")
        self.blocks = [
            GeneratorBlock(
                self.ngf_base * mult,
                up,
                cbn_norm=self.cbn_norm,
                cbn_gamma_bias=self.cbn_gamma_bias,
                name=f"resblock_{i}",
            )
            for i, (mult, up) in enumerate(self.plan)
        ]
        track_in_checkpoints(self, self.blocks, "block_")
        self.bn_last = BatchNorm(momentum=0.9, epsilon=1e-5, name="last_bn")
        self.conv_last = SpectralNormConv2D(self.c_dim, 3, name="last_conv")

    def build(self, input_shape):
        # Explicit build from the channel plan (no symbolic trace; cheap before a restore).
        cond_shape = (None, self.z_dim + self.coord_dim)
        self.fc.build(cond_shape)
        ch = self.init_ch
        for block, (mult, _) in zip(self.blocks, self.plan):
            block.build(((None, None, None, ch), cond_shape))
            ch = self.ngf_base * mult
        self.bn_last.build((None, None, None, ch))
        self.conv_last.build((None, None, None, ch))

    def call(self, inputs, training=False, update_state=None):
        z, coords = inputs
        assert_shape(z, [None, self.z_dim], "Generator z")
        assert_shape(coords, [None, self.coord_dim], "Generator micro coordinates")
        kw = dict(training=training, update_state=update_state)
        dt = self.compute_dtype  # float32, or bfloat16/float16 under a mixed policy
        cond = tf.concat([tf.cast(z, dt), tf.cast(coords, dt)], axis=1)
        h = self.fc(cond, **kw)
        h = tf.reshape(h, [-1, _INIT_SPATIAL, _INIT_SPATIAL, self.init_ch])
        for block in self.blocks:
            h = block((h, cond), **kw)
        h = tf.nn.relu(self.bn_last(h, **kw))
        h = tf.cast(tf.nn.tanh(self.conv_last(h, **kw)), tf.float32)  # images leave G in float32
        assert_shape(h, [None, self.micro_size, self.micro_size, self.c_dim], "Generator output")
        return h

    def get_config(self):
        return dict(
            micro_size=self.micro_size,
            z_dim=self.z_dim,
            coord_dim=self.coord_dim,
            ngf_base=self.ngf_base,
            g_extra_layers=self.g_extra_layers,
            c_dim=self.c_dim,
            cbn_norm=self.cbn_norm,
            cbn_gamma_bias=self.cbn_gamma_bias,
        )
