"""The CelebA face box of the official preprocessing, at any resolution (no TensorFlow import).

docs/design.md, Data: the official crop is rows 50:178, cols 25:153 of the aligned 218x178
(height x width) image, a 128x128 square. Expressed as fractions of the image size it applies to
any resolution with the same geometry (e.g. the 109x89 half-size copy, where it is rows 25:89,
cols 12.5:76.5). The training pipeline (data.transforms), the folder reader (data.files) and the
FID reference images (fid.images) all take it from here.
"""

CELEBA_GEOMETRY = (218, 178)  # [height, width] of img_align_celeba
CELEBA_BOX = (50, 25, 128, 128)  # top, left, height, width in that geometry


def celeba_box(height, width):
    """The CelebA face box (top, left, box_h, box_w) in pixels of a `height` x `width` image.

    Fractional values are kept (the half-resolution copy puts the left edge at 12.5 px);
    data.transforms.crop_and_resize samples them exactly. Works on Python numbers and tensors.
    """
    sy = height / CELEBA_GEOMETRY[0]
    sx = width / CELEBA_GEOMETRY[1]
    top, left, h, w = CELEBA_BOX
    return top * sy, left * sx, h * sy, w * sx
