"""Animated GIFs (pillow) for interpolations."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fileio.atomic import atomic_path


def save_gif(path, frames, duration_ms: int = 80, boomerang: bool = True, scale: int = 1) -> None:
    """uint8 frames [T, H, W, C] (C = 1 or 3) -> a looping GIF, written atomically.

    `boomerang` appends the frames backwards (without repeating the ends) so the loop
    has no jump; `scale` enlarges small frames by pixel repetition (nearest neighbour).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 [T, H, W, 1|3], got {frames.dtype} {list(frames.shape)}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    if boomerang and len(frames) > 2:
        frames = np.concatenate([frames, frames[-2:0:-1]], 0)
    mode = "L" if frames.shape[-1] == 1 else "RGB"
    images = [Image.fromarray(f[..., 0] if mode == "L" else f, mode) for f in frames]
    if mode == "RGB":
        images = [im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for im in images]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(duration_ms), loop=0, disposal=1
        )
