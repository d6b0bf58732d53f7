"""The FID tools' image-folder reader: listing, CelebA crop geometry, batches."""

import numpy as np
import pytest
from PIL import Image

from configs.errors import UserError
from fid import images


def _write(folder, name, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name)


def test_celeba_box_scales_with_image_size():
    # 178x218 is the aligned CelebA geometry: rows 50:178, cols 25:153.
    assert images.celeba_crop_box(178, 218) == (25, 50, 153, 178)
    # The shared half-resolution copy (89x109): rows 25:89, cols 12.5:76.5.
    assert images.celeba_crop_box(89, 109) == (12.5, 25.0, 76.5, 89.0)


def test_crop_selects_the_face_region(tmp_path):
    # 178x218 image, white inside the crop box and black outside: after the crop
    # and the resize to 16x16 every pixel must be white.
    array = np.zeros((218, 178, 3), np.uint8)
    array[50:178, 25:153] = 255
    _write(tmp_path, "a.png", array)
    out = images.load_image(tmp_path / "a.png", size=16, celeba_crop=True)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out.min() == 255
    # Without the crop the black border is kept.
    assert images.load_image(tmp_path / "a.png", size=16).min() == 0


def test_listing_range_and_partial_last_batch(tmp_path):
    for i in range(5):
        _write(tmp_path, f"{i:03d}.png", np.full((4, 4, 3), i * 10))
    (tmp_path / "notes.txt").write_text("ignored")
    paths = images.list_images(tmp_path, start=1, count=3)
    assert [p.name for p in paths] == ["001.png", "002.png", "003.png"]
    batches = list(images.iterate_batches(paths, batch_size=2))
    assert [b.shape[0] for b in batches] == [2, 1]
    assert batches[1][0, 0, 0, 0] == 30


def test_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        images.list_images(tmp_path / "nope")
    with pytest.raises(UserError, match="contains no images"):
        images.list_images(tmp_path)
    _write(tmp_path, "a.png", np.zeros((4, 4, 3)))
    with pytest.raises(UserError, match="1 images"):
        images.list_images(tmp_path, start=0, count=2)


def test_shared_celeba_sample(celeba_dir):
    paths = images.list_images(celeba_dir, start=0, count=2)
    batch = next(images.iterate_batches(paths, 2, size=64, celeba_crop=True))
    assert batch.shape == (2, 64, 64, 3) and batch.dtype == np.uint8


def test_agrees_with_the_training_pipeline_crop(celeba_dir):
    # Two independent implementations of docs/design.md, Data: ours (integer cover crop +
    # PIL bilinear, as the official get_celeba_image) and the training
    # pipeline's (one ScaleAndTranslate over the fractional box). On the
    # half-resolution files they agree to one grey level (rounding).
    transforms = pytest.importorskip("data.transforms")
    for path in images.list_images(celeba_dir, start=0, count=8):
        ours = images.load_image(path, size=64, celeba_crop=True).astype(int)
        raw = np.asarray(Image.open(path).convert("RGB"), np.float32)
        theirs = np.clip(np.rint(transforms.celeba_crop(raw, (64, 64)).numpy()), 0, 255)
        assert np.abs(ours - theirs).max() <= 1
