"""A small, self-contained image-folder reader for the FID tools.

Yields uint8 RGB batches. Real images for reference statistics must go
through the same geometry as training data (docs/design.md, Data):

* CelebA: crop rows 50:178, cols 25:153 of the 178x218 (W x H) aligned image,
  scaled to the file's actual size (on the 89x109 half-resolution copy:
  rows 25:89, cols 12.5:76.5), then a bilinear resize to the training size.
* Others (LSUN): a direct bilinear resize to a square, no centre crop.

The resize is PIL's bilinear filter (antialiased when shrinking), which is
what the official code's ``scipy.misc.imresize`` used after its integer crop;
a fractional crop box is handled as described in ``load_image``.
Unlike that code, uint8 images are never min-max rescaled (docs/design.md, Deviations from the official code).
"""

import math
import pathlib

import numpy as np
from PIL import Image

from configs.errors import UserError
from data.celeba_box import celeba_box

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder, start=0, count=None):
    """Sorted image paths of ``folder``[start:start + count]; UserError if too few."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise UserError(f"{folder} contains no images ({', '.join(IMAGE_EXTENSIONS)}).")
    end = len(paths) if count is None else start + count
    if start < 0 or end > len(paths) or end <= start:
        raise UserError(f"{folder} has {len(paths)} images; images {start + 1}..{end} were requested.")
    return paths[start:end]


def celeba_crop_box(width, height):
    """The training pipeline's CelebA face box (data.celeba_box) for an image of this
    size, as PIL's (left, top, right, bottom)."""
    top, left, box_h, box_w = celeba_box(height, width)
    return (left, top, left + box_w, top + box_h)


def load_image(path, size=None, celeba_crop=False):
    """uint8 [H, W, 3] image; cropped (CelebA) and/or resized to size x size."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except OSError as e:
        raise UserError(f"cannot read image {path}: {e}") from None
    if celeba_crop and size is None:
        raise UserError("--celeba_crop needs --size (the training resolution).")
    box = None
    if celeba_crop:
        # Crop first, as the official code did, so that the resize filter cannot
        # reach pixels outside the crop. A fractional box (half-resolution files)
        # is cropped to the smallest covering pixel rectangle and the remaining
        # fraction is passed to the resize as a box relative to that rectangle.
        left, top, right, bottom = celeba_crop_box(*image.size)
        cover = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
        image = image.crop(cover)
        box = (left - cover[0], top - cover[1], right - cover[0], bottom - cover[1])
    if size is not None:
        image = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(image, dtype=np.uint8)


def iterate_batches(paths, batch_size, size=None, celeba_crop=False):
    """Yields uint8 [B, H, W, 3] batches; the last one may be smaller."""
    for begin in range(0, len(paths), batch_size):
        images = [load_image(p, size, celeba_crop) for p in paths[begin : begin + batch_size]]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise UserError(f"images of different sizes {sorted(shapes)[:3]}: pass --size.")
        yield np.stack(images)
