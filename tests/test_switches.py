"""The behaviour switches between this project's choices and the official code's (docs/switches.md),
and the official keys that are rejected rather than silently ignored.

Oracles are hand computations in numpy: a critic whose input gradient is known in closed form
for the two gradient-penalty forms, the two CBN normalisation formulas, Adam's first update,
and float32 as the reference of the float16 gradient penalty.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from helpers import tiny

from configs import ConfigError, config_from_dict, load_config
from losses import gradient_penalty
from losses.wgan_gp import gp_epsilon_shape
from models.layers import ConditionalBatchNorm

SQRT_EPS = 1e-10  # the epsilon inside the slopes' sqrt (losses/wgan_gp.py)


# ---------------------------------------------------------------------------- gradient penalty
def _quadratic_critic(w):
    """D(x)_b = sum(0.5 * w * x_b**2): dD/dx = w * x, per sample."""
    w = tf.constant(w, tf.float32)
    return lambda x: tf.reduce_sum(0.5 * w * tf.square(x), axis=[1, 2, 3])[:, None]


@pytest.fixture(scope="module")
def gp_case():
    rng = np.random.default_rng(3)
    b, h, wd, c = 3, 4, 5, 2
    return dict(
        w=rng.normal(size=(h, wd, c)).astype(np.float32),
        real=rng.normal(size=(b, h, wd, c)).astype(np.float32),
        fake=rng.normal(size=(b, h, wd, c)).astype(np.float32),
        eps_sample=rng.uniform(size=(b, 1, 1, 1)).astype(np.float32),
        eps_element=rng.uniform(size=(b, h, wd, c)).astype(np.float32),
    )


def test_wgan_gp_form_one_slope_per_sample_over_all_axes(gp_case):
    k = gp_case
    got = gradient_penalty(_quadratic_critic(k["w"]), k["real"], k["fake"], 10.0, epsilon=k["eps_sample"])
    x_hat = k["eps_sample"] * k["real"] + (1 - k["eps_sample"]) * k["fake"]
    g = k["w"] * x_hat.astype(np.float64)
    slopes = np.sqrt((g**2).sum(axis=(1, 2, 3)) + SQRT_EPS)
    np.testing.assert_allclose(got["gp_slopes"], slopes, rtol=1e-5)
    np.testing.assert_allclose(got["gp"], np.mean((slopes - 1) ** 2), rtol=1e-5)
    np.testing.assert_allclose(got["gp_loss"], 10 * np.mean((slopes - 1) ** 2), rtol=1e-5)


def test_official_form_eps_per_element_and_slopes_over_the_height_axis(gp_case):
    k = gp_case
    got = gradient_penalty(
        _quadratic_critic(k["w"]), k["real"], k["fake"], 10.0, epsilon=k["eps_element"], form="official"
    )
    x_hat = k["eps_element"] * k["real"] + (1 - k["eps_element"]) * k["fake"]
    g = k["w"] * x_hat.astype(np.float64)
    slopes = np.sqrt((g**2).sum(axis=1) + SQRT_EPS)  # [B, W, C]: one per sample, column, channel
    assert got["gp_slopes"].shape == (3, 5, 2)
    np.testing.assert_allclose(got["gp_slopes"], slopes, rtol=1e-5)
    np.testing.assert_allclose(got["gp"], np.mean((slopes - 1) ** 2), rtol=1e-5)
    np.testing.assert_allclose(got["gp_loss"], 10 * np.mean((slopes - 1) ** 2), rtol=1e-5)


def test_linear_critic_gives_the_closed_form_of_both_forms(gp_case):
    """D(x) = sum(w * x): the gradient is w wherever x_hat is, so the slopes are norms of w."""
    k = gp_case
    w = tf.constant(k["w"])
    critic = lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None]  # noqa: E731
    full = gradient_penalty(critic, k["real"], k["fake"], 1.0)  # epsilon drawn inside
    official = gradient_penalty(critic, k["real"], k["fake"], 1.0, form="official")
    w64 = k["w"].astype(np.float64)
    s_full = np.sqrt((w64**2).sum() + SQRT_EPS)
    s_col = np.sqrt((w64**2).sum(axis=0) + SQRT_EPS)  # [W, C]
    np.testing.assert_allclose(full["gp"], (s_full - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(official["gp"], np.mean((s_col - 1) ** 2), rtol=1e-5)
    np.testing.assert_allclose(official["gp_slopes"], np.broadcast_to(s_col, (3, 5, 2)), rtol=1e-5)


def test_epsilon_shape_is_checked_against_the_form(gp_case):
    k = gp_case
    critic = _quadratic_critic(k["w"])
    assert gp_epsilon_shape(3, [4, 5, 2]) == [3, 1, 1, 1]
    assert gp_epsilon_shape(3, [4, 5, 2], "official") == [3, 4, 5, 2]
    with pytest.raises(ValueError, match="official"):
        gradient_penalty(critic, k["real"], k["fake"], 1.0, epsilon=k["eps_sample"], form="official")
    with pytest.raises(ValueError, match="wgan_gp"):
        gradient_penalty(critic, k["real"], k["fake"], 1.0, epsilon=k["eps_element"])
    with pytest.raises(ValueError, match="not one of"):
        gradient_penalty(critic, k["real"], k["fake"], 1.0, form="dragan")


@pytest.fixture(scope="module")
def tiny_models():
    from models.build import build_models

    config = tiny()
    d = config.data_params
    return config, build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)


@pytest.mark.parametrize("form", ["wgan_gp", "official"])
def test_step_draws_the_epsilon_shape_of_the_form(tiny_models, form):
    from training.state import make_optimizers
    from training.step import CocoGanStep

    _, models = tiny_models
    config = tiny(loss={"gp_form": form})
    step = CocoGanStep(config, models, make_optimizers(config))
    eps = step.gp_epsilon(tf.constant(5, tf.int64), 4).numpy()
    want = [4, 8, 8, 3] if form == "official" else [4, 1, 1, 1]
    assert list(eps.shape) == want
    assert eps.min() >= 0 and eps.max() < 1
    np.testing.assert_array_equal(eps, step.gp_epsilon(tf.constant(5, tf.int64), 4).numpy())  # keyed on the step
    if form == "official":
        assert len(np.unique(eps[0])) == eps[0].size  # one draw per element, not per sample


def test_official_form_runs_in_a_training_iteration(tiny_models):
    from training.state import make_optimizers
    from training.step import CocoGanStep

    _, models = tiny_models
    config = tiny(loss={"gp_form": "official"})
    step = CocoGanStep(config, models, make_optimizers(config))
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, size=(4, 8, 8, 3)), tf.float32)
    offsets = tf.constant([[0, 0], [4, 4], [8, 8], [0, 8]], tf.int32)
    z, eps = step.random_inputs(tf.constant(0, tf.int64), 4)
    metrics = step.d_step(real, offsets, z, eps)
    assert np.isfinite(metrics["loss/gp"].numpy()) and metrics["loss/gp"].numpy() > 0
    assert 0 < metrics["gp/slopes_mean"].numpy() <= metrics["gp/slopes_max"].numpy()


# ---------------------------------------------------------------------------- conditional BN
def _cbn(norm, gamma_bias=1.0, epsilon=1e-3):
    cbn = ConditionalBatchNorm(epsilon=epsilon, norm=norm, gamma_bias=gamma_bias)
    cbn.build(((None, 2, 2, 3), (None, 4)))
    return cbn


@pytest.fixture(scope="module")
def cbn_case():
    rng = np.random.default_rng(7)
    return dict(
        x=(3.0 * rng.normal(size=(2, 2, 2, 3))).astype(np.float32),  # variance far from 1: the forms differ
        y=rng.normal(size=(2, 4)).astype(np.float32),
        wg=rng.normal(size=(4, 3)).astype(np.float32),
        bg=rng.normal(size=(3,)).astype(np.float32),
        wb=rng.normal(size=(4, 3)).astype(np.float32),
        bb=rng.normal(size=(3,)).astype(np.float32),
    )


@pytest.mark.parametrize("norm", ["std", "official"])
def test_cbn_normalisation_forms_against_numpy(cbn_case, norm):
    k, eps = cbn_case, 1e-3
    cbn = _cbn(norm, epsilon=eps)
    cbn.gamma_dense.set_weights([k["wg"], k["bg"]])
    cbn.beta_dense.set_weights([k["wb"], k["bb"]])
    x = k["x"].astype(np.float64)
    gamma = (k["y"] @ k["wg"] + k["bg"])[:, None, None, :]
    beta = (k["y"] @ k["wb"] + k["bb"])[:, None, None, :]
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased variance
    spread = var**2 if norm == "official" else var
    want = (x - mean) / np.sqrt(spread + eps) * gamma + beta
    got = cbn((k["x"], k["y"]), training=True, update_state=False).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # inference: the same formula on the moving statistics
    cbn.moving_mean.assign([0.5, -1.0, 2.0])
    cbn.moving_variance.assign([4.0, 0.25, 9.0])
    mv = np.array([4.0, 0.25, 9.0])
    spread = mv**2 if norm == "official" else mv
    want = (x - np.array([0.5, -1.0, 2.0])) / np.sqrt(spread + eps) * gamma + beta
    got = cbn((k["x"], k["y"]), training=False).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_cbn_gamma_bias_at_initialisation(cbn_case, bias):
    cbn = _cbn("std", gamma_bias=bias)
    kernel, b = (v.numpy() for v in (cbn.gamma_dense.kernel, cbn.gamma_dense.bias))
    np.testing.assert_array_equal(b, np.full(3, bias, np.float32))
    y = cbn_case["y"]
    np.testing.assert_allclose(cbn.gamma_dense(y).numpy(), y @ kernel + bias, rtol=1e-5, atol=1e-6)  # W y + b
    np.testing.assert_array_equal(cbn.beta_dense.bias.numpy(), np.zeros(3, np.float32))


def test_unknown_cbn_norm_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        ConditionalBatchNorm(norm="var2")


def test_model_params_reach_every_cbn_of_the_trained_and_the_restored_generator():
    from generation.restore import build_generator
    from models.build import build_models

    config = tiny(model={"cbn_norm": "official", "cbn_gamma_bias": 0.0}, data={"micro_patch_size": [8, 8]})
    d = config.data_params
    built = build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)["generator"]
    for generator in (built, build_generator(config)):
        cbns = [la for la in generator._flatten_layers(recursive=True) if isinstance(la, ConditionalBatchNorm)]
        assert len(cbns) == 4  # two blocks of two
        assert all(c.norm == "official" for c in cbns)
        assert all(np.all(c.gamma_dense.bias.numpy() == 0) for c in cbns)
        assert generator.get_config()["cbn_norm"] == "official"


# ---------------------------------------------------------------------------- Adam epsilon
def test_adam_epsilon_reaches_every_optimizer():
    from training.distribute import wrap_for_loss_scaling
    from training.state import make_optimizers

    assert {o.epsilon for o in make_optimizers(tiny()).values()} == {1e-7}  # Keras' default kept
    assert {o.epsilon for o in make_optimizers(tiny(adam_epsilon=1e-8)).values()} == {1e-8}
    wrapped = wrap_for_loss_scaling(make_optimizers(tiny(adam_epsilon=1e-8)), "mixed_float16")
    assert {o.inner_optimizer.epsilon for o in wrapped.values()} == {1e-8}


def test_adam_epsilon_enters_the_first_update_where_tf1_adds_it():
    """First step from zero moments (TF1 AdamOptimizer's and Keras' update, epsilon added to the
    uncorrected sqrt(v)): m = (1 - b1) g, v = (1 - b2) g^2, alpha = lr sqrt(1 - b2) / (1 - b1),
    delta = -alpha m / (sqrt(v) + epsilon). With g = 1e-7 the two epsilons give different steps."""
    from training.state import make_adam

    g, lr, b1, b2 = 1e-7, 0.1, 0.5, 0.999
    steps = []
    for epsilon in (1e-7, 1e-8):
        var = tf.Variable([0.0])
        opt = make_adam(tiny(adam_epsilon=epsilon, beta1=b1, beta2=b2), lr, "probe")
        opt.apply_gradients([(tf.constant([g]), var)])
        alpha = lr * np.sqrt(1 - b2) / (1 - b1)
        want = -alpha * (1 - b1) * g / (np.sqrt((1 - b2) * g**2) + epsilon)
        np.testing.assert_allclose(var.numpy(), [want], rtol=1e-4)
        steps.append(var.numpy()[0])
    assert abs(steps[1]) > 3 * abs(steps[0])


def test_extrapolation_optimizers_use_the_same_adam(tiny_models):
    import types

    from training.extrapolation import add_extrapolation_optimizers

    config = tiny(train_extrap=True, num_extrap_steps=1, extrap_g_blocks=[0], adam_epsilon=1e-8, beta2=0.9)
    state = types.SimpleNamespace(config=config, models=tiny_models[1], optimizers={}, checkpoint=tf.train.Checkpoint())
    add_extrapolation_optimizers(state)
    for key in ("g_extrap", "d_extrap"):
        opt = state.optimizers[key]
        assert opt.epsilon == 1e-8 and opt.beta_2 == 0.9


# ---------------------------------------------------------------------------- configuration
def _raw():
    return tiny().to_dict()


@pytest.mark.parametrize(
    "section, key, value, needle",
    [
        ("loss_params", "gp_form", "dragan", "loss_params.gp_form"),
        ("model_params", "cbn_norm", "var2", "model_params.cbn_norm"),
        ("model_params", "cbn_gamma_bias", "inf", "model_params.cbn_gamma_bias"),
        ("model_params", "cbn_gamma_bias", "one", "model_params.cbn_gamma_bias"),
        ("train_params", "adam_epsilon", 0, "train_params.adam_epsilon"),
        ("train_params", "adam_epsilon", -1e-8, "train_params.adam_epsilon"),
        ("train_params", "adam_epsilon", "inf", "train_params.adam_epsilon"),
        ("train_params", "Q_update_period", 2, "train_params.Q_update_period"),
        ("train_params", "epochs", 10, "train_params.epochs"),
    ],
)
def test_bad_values_are_one_config_error_naming_the_key(section, key, value, needle):
    raw = _raw()
    raw[section][key] = value
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")) as err:
        config_from_dict(raw)
    assert "\n" not in str(err.value)


def test_official_gp_form_with_extrapolation_is_refused():
    raw = _raw()
    raw["data_params"].update(full_image_size=[32, 32], macro_patch_size=[16, 16], micro_patch_size=[8, 8])
    raw["train_params"].update(train_extrap=True, num_extrap_steps=1, extrap_g_blocks=[0])
    raw["loss_params"]["gp_form"] = "official"
    with pytest.raises(ConfigError, match=r"loss_params\.gp_form.*train_extrap"):
        config_from_dict(raw)


def test_the_accepted_values_load():
    raw = _raw()
    raw["loss_params"]["gp_form"] = "official"
    raw["model_params"].update(cbn_norm="official", cbn_gamma_bias=0)
    raw["train_params"].update(adam_epsilon=1e-8, Q_update_period=1, epochs="inf")
    config = config_from_dict(raw)
    assert (config.loss_params.gp_form, config.model_params.cbn_norm) == ("official", "official")
    assert config.model_params.cbn_gamma_bias == 0.0 and config.train_params.adam_epsilon == 1e-8


def test_exponent_notation_without_a_dot_is_a_number_in_yaml(tmp_path):
    raw = _raw()
    raw["train_params"]["adam_epsilon"] = 1e-8
    text = yaml.safe_dump(raw).replace("adam_epsilon: 1.0e-08", "adam_epsilon: 1e-8")
    assert "adam_epsilon: 1e-8" in text and yaml.safe_load(text)["train_params"]["adam_epsilon"] == "1e-8"
    (tmp_path / "c.yaml").write_text(text)
    assert load_config(tmp_path / "c.yaml").train_params.adam_epsilon == 1e-8


def test_a_config_yaml_without_the_new_keys_loads_and_resumes_with_the_defaults(tmp_path):
    from training.state import CONFIG_FILE, check_or_write_config

    raw = _raw()
    new_keys = {
        "loss_params": ["gp_form"],
        "model_params": ["cbn_norm", "cbn_gamma_bias"],
        "train_params": ["adam_epsilon"],
    }
    for section, keys in new_keys.items():
        for key in keys:
            del raw[section][key]
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump(raw))
    old = load_config(tmp_path / CONFIG_FILE)
    assert (old.loss_params.gp_form, old.model_params.cbn_norm) == ("wgan_gp", "std")
    assert old.model_params.cbn_gamma_bias == 1.0 and old.train_params.adam_epsilon == 1e-7
    check_or_write_config(tiny(), tmp_path, write=False)  # the same run: no conflict
    from configs import UserError

    with pytest.raises(UserError, match="gp_form"):  # a switch is part of the run's identity
        check_or_write_config(tiny(loss={"gp_form": "official"}), tmp_path, write=False)


def test_every_shipped_config_has_the_chosen_behaviours():
    """The official penalty everywhere it applies (docs/results.md, Loss-balance study); the
    beyond-boundary fine-tuning and the tiny test configuration keep the WGAN-GP one."""
    from configs import config_path

    paths = sorted(config_path("tiny").parent.glob("*.yaml"))
    assert len(paths) > 10
    for path in paths:
        config = load_config(path)
        wgan_gp = path.name == "tiny.yaml" or config.train_params.train_extrap
        assert config.loss_params.gp_form == ("wgan_gp" if wgan_gp else "official"), path.name
        assert config.model_params.cbn_norm == "std", path.name
        assert config.model_params.cbn_gamma_bias == 1.0 and config.train_params.adam_epsilon == 1e-7, path.name


# ---------------------------------------------------------------------------- float16 penalty
@pytest.fixture(scope="module")
def f32_f16_critics():
    """The tiny discriminator in float32 and the same weights under mixed_float16."""
    from models.build import build_models
    from training.distribute import precision_policy

    config = tiny()
    d = config.data_params
    keras.utils.set_random_seed(0)  # fixed weights: the tolerances below were checked on them
    out = {}
    for name in ("none", "mixed_float16"):
        with precision_policy(name):
            out[name] = build_models(config.model_params, d.micro_patch_size[0], d.macro_patch_size[0], d.c_dim)
    out["mixed_float16"]["discriminator"].set_weights(out["none"]["discriminator"].get_weights())
    return out["none"]["discriminator"], out["mixed_float16"]["discriminator"]


def _penalty_and_grads(D, real, fake, coords, eps, scale=None, output_factor=1.0):
    """gp and dgp/dD (an outer tape; scaled by `scale` and unscaled, as a LossScaleOptimizer does)."""
    critic = lambda x: D((x, coords), training=True, update_state=False)[0] * output_factor  # noqa: E731
    with tf.GradientTape() as tape:
        gp = gradient_penalty(critic, real, fake, 10.0, epsilon=eps, loss_scale=scale)
        loss = gp["gp_loss"] * (scale if scale is not None else 1.0)
    grads = tape.gradient(loss, D.trainable_variables)
    # the output biases do not enter dD/dx: no gradient, i.e. zero
    grads = [tf.zeros(v.shape) if g is None else g for g, v in zip(grads, D.trainable_variables)]
    grads = [g / (scale if scale is not None else 1.0) for g in grads]
    return gp, np.concatenate([tf.reshape(g, [-1]).numpy() for g in grads])


@pytest.fixture(scope="module")
def f16_inputs():
    rng = np.random.default_rng(11)
    real = tf.constant(rng.uniform(-1, 1, size=(4, 8, 8, 3)), tf.float32)
    fake = tf.constant(rng.uniform(-1, 1, size=(4, 8, 8, 3)), tf.float32)
    coords = tf.constant(rng.uniform(-1, 1, size=(4, 2)), tf.float32)
    eps = tf.constant(rng.uniform(size=(4, 1, 1, 1)), tf.float32)
    return real, fake, coords, eps


def test_float16_penalty_with_loss_scaling_matches_float32(f32_f16_critics, f16_inputs):
    d32, d16 = f32_f16_critics
    gp32, g32 = _penalty_and_grads(d32, *f16_inputs)
    for scale in (2.0**12, 2.0**15):  # 2^15: Keras' initial dynamic scale
        gp16, g16 = _penalty_and_grads(d16, *f16_inputs, scale=tf.constant(scale))
        np.testing.assert_allclose(gp16["gp_slopes"], gp32["gp_slopes"], rtol=1e-2)  # float16: 11 significant bits
        # gp = mean((slope - 1)^2) magnifies a slope's relative error by about 2 slope / |1 - slope|
        np.testing.assert_allclose(gp16["gp"], gp32["gp"], rtol=5e-2, atol=1e-3)
    # D's gradient at 2^12 (at 2^15 it overflows float16 here: the optimizer would skip the step and halve the scale)
    gp16, g16 = _penalty_and_grads(d16, *f16_inputs, scale=tf.constant(2.0**12))
    assert np.all(np.isfinite(g16))
    assert np.linalg.norm(g16 - g32) / np.linalg.norm(g32) < 2e-2


def test_float16_gradient_that_would_underflow_is_kept_by_the_loss_scale(f32_f16_critics, f16_inputs):
    """A critic with a 1e-7 output factor: the gradients of its backward pass fall below float16's
    smallest subnormal (6e-8), so without scaling D receives no gradient from the penalty at all;
    with the loss scale (2^15) the penalty's gradient matches float32."""
    d32, d16 = f32_f16_critics
    factor = 1e-7
    gp32, g32 = _penalty_and_grads(d32, *f16_inputs, output_factor=factor)
    _, g_unscaled = _penalty_and_grads(d16, *f16_inputs, output_factor=factor)
    gp16, g16 = _penalty_and_grads(d16, *f16_inputs, scale=tf.constant(2.0**15), output_factor=factor)
    assert np.linalg.norm(g32) > 0
    assert np.linalg.norm(g_unscaled) < 1e-2 * np.linalg.norm(g32)  # what the scaling prevents
    assert np.linalg.norm(g16 - g32) / np.linalg.norm(g32) < 5e-2
    np.testing.assert_allclose(gp16["gp_slopes"], gp32["gp_slopes"], rtol=1e-3)


