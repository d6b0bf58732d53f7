"""Folder pipelines: CelebA on real JPEGs, generic folders, panoramas, and bad input."""

import os

import numpy as np
import pytest
from PIL import Image

from configs.errors import UserError
from configs.registry import config_path, replace
from configs.schema import load_config
from data import transforms
from data.pipeline import epoch_order, make_full_image_dataset, make_training_dataset, panorama_roll_shifts

NUM_FACES = 12  # a few real files only: never the whole shared folder in tests


def _config(name, **data_params):
    config = load_config(config_path(name))
    return replace(config, data_params=data_params, train_params={"batch_size": 4})


def _take(ds, n):
    it = iter(ds)
    return [{k: v.numpy() for k, v in next(it).items()} for _ in range(n)]


def _to_unit(pixels):
    return np.asarray(pixels, np.float32) / 127.5 - 1


@pytest.fixture
def faces(celeba_dir, tmp_path):
    """A folder of symlinks to the first real 89x109 CelebA JPEGs (no copy)."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(1, NUM_FACES + 1):
        os.symlink(celeba_dir / f"{i:06d}.jpg", folder / f"{i:06d}.jpg")
    return folder


# ------------------------------------------------------------------------------ CelebA
def test_celeba_crop_matches_pil_on_a_real_face(celeba_dir):
    """Oracle: PIL's bilinear resize of the same fractional box (rows 25:89, cols 12.5:76.5)."""
    image = Image.open(celeba_dir / "000001.jpg")
    assert image.size == (89, 109)
    ours = transforms.celeba_crop(np.asarray(image, np.float32), (64, 64)).numpy()
    pil = np.asarray(image.resize((64, 64), Image.BILINEAR, box=(12.5, 25, 76.5, 89)), np.float32)
    assert np.abs(ours - pil).max() <= 1.0  # PIL rounds to uint8
    assert np.abs(ours - pil).mean() < 0.5
    # Without a size: the box itself, 64x64 at half resolution (128x128 at full).
    assert transforms.celeba_crop(np.asarray(image, np.float32)).shape == (64, 64, 3)
    assert transforms.celeba_crop(np.zeros((218, 178, 3), np.float32)).shape == (128, 128, 3)


def test_celeba_pipeline_on_real_jpegs(faces):
    config = _config("CelebA_64x64_N2M2S32")
    full = np.concatenate([b.numpy() for b in make_full_image_dataset(config, batch_size=5, data_dir=str(faces))])
    assert full.shape == (NUM_FACES, 64, 64, 3) and full.dtype == np.float32
    assert -1 <= full.min() < -0.5 and 0.5 < full.max() <= 1
    first = Image.open(faces / "000001.jpg").resize((64, 64), Image.BILINEAR, box=(12.5, 25, 76.5, 89))
    assert np.abs(full[0] - _to_unit(first)).max() <= 1.0 / 127.5 + 1e-6

    seed = 7
    batches = _take(make_training_dataset(config, seed=seed, data_dir=str(faces)), 4)  # 3 batches per epoch
    order = np.concatenate([epoch_order(NUM_FACES, seed, 0), epoch_order(NUM_FACES, seed, 1)])
    for k, b in enumerate(batches):
        assert b["macro_patches"].shape == (4, 32, 32, 3) and b["macro_offsets"].shape == (4, 2)
        assert -1 <= b["macro_patches"].min() and b["macro_patches"].max() <= 1
        assert set(np.unique(b["macro_offsets"])) <= {0, 16, 32}  # N2M2: 3x3 positions, stride 16
        for row in range(4):  # the real patch is the crop of that file's full image at that offset
            y, x = b["macro_offsets"][row]
            np.testing.assert_allclose(
                b["macro_patches"][row], full[order[4 * k + row], y : y + 32, x : x + 32], atol=1e-5
            )
    again = _take(make_training_dataset(config, seed=seed, data_dir=str(faces)), 4)
    resumed = _take(make_training_dataset(config, seed=seed, start_batch=2, data_dir=str(faces)), 2)
    for a, b in zip(batches + batches[2:], again + resumed):
        np.testing.assert_array_equal(a["macro_patches"], b["macro_patches"])
        np.testing.assert_array_equal(a["macro_offsets"], b["macro_offsets"])


