"""Interpolations (paper §3.2): latent slerp for full images and for one micro patch, and
spatial-coordinate interpolation with a fixed z (paper Fig. 5).

The generator is any callable with the Generator protocol ``g((z, coords), training=False)``
(e.g. `LoadedGenerator.patches`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from generation.sampling import generate_grid
from geometry import PatchGeometry


def slerp(z0, z1, t):
    """Spherical linear interpolation between latents z0, z1 [z_dim] at t in [0, 1] (scalar or [T]).

    Falls back to linear interpolation when z0 and z1 are (nearly) parallel.
    Returns [T, z_dim] (or [z_dim] for scalar t), float32.
    """
    z0 = np.asarray(z0, np.float64)
    z1 = np.asarray(z1, np.float64)
    t_arr = np.atleast_1d(np.asarray(t, np.float64))[:, None]
    cos = np.dot(z0, z1) / max(np.linalg.norm(z0) * np.linalg.norm(z1), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        out = (1.0 - t_arr) * z0 + t_arr * z1
    else:
        out = (np.sin((1.0 - t_arr) * omega) * z0 + np.sin(t_arr * omega) * z1) / np.sin(omega)
    out = out.astype(np.float32)
    return out[0] if np.ndim(t) == 0 else out


def latent_path(z0, z1, steps: int) -> np.ndarray:
    """[steps, z_dim] latents slerped from z0 to z1, both ends included."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    return slerp(z0, z1, np.linspace(0.0, 1.0, steps))


def interpolate_full_images(generator, geo: PatchGeometry, z0, z1, steps: int):
    """Full images [steps, H, W, C] along the slerp path from z0 to z1."""
    rows, cols = geo.grid_shape
    return generate_grid(generator, geo, latent_path(z0, z1, steps), geo.grid_indices(), rows, cols)


def interpolate_micro_patch(generator, geo: PatchGeometry, z0, z1, steps: int, index=(0, 0)):
    """Micro patches [steps, p, p, C] at the fixed micro index (row, col) along the slerp path."""
    idx = np.asarray([index], np.float32)
    return generate_grid(generator, geo, latent_path(z0, z1, steps), idx, 1, 1)


def coordinate_sweep_values(steps: int) -> np.ndarray:
    """`steps` continuous coordinate values spread evenly over [-1, 1] (ends included)."""
    if steps < 2:
        raise ValueError(f"a coordinate sweep needs at least 2 steps, got {steps}")
    return np.linspace(-1.0, 1.0, steps).astype(np.float32)


def interpolate_coordinates(generator, geo: PatchGeometry, z, steps: int):
    """Micro patches [steps, steps, p, p, C] for one z at continuous coordinates (paper Fig. 5).

    Row and column coordinates each sweep `steps` values across [-1, 1]; entry [i, j] is
    G(z, (v_i, v_j)). With steps = R the values are exactly the training micro coordinates
    (on a Euclidean model), so the patches tile into the full image; more steps show the
    patches in between. On a cylindrical model the column value is the angle θ.
    """
    z = tf.reshape(tf.convert_to_tensor(z, tf.float32), [1, -1])
    v = coordinate_sweep_values(steps)
    r, c = np.meshgrid(v, v, indexing="ij")
    coords = geo.network_coords(r.reshape(-1), c.reshape(-1))
    patches = generator((tf.repeat(z, steps * steps, axis=0), coords), training=False)
    return tf.reshape(patches, [steps, steps] + patches.shape.as_list()[1:])