def test_the_d_step_passes_the_optimizers_loss_scale(tiny_models, monkeypatch):
    import training.step as step_module
    from training.distribute import wrap_for_loss_scaling
    from training.state import make_optimizers

    config, models = tiny_models
    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs.get("loss_scale"))
        return gradient_penalty(*args, **kwargs)

    monkeypatch.setattr(step_module, "gradient_penalty", recording)
    assert step_module.CocoGanStep._loss_scale(make_optimizers(config)["d"]) is None  # float32: no scaling
    optimizers = wrap_for_loss_scaling(make_optimizers(config), "mixed_float16")
    optimizers["d"].build(models["discriminator"].trainable_variables + models["spatial_head"].trainable_variables)
    step = step_module.CocoGanStep(config, models, optimizers)
    offsets = tf.constant([[0, 0], [4, 4], [8, 8], [0, 8]], tf.int32)
    z, eps = step.random_inputs(tf.constant(0, tf.int64), 4)
    step.d_step(tf.zeros([4, 8, 8, 3]), offsets, z, eps)
    assert isinstance(optimizers["d"], keras.optimizers.LossScaleOptimizer)
    assert len(seen) == 1 and float(seen[0]) == 2.0**15  # the D optimizer's current dynamic scale


# ---------------------------------------------------------------------------- official keys honoured
@pytest.mark.slow  # a two-step training run
def test_dump_img_step_writes_the_sample_grid_between_checkpoints(tmp_path, eager_functions):
    """Trainer.fit's output schedule; the two steps run eagerly (tests/conftest.py eager_functions)."""
    from helpers import quiet

    from training.loop import Trainer

    Trainer(tiny(total_steps=2, log={"dump_img_step": 1, "ckpt_step": 2, "img_step": 100}), tmp_path, log=quiet).fit()
    assert sorted(p.name for p in tmp_path.glob("samples_*.png")) == ["samples_0000001.png", "samples_0000002.png"]
    assert [p.name for p in (tmp_path / "checkpoints").glob("*.index")] == ["ckpt-2.index"]  # step 1: grid only
