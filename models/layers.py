"""Custom layers of COCO-GAN: spectral normalization and (conditional) batch norm.

Spectral normalization (Miyato et al., ICLR 2018, Algorithm 1)
----------------------------------------------------------------
The layer owns a trainable kernel W and a persistent, non-trainable vector u.
Every forward pass computes, from the stored u,

    v = normalize(u W^T)          (W reshaped to [fan_in, fan_out])
    u' = normalize(v W)
    sigma = v W u'^T               (u', v under stop_gradient)

and applies W / sigma.  Because only u and v are frozen, the gradient still
flows through sigma into W, as in the paper (and the official TF1 code).  u' is
written back to u only when the layer runs with state updates enabled
(``update_state``, by default equal to ``training``), so one training step
performs exactly one power iteration per call that updates state, and
inference never changes u.

Why not ``keras.layers.SpectralNormalization``: in Keras 3.15.1 that wrapper,
on every ``training=True`` call, *assigns* W/sigma back into the wrapped
layer's kernel variable and then runs the plain layer.  The trainable variable
therefore *is* the normalized kernel, sigma is divided out again at every step,
and no gradient flows through sigma.  That is a different optimisation problem
from the paper's reparameterisation W_bar = W / sigma(W); the test
``tests/test_layers.py::test_keras_spectral_normalization_overwrites_kernel``
shows the overwrite.

The conv kernel [kh, kw, cin, cout] is reshaped to [kh*kw*cin, cout] for the
power iteration (the official ``spectral_normed_weight`` does the same), so
sigma is the largest singular value of that matrix, u has shape [1, cout].

Batch norms
-----------
``BatchNorm`` and ``ConditionalBatchNorm`` use the batch statistics over every
axis except the channels in training (biased variance, as ``tf.nn.moments``)
and the moving averages at inference.  Normalisation is (x - mean) /
sqrt(var + eps) (paper Eq. 5); the official CBN's sqrt(var**2 + eps) is a
defect that is not copied by default (docs/design.md, Conditional batch
normalisation); ``ConditionalBatchNorm(norm="official")`` reproduces it
(model_params.cbn_norm, docs/switches.md).  The official plain batch norm
(tf.contrib.layers.batch_norm) divides by sqrt(var + eps) and has no such
defect, so ``BatchNorm`` has no switch.

Distribution: u is created with aggregation ONLY_FIRST_REPLICA and the moving
statistics with aggregation MEAN, so that ``assign`` inside a
``tf.distribute.MirroredStrategy`` replica context is legal.  Batch statistics
are per replica (no cross-replica sync), like Keras' default batch norm, unless
``set_synchronized_batch_norm(model, True)`` (train_params.sync_batch_norm):
then mean and variance are all-reduced over the replicas (two passes, as
tf.nn.moments), so R replicas x B/R rows normalise exactly like one device
with B rows (docs/scaling.md).

Mixed precision: the kernels, u, gamma/beta of BatchNorm and the moving
statistics are float32 variables that are *not* autocast; the power iteration
and sigma, and every batch-norm statistic and normalisation, run in float32;
convolutions and matmuls run in the layer's compute dtype (bfloat16/float16
under a mixed policy), with W/sigma cast to it.  Under float32 every cast is a
no-op.

``training`` and ``update_state`` must be Python booleans.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

_SN_EPS = 1e-12  # official _l2normalize: v / (||v|| + 1e-12)


def _l2_normalize(v: tf.Tensor) -> tf.Tensor:
    return v / (tf.sqrt(tf.reduce_sum(tf.square(v))) + _SN_EPS)


def _resolve_update(training: bool, update_state: bool | None) -> bool:
    return bool(training) if update_state is None else bool(update_state)


class _SpectralNormBase(keras.layers.Layer):
    """Shared power iteration; subclasses create ``self.kernel`` and call ``_build_u``."""

    def __init__(self, power_iterations: int = 1, **kwargs):
        super().__init__(**kwargs)
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        self.power_iterations = power_iterations

    def _build_u(self, fan_out: int) -> None:
        # Official: tf.truncated_normal_initializer() (stddev 1), shape [1, fan_out].
        self.u = self.add_weight(
            name="sn_u",
            shape=(1, fan_out),
            initializer=keras.initializers.TruncatedNormal(stddev=1.0),
            trainable=False,
            aggregation="only_first_replica",
            autocast=False,
        )

    def normalized_kernel(self, update_u: bool = False):
        """Returns (W / sigma, sigma) after ``power_iterations`` steps from the stored u.

        The kernel is viewed as a matrix [prod(shape[:-1]), shape[-1]]: for a
        conv kernel [kh, kw, cin, cout] that is [kh*kw*cin, cout].
        If ``update_u`` the new u is written back (training only).
        """
        kernel = tf.convert_to_tensor(self.kernel)
        w_mat = tf.reshape(kernel, [-1, kernel.shape[-1]])
        u = tf.convert_to_tensor(self.u)
        v = None
        for _ in range(self.power_iterations):
            v = _l2_normalize(tf.matmul(u, w_mat, transpose_b=True))  # [1, fan_in]
            u = _l2_normalize(tf.matmul(v, w_mat))  # [1, fan_out]
        # u and v are constants for the gradient; sigma still depends on W.
        u = tf.stop_gradient(u)
        v = tf.stop_gradient(v)
        sigma = tf.matmul(tf.matmul(v, w_mat), u, transpose_b=True)[0, 0]
        if update_u:
            self.u.assign(u)
        return kernel / sigma, sigma


class SpectralNormDense(_SpectralNormBase):
    """Dense layer with a spectrally normalized kernel and a bias (official ``snlinear``).

    Kernel init: truncated normal, stddev sqrt(1 / fan_in), the official code's
    *intended* init (its inverted ``if`` fell back to Glorot uniform: a defect
    not copied, docs/design.md, Spectral normalisation).  Bias init zero.
    """

    def __init__(self, units: int, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_bias = use_bias

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.TruncatedNormal(stddev=math.sqrt(1.0 / fan_in)),
            autocast=False,
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None
        self._build_u(self.units)

    def call(self, inputs, training=False, update_state=None):
        w, _ = self.normalized_kernel(update_u=_resolve_update(training, update_state))
        out = tf.matmul(inputs, tf.cast(w, inputs.dtype))
        if self.bias is not None:
            out = out + tf.cast(self.bias, out.dtype)
        return out


class SpectralNormConv2D(_SpectralNormBase):
    """Stride-1 'SAME' convolution with a spectrally normalized kernel and a bias
    (official ``snconv2d``).  Kernel init: truncated normal, stddev
    sqrt(2 / (kh*kw*cin)) as in the official code; bias init zero."""

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, cin, self.filters),
            initializer=keras.initializers.TruncatedNormal(stddev=math.sqrt(2.0 / (k * k * cin))),
            autocast=False,
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self._build_u(self.filters)

    def call(self, inputs, training=False, update_state=None):
        w, _ = self.normalized_kernel(update_u=_resolve_update(training, update_state))
        out = tf.nn.conv2d(inputs, tf.cast(w, inputs.dtype), strides=1, padding="SAME")
        return tf.nn.bias_add(out, tf.cast(self.bias, out.dtype))


class _MovingStatsMixin:
    synchronized = False  # all-reduce batch statistics over replicas (set_synchronized_batch_norm)

    def _build_moving_stats(self, ch: int) -> None:
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=(ch,),
            initializer="zeros",
            trainable=False,
            aggregation="mean",
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=(ch,),
            initializer="ones",
            trainable=False,
            aggregation="mean",
            autocast=False,
        )

    def _statistics(self, x, training: bool, update: bool):
        """Batch moments over all non-channel axes in training, moving averages otherwise.

        ``x`` is float32 (callers cast); the result is float32.
        """
        if not training:
            return tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_variance)
        axes = list(range(len(x.shape) - 1))
        ctx = tf.distribute.get_replica_context()
        if self.synchronized and ctx is not None and ctx.num_replicas_in_sync > 1:
            mean, var = _cross_replica_moments(x, axes, ctx)
        else:
            mean, var = tf.nn.moments(x, axes=axes)  # biased variance, as tf.nn.moments
        if update:
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
            self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * var)
        return mean, var


def _cross_replica_moments(x, axes, ctx):
    """tf.nn.moments over the rows of all replicas: global mean, then the mean squared deviation.

    ReplicaContext.all_reduce(SUM) is differentiable (its gradient is the all-reduced upstream
    gradient), so every replica's rows receive the gradient of the shared statistics.
    """
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
    total, count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.reduce_sum(x, axes), count])
    mean = total / count
    sq = ctx.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.reduce_sum(tf.math.squared_difference(x, tf.stop_gradient(mean)), axes)
    )
    return mean, sq / count


def set_synchronized_batch_norm(model, synchronized: bool = True) -> int:
    """Switch cross-replica batch statistics on/off for every (conditional) batch norm in `model`.

    Returns the number of batch-norm layers switched. Without a distribution strategy (or with
    one replica) synchronised statistics are the ordinary ones.
    """
    n = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, _MovingStatsMixin):
            layer.synchronized = bool(synchronized)
            n += 1
    return n


class BatchNorm(_MovingStatsMixin, keras.layers.Layer):
    """Plain batch norm with trainable gamma (init 1) and beta (init 0).

    Mirrors the official ``ops.batch_norm`` (tf.contrib.layers.batch_norm with
    decay=0.9, epsilon=1e-5, scale=True, center=True), used for G's last norm
    and the auxiliary heads.  moving = momentum * moving + (1 - momentum) * batch.
    It normalises by sqrt(var + eps), as the official one does (tf.nn.batch_normalization):
    the sqrt(var**2 + eps) defect is in the official CBN only, so this layer has no switch.
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        ch = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(ch,), initializer="ones", autocast=False)
        self.beta = self.add_weight(name="beta", shape=(ch,), initializer="zeros", autocast=False)
        self._build_moving_stats(ch)

    def call(self, inputs, training=False, update_state=None):
        x = tf.cast(inputs, tf.float32)  # statistics and normalisation in float32
        mean, var = self._statistics(x, training, _resolve_update(training, update_state))
        out = (x - mean) * tf.math.rsqrt(var + self.epsilon) * self.gamma + self.beta
        return tf.cast(out, inputs.dtype)