def test_celeba_128_on_half_resolution_files_is_refused(faces):
    config = _config("CelebA_128x128_N2M2S64")
    with pytest.raises(UserError, match="too small: its CelebA face box is 64x64 px, smaller than the 128x128"):
        make_training_dataset(config, data_dir=str(faces))


def test_celeba_without_data_dir_says_where_to_get_it():
    with pytest.raises(UserError, match="--data_dir.*img_align_celeba"):
        make_training_dataset(_config("CelebA_64x64_N2M2S32"))


# ----------------------------------------------------------------------- generic folder
def _gradient(height, width, mode="RGB"):
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), (xx + yy) * 127 // max(height + width - 2, 1)],
        -1,
    ).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)


def test_generic_folder_mixed_sizes_and_modes(tmp_path, capsys):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    _gradient(80, 100).save(folder / "a_rgb.jpg", quality=95)
    _gradient(64, 64, "L").save(folder / "b_gray.png")
    _gradient(90, 70, "RGBA").save(folder / "c_rgba.png")
    _gradient(70, 70, "P").save(folder / "sub" / "d_palette.PNG")
    (folder / "notes.txt").write_text("not an image")
    config = _config("LSUN_64x64_N2M2S32", dataset="folder")
    full = np.concatenate([b.numpy() for b in make_full_image_dataset(config, batch_size=3, data_dir=str(folder))])
    assert full.shape == (4, 64, 64, 3)  # sorted: a_rgb, b_gray, c_rgba, sub/d_palette
    assert "ignored 1 non-image file" in capsys.readouterr().err
    # Direct resize (no centre crop), oracle PIL bilinear.
    expected = _to_unit(Image.open(folder / "a_rgb.jpg").resize((64, 64), Image.BILINEAR))
    assert np.abs(full[0] - expected).max() <= 1.5 / 127.5
    # Grayscale -> three equal channels; RGBA -> its colour channels.
    np.testing.assert_array_equal(full[1][..., 0], full[1][..., 2])
    np.testing.assert_allclose(full[1][..., 0], _to_unit(Image.open(folder / "b_gray.png")), atol=1e-6)
    expected = _to_unit(_gradient(90, 70).resize((64, 64), Image.BILINEAR))
    assert np.abs(full[2] - expected).max() <= 1.5 / 127.5
    (batch,) = _take(make_training_dataset(config, data_dir=str(folder)), 1)
    assert batch["macro_patches"].shape == (4, 32, 32, 3)


# ---------------------------------------------------------------------------- panoramas
def test_roll_columns_is_np_roll():
    images = np.arange(2 * 3 * 5 * 1).reshape(2, 3, 5, 1)
    rolled = transforms.roll_columns(images, [1, 4]).numpy()
    np.testing.assert_array_equal(rolled[0], np.roll(images[0], -1, axis=1))
    np.testing.assert_array_equal(rolled[1], np.roll(images[1], -4, axis=1))


