"""Output shapes and channel plans for every configuration geometry (narrow widths)."""

import types

import numpy as np
import pytest
import tensorflow as tf

from models.build import build_models
from models.discriminator import discriminator_channel_plan
from models.generator import Generator, generator_channel_plan

# (micro, macro, g_extra_layers, coord_dim): the official geometries plus tiny/demo ones.
GEOMETRIES = [
    (16, 32, 0, 2),  # CelebA/LSUN 64 N2M2S32
    (32, 64, 0, 2),  # CelebA 128 N2M2S64, LSUN 128
    (16, 64, 0, 2),  # CelebA 128 N4M4S64
    (8, 64, 1, 2),  # CelebA 128 N8M8S64
    (4, 64, 3, 2),  # CelebA 128 N16M16S64
    (64, 128, 0, 2),  # LSUN 256 N2M2S128
    (64, 128, 0, 3),  # MP3D 256x768 (cylindrical)
    (256, 512, 0, 2),  # CelebA-HQ 1024 N2M2S512
    (4, 8, 0, 2),  # tiny test config
    (8, 16, 0, 2),  # demo config
]


def _params(coord_dim, g_extra, width=4):
    return types.SimpleNamespace(
        z_dim=16,
        spatial_dim=coord_dim,
        g_extra_layers=g_extra,
        d_extra_layers=0,
        ngf_base=width,
        ndf_base=width,
        aux_dim=8,
    )


@pytest.mark.parametrize("micro,macro,g_extra,coord_dim", GEOMETRIES)
def test_output_shapes(micro, macro, g_extra, coord_dim):
    p = _params(coord_dim, g_extra)
    m = build_models(p, micro, macro)
    b = 2
    z = tf.random.uniform([b, p.z_dim], -1, 1, seed=0)
    c = tf.random.uniform([b, coord_dim], -1, 1, seed=1)
    for training in (False, True):
        x = m["generator"]((z, c), training=training)
        assert x.shape == (b, micro, micro, 3)
        assert float(tf.reduce_max(tf.abs(x))) <= 1.0
    logits, h = m["discriminator"]((tf.random.uniform([b, macro, macro, 3], -1, 1), c), training=True)
    assert logits.shape == (b, 1)
    assert h.shape == (b, 8 * p.ndf_base)
    pred_c = m["spatial_head"](h, training=True)
    pred_z = m["content_head"](h, training=True)
    assert pred_c.shape == (b, coord_dim) and pred_z.shape == (b, p.z_dim)
    assert float(tf.reduce_max(tf.abs(pred_z))) <= 1.0


def test_generator_channel_plans_follow_official_rule():
    # ngf multipliers [8, 4, 2, 1, ...] truncated to log2(micro) - 1 + g_extra blocks.
    assert generator_channel_plan(4) == [(8, True)]
    assert generator_channel_plan(16) == [(8, True), (4, True), (2, True)]
    assert generator_channel_plan(64) == [(8, True), (4, True), (2, True), (1, True), (1, True)]
    assert generator_channel_plan(8, 1) == [(8, True), (4, True), (2, False)]
    assert generator_channel_plan(4, 3) == [(8, True), (4, False), (2, False), (1, False)]


def test_discriminator_channel_plans_follow_official_rule():
    mults = lambda q: [m for m, _, _ in discriminator_channel_plan(q)]
    assert mults(8) == [1, 8]
    assert mults(16) == [1, 8, 8]
    assert mults(32) == [1, 4, 8, 8]  # e92e624: 64, 256, 512, 512
    assert mults(64) == [1, 2, 4, 8, 8]
    assert mults(128) == [1, 1, 2, 4, 8, 8]
    assert mults(256) == [1, 1, 1, 2, 4, 8, 8]
    assert mults(512) == [1, 1, 1, 1, 2, 4, 8, 8]
    for q in (8, 16, 32, 64, 128, 256, 512):  # downsample to 4x4; last block keeps size
        plan = discriminator_channel_plan(q)
        assert q // 2 ** sum(d for _, d, _ in plan) == 4 and plan[-1][1] is False
        assert plan[0][2] is True and not any(h for _, _, h in plan[1:])


def test_projection_uses_macro_coordinate_and_can_be_dropped():
    m = build_models(_params(2, 0), 4, 8)
    d = m["discriminator"]
    x = tf.random.uniform([2, 8, 8, 3], -1, 1, seed=3)
    l1, h = d((x, tf.constant([[-1.0, -1.0], [-1.0, -1.0]])))
    l2, _ = d((x, tf.constant([[1.0, 0.5], [1.0, 0.5]])))
    l0, _ = d((x, None))
    emb = d.coord_embed(tf.constant([[1.0, 0.5]]))
    # logits(c) - logits(None) = <emb(c), h>
    np.testing.assert_allclose((l2 - l0).numpy()[:, 0], tf.reduce_sum(emb * h, axis=1).numpy(), rtol=1e-4, atol=1e-4)
    assert not np.allclose(l1.numpy(), l2.numpy())


def test_inference_is_deterministic_and_stateless():
    m = build_models(_params(2, 0), 8, 16)
    g = m["generator"]
    z = tf.random.uniform([3, 16], -1, 1, seed=5)
    c = tf.zeros([3, 2])
    state = [v.numpy().copy() for v in g.non_trainable_variables]
    a = g((z, c), training=False).numpy()
    b = g((z, c), training=False).numpy()
    np.testing.assert_array_equal(a, b)
    for v, s in zip(g.non_trainable_variables, state):
        np.testing.assert_array_equal(v.numpy(), s)


def test_user_errors_are_sentences():
    with pytest.raises(ValueError, match="micro patch size 12 is not supported"):
        Generator(12)
    g = Generator(4, z_dim=8, ngf_base=2)
    with pytest.raises(ValueError, match=r"expected shape \[None, 8\] vs got \[2, 7\]"):
        g((tf.zeros([2, 7]), tf.zeros([2, 2])))
    with pytest.raises(ValueError, match="must be a multiple"):
        build_models(_params(2, 0), 16, 8)


def test_every_variable_including_state_in_listed_blocks_round_trips_through_a_checkpoint(tmp_path):
    """Keras 3 hides list-held layers from tf.train.Checkpoint; u and moving stats must still be saved."""
    from types import SimpleNamespace

    from models.build import build_models

    params = SimpleNamespace(
        z_dim=8, spatial_dim=2, g_extra_layers=1, d_extra_layers=0, ngf_base=4, ndf_base=4, aux_dim=8
    )
    source, target = build_models(params, 4, 8), build_models(params, 4, 8)
    rng = np.random.default_rng(0)
    for model in source.values():
        for v in model.variables:
            v.assign(rng.normal(size=v.shape).astype(np.float32))
    path = tf.train.Checkpoint(**source).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(**target).read(path).assert_consumed()
    for name in source:
        assert len(source[name].variables) == len(target[name].variables)
        for a, b in zip(source[name].variables, target[name].variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}: {a.path}")