class ConditionalBatchNorm(_MovingStatsMixin, keras.layers.Layer):
    """Conditional batch norm (paper Eq. 5): gamma(y) * (x - mu) / sqrt(var + eps) + beta(y).

    Call with ``(x, y)``: x [B, H, W, C], y = concat(z, micro coordinate) [B, D].
    gamma and beta are each one plain (not spectrally normalized) dense layer
    on y with a bias, as the official ``slim.fully_connected(y, ch,
    activation_fn=None)``: Glorot-uniform weights and no "1 +" offset on gamma;
    beta's bias starts at 0 and gamma's at 1 (official: 0; an initialisation
    decision, the parameterisation is unchanged; ``gamma_bias``, model_params.cbn_gamma_bias).
    Official momentum 0.99, epsilon 1e-5.

    ``norm="std"`` divides by sqrt(var + eps); ``norm="official"`` by sqrt(var**2 + eps),
    the official generator's ``_cbn``, in training and at inference alike (the official
    code applied the same formula to its moving averages).  The plain ``BatchNorm`` keeps
    sqrt(var + eps) in both cases: the official plain batch norm has no such defect.
    """

    NORMS = ("std", "official")

    def __init__(
        self, momentum: float = 0.99, epsilon: float = 1e-5, norm: str = "std", gamma_bias: float = 1.0, **kwargs
    ):
        super().__init__(**kwargs)
        if norm not in self.NORMS:
            raise ValueError(f"conditional batch norm: norm {norm!r} is not one of {list(self.NORMS)}")
        self.momentum = momentum
        self.epsilon = epsilon
        self.norm = norm
        self.gamma_bias = float(gamma_bias)

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        ch = int(x_shape[-1])
        # gamma's bias starts at 1 by default, as every batch-norm scale does; the official zero bias
        # makes gamma(y) a zero-mean random sign per sample and channel at initialisation, and
        # on CPU-length runs G then learned no position-dependent structure
        # (docs/design.md, Conditional batch normalisation).
        self.gamma_dense = keras.layers.Dense(
            ch, bias_initializer=keras.initializers.Constant(self.gamma_bias), name="gamma"
        )
        self.beta_dense = keras.layers.Dense(ch, name="beta")
        self.gamma_dense.build(tuple(y_shape))
        self.beta_dense.build(tuple(y_shape))
        self._build_moving_stats(ch)

    def call(self, inputs, training=False, update_state=None):
        x_in, y = inputs
        x = tf.cast(x_in, tf.float32)  # statistics and normalisation in float32
        mean, var = self._statistics(x, training, _resolve_update(training, update_state))
        gamma = tf.cast(self.gamma_dense(y), tf.float32)[:, None, None, :]
        beta = tf.cast(self.beta_dense(y), tf.float32)[:, None, None, :]
        spread = tf.square(var) if self.norm == "official" else var
        return tf.cast((x - mean) * tf.math.rsqrt(spread + self.epsilon) * gamma + beta, x_in.dtype)


def assert_shape(tensor, expected, what: str) -> None:
    """Raises ValueError('<what>: expected [..] vs got [..]'); None in ``expected`` matches any."""
    got = list(tensor.shape)
    ok = len(got) == len(expected) and all(e is None or g is None or int(g) == e for g, e in zip(got, expected))
    if not ok:
        raise ValueError(f"{what}: expected shape {list(expected)} vs got {got}")


def track_in_checkpoints(owner, layers, prefix: str) -> None:
    """Make list-held sublayers visible to tf.train.Checkpoint.

    Keras 3 keeps a Python list of layers in its own tracker, which TensorFlow's
    checkpoint object graph does not see: without this, every variable that only the
    listed layers reach (spectral-norm u, moving statistics) is silently left out of
    checkpoints. Keras de-duplicates the layers, so weights are not counted twice.
    """
    for i, layer in enumerate(layers):
        setattr(owner, f"{prefix}{i}", layer)
