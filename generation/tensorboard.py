"""Optional TensorBoard image summaries of what generate.py writes (--tb_logdir)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def write_images(tb_logdir, tag: str, images, step: int = 0, max_outputs: int = 16) -> None:
    """uint8 [N, H, W, C] or [H, W, C] images as one image summary `tag` at `step`."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    writer = tf.summary.create_file_writer(str(tb_logdir))
    with writer.as_default():
        tf.summary.image(tag, images, step=int(step), max_outputs=max_outputs)
    writer.flush()
    writer.close()
