"""Read the tensors of a TorchScript archive without importing PyTorch.

A TorchScript ``.pt`` file is a zip archive::

    <root>/data.pkl        pickle of the module tree; tensors are references
    <root>/data/<key>      raw little-endian storage bytes, one file per key
    <root>/code/...        TorchScript source of the forward passes

The pickle refers to classes (``__torch__.inceptionv3.Conv2dLayer``,
``torch._utils._rebuild_tensor_v2``...) that only exist with PyTorch
installed. ``read_module_tree`` resolves them to plain Python stand-ins, so
the result is a tree of ``ScriptObject`` (attribute dict + class name) whose
leaves are numpy arrays. Only what this archive format needs is supported;
anything else raises ``ValueError`` rather than guessing.
"""

import pickle
import zipfile

import numpy as np

# TorchScript storage class name -> numpy dtype (little-endian on disk).
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class ScriptObject:
    """Stand-in for a scripted ``nn.Module``: its class name and attributes.

    The pickle creates objects with NEWOBJ (``cls.__new__``, no ``__init__``),
    so each TorchScript class gets its own subclass carrying ``class_name``.
    """

    class_name = "?"
    attributes = {}

    def __setstate__(self, state):
        # TorchScript pickles module state as a plain dict (BUILD opcode).
        if not isinstance(state, dict):
            raise ValueError(f"{self.class_name}: unexpected state {type(state)}")
        self.attributes = dict(state)

    def __repr__(self):
        return f"ScriptObject({self.class_name})"


class _StorageType:
    def __init__(self, name):
        if name not in _STORAGE_DTYPES:
            raise ValueError(f"unsupported TorchScript storage type {name}")
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """numpy equivalent of ``torch._utils._rebuild_tensor_v2`` (views a storage)."""
    size, stride = tuple(size), tuple(stride)
    if not size:
        return storage[offset].copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=[s * itemsize for s in stride])
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    """Unpickler mapping TorchScript globals to numpy / ScriptObject."""

    def __init__(self, file, archive, root):
        super().__init__(file)
        self._archive = archive
        self._root = root
        self._storages = {}
        self._classes = {}

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            full_name = f"{module}.{name}"
            if full_name not in self._classes:
                self._classes[full_name] = type(name, (ScriptObject,), {"class_name": full_name})
            return self._classes[full_name]
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch.jit._pickle", "build_intlist"):
            return list
        if (module, name) == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        raise ValueError(f"unsupported global {module}.{name} in TorchScript pickle")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel)
        kind, storage_type, key, _, numel = pid
        if kind != "storage":
            raise ValueError(f"unsupported persistent id {pid!r}")
        if key not in self._storages:
            raw = self._archive.read(f"{self._root}/data/{key}")
            array = np.frombuffer(raw, dtype=storage_type.dtype)
            if array.size != numel:
                raise ValueError(f"storage {key}: expected {numel} elements, got {array.size}")
            self._storages[key] = array
        return self._storages[key]


def read_module_tree(path):
    """Returns the root ``ScriptObject`` of the TorchScript archive at ``path``."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one data.pkl, found {pickles}")
        root = pickles[0][: -len("/data.pkl")]
        with archive.open(pickles[0]) as f:
            return _Unpickler(f, archive, root).load()


def named_objects(obj, prefix=""):
    """Yields (dotted path, ScriptObject) for every module in the tree, pre-order."""
    yield prefix, obj
    for name, value in obj.attributes.items():
        if isinstance(value, ScriptObject):
            yield from named_objects(value, f"{prefix}.{name}" if prefix else name)