def test_panorama_roll_wraps_and_is_deterministic(tmp_path):
    folder = tmp_path / "pano"
    folder.mkdir()
    yy, xx = np.mgrid[0:256, 0:768]
    for i in range(3):  # every column identifiable: R = column mod 256, G = column // 256 * 100
        pano = np.stack([xx % 256, xx // 256 * 100, np.full_like(xx, 40 * i)], -1).astype(np.uint8)
        Image.fromarray(pano).save(folder / f"pano{i}.png")
    config = _config("MP3D_256x768_N2M2S128")
    full = next(iter(make_full_image_dataset(config, batch_size=3, data_dir=str(folder)))).numpy()
    np.testing.assert_allclose(
        full[1], _to_unit(np.stack([xx % 256, xx // 256 * 100, np.full_like(xx, 40)], -1)), atol=1e-6
    )  # no roll on full images
    seed = 11
    batches = _take(make_training_dataset(config, seed=seed, data_dir=str(folder)), 2)
    order = np.concatenate([epoch_order(3, seed, 0), epoch_order(3, seed, 1), epoch_order(3, seed, 2)])
    wrapped = 0
    for k, b in enumerate(batches):
        shifts = panorama_roll_shifts(config, seed, k)
        assert np.all((0 <= shifts) & (shifts < 768))
        for row in range(4):
            rolled = transforms.roll_columns(full[order[4 * k + row]][None], shifts[row : row + 1]).numpy()[0]
            y, x = b["macro_offsets"][row]
            assert y in (0, 64, 128) and x % 64 == 0 and 0 <= x < 768  # cylindrical: any of 12 columns
            np.testing.assert_array_equal(b["macro_patches"][row], rolled[y : y + 128, x : x + 128])
            wrapped += (x + shifts[row]) % 768 > 768 - 128  # the patch crosses the 360° seam
    assert len({tuple(panorama_roll_shifts(config, seed, k)) for k in range(3)}) == 3
    again = _take(make_training_dataset(config, seed=seed, data_dir=str(folder)), 2)
    for a, b in zip(batches, again):
        np.testing.assert_array_equal(a["macro_patches"], b["macro_patches"])
    # The seam case is covered whenever it occurs; check it explicitly on one image.
    rolled = transforms.roll_columns(full[:1], [700]).numpy()[0]
    np.testing.assert_array_equal(rolled[:, 68], full[0][:, 0])  # column 68 of the rolled = column 0


# ---------------------------------------------------------------------------- bad input
def _good_jpeg(path, size=(80, 80)):
    _gradient(*size).save(path, quality=90)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "data folder not found"),
        (lambda d: d.mkdir(), "no .jpg/.jpeg/.png images in .* \\(it is empty\\)"),
        (lambda d: (d.mkdir(), (d / "readme.txt").write_text("x")), "holds 1 other file"),
    ],
)
def test_missing_or_empty_folder(tmp_path, setup, message):
    folder = tmp_path / "images"
    setup(folder)
    with pytest.raises(UserError, match=message):
        make_training_dataset(_config("LSUN_64x64_N2M2S32", dataset="folder"), data_dir=str(folder))


def test_data_dir_is_a_file(tmp_path):
    path = tmp_path / "one.jpg"
    _good_jpeg(path)
    with pytest.raises(UserError, match="must be a folder of images"):
        make_training_dataset(_config("LSUN_64x64_N2M2S32", dataset="folder"), data_dir=str(path))


def test_folder_dataset_needs_data_dir():
    with pytest.raises(UserError, match="pass --data_dir"):
        make_training_dataset(_config("LSUN_64x64_N2M2S32", dataset="folder"))


def _truncated(path):
    _good_jpeg(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


@pytest.mark.parametrize(
    "make_bad, reason",
    [
        (lambda p: p.write_text("this is not a JPEG"), "not an image"),
        (_truncated, "truncated JPEG"),
        (lambda p: _good_jpeg(p, (40, 100)), "too small: 100x40 is smaller than the 64x64 training size"),
    ],
)
def test_bad_file_is_skipped_with_a_count_or_refused_alone(tmp_path, capsys, make_bad, reason):
    config = _config("LSUN_64x64_N2M2S32", dataset="folder")
    alone = tmp_path / "alone"
    alone.mkdir()
    make_bad(alone / "bad.jpg")
    with pytest.raises(UserError, match=f"no usable image in .*bad.jpg: {reason}"):
        make_training_dataset(config, data_dir=str(alone))

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    make_bad(mixed / "bad.jpg")
    for i in range(4):
        _good_jpeg(mixed / f"good{i}.jpg")
    capsys.readouterr()
    full = np.concatenate([b.numpy() for b in make_full_image_dataset(config, batch_size=4, data_dir=str(mixed))])
    err = capsys.readouterr().err
    assert "skipped 1 of 5 image files" in err and f"bad.jpg: {reason}" in err
    assert len(err.strip().splitlines()) == 1
    assert full.shape == (4, 64, 64, 3)  # the four good images, none replaced by a wrong one
    expected = _to_unit(Image.open(mixed / "good0.jpg").resize((64, 64), Image.BILINEAR))
    assert np.abs(full[0] - expected).max() <= 1.5 / 127.5


def test_celeba_refuses_a_non_celeba_geometry(tmp_path):
    folder = tmp_path / "square"
    folder.mkdir()
    _good_jpeg(folder / "x.jpg", (256, 256))
    with pytest.raises(UserError, match="256x256 is not the 178x218 aligned-CelebA geometry"):
        make_training_dataset(_config("CelebA_64x64_N2M2S32"), data_dir=str(folder))


def test_tfds_celeba_not_prepared_is_a_user_error(tmp_path):
    config = _config("CelebA_64x64_N2M2S32", dataset="tfds_celeba")
    with pytest.raises(UserError, match="TFDS celeb_a is not prepared in .*tfds build celeb_a"):
        make_training_dataset(config, data_dir=str(tmp_path))
