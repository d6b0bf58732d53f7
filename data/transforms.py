"""Image transforms shared by the training pipeline and the FID reference statistics.

All functions take and return float32 images [H, W, C] (or batches [B, H, W, C]) and
never change the value range, so they can be applied to uint8-valued floats or to
[-1, 1] images alike.

Resampling is bilinear ("triangle" kernel) with antialiasing when shrinking, i.e. the
behaviour of PIL's ``Image.resize(..., BILINEAR)`` that the official preprocessing
(scripts/compute_tfrecord.py + img_utils.py, PIL/scipy based) relied on. Plain
``tf.image.resize(..., antialias=False)`` would alias badly when going from 178x218
CelebA faces down to 32x32.
"""

from __future__ import annotations

import tensorflow as tf

from data.celeba_box import celeba_box


def crop_and_resize(image, box, size):
    """Crop a (possibly fractional) pixel box [top, left, h, w] and resize it to `size`.

    One resampling step: output pixel centre i maps to input coordinate
    top + (i + 0.5) * h / size_h (half-pixel centres), bilinear with antialiasing. For an
    integer box this equals ``resize_to(image[top:top+h, left:left+w], size)`` except in the
    outermost output pixels, where the filter reads the true neighbours outside the box
    instead of renormalising at the crop edge (as PIL's ``resize(box=...)`` does).
    Works on [H, W, C] or [B, H, W, C] (same box for the whole batch).
    """
    image = tf.convert_to_tensor(image, tf.float32)
    batched = image.shape.rank == 4
    if not batched:
        image = image[None]
    top, left, h, w = [tf.cast(v, tf.float32) for v in box]
    out_h, out_w = int(size[0]), int(size[1])
    scale = tf.stack([out_h / h, out_w / w])
    translation = tf.stack([-top * out_h / h, -left * out_w / w])
    out = tf.raw_ops.ScaleAndTranslate(
        images=image, size=[out_h, out_w], scale=scale, translation=translation, kernel_type="triangle", antialias=True
    )
    return out if batched else out[0]


def celeba_crop(image, size=None):
    """CelebA preprocessing (docs/design.md, Data) on an image of any resolution of the 178x218 geometry.

    Without `size` it returns the face box itself (128x128 on the original images, rounded
    to whole pixels); with `size` (e.g. (64, 64)) it crops and bilinearly resizes in one step.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    shape = tf.shape(image)
    height, width = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    box = celeba_box(height, width)
    if size is None:
        top, left, h, w = [tf.cast(tf.round(v), tf.int32) for v in box]
        return image[..., top : top + h, left : left + w, :]
    return crop_and_resize(image, box, size)


def resize_to(image, size):
    """Direct (aspect-changing) bilinear resize to `size` [h, w], antialiased when shrinking.

    The official LSUN / CelebA-HQ / panorama preprocessing: no centre crop.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    return tf.image.resize(image, [int(size[0]), int(size[1])], method="bilinear", antialias=True)


def decode_rgb(data):
    """Encoded JPEG or PNG bytes -> uint8 [H, W, 3] (grayscale expanded, alpha dropped).

    JPEGs use the accurate integer IDCT (libjpeg's default, what PIL and the official
    preprocessing decode with); TensorFlow's default fast IDCT is off by up to ~4 levels.
    Truncated files raise an error here (they are caught earlier by data/files.py).
    """
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_png(data, channels=3),
    )


def to_unit_range(image):
    """Pixels in [0, 255] (uint8, or floats after a resize) -> float32 [-1, 1]: the official x / 127.5 - 1,
    clipped so that resampled values stay in range."""
    return tf.clip_by_value(tf.cast(image, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def match_channels(image, c_dim: int):
    """Make the last axis c_dim (1: luma, 3: RGB) from a 1- or 3-channel image."""
    channels = image.shape[-1]
    if channels == c_dim:
        return image
    if c_dim == 1:
        return tf.image.rgb_to_grayscale(image)
    return tf.image.grayscale_to_rgb(image)


def roll_columns(images, shifts):
    """Roll each panorama horizontally: out[b, :, j] = images[b, :, (j + shifts[b]) mod W].

    The official `aug_cylindrical_data_tensor` (utils.py) with one shift per image instead
    of one per batch. images [B, H, W, C], shifts [B] int.
    """
    images = tf.convert_to_tensor(images)
    width = tf.shape(images)[2]
    cols = tf.math.floormod(tf.range(width)[None] + tf.cast(shifts, tf.int32)[:, None], width)
    return tf.gather(images, cols, axis=2, batch_dims=1)
