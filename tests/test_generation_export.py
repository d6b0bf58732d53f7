"""The exported SavedModel reproduces the in-process generator; GIF output."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny
from PIL import Image

from configs import UserError
from generation.export import export_generator
from generation.gif import save_gif
from generation.restore import build_generator, load_generator
from generation.sampling import generate_full_images, sample_latents
from geometry import PatchGeometry


def test_saved_model_reproduces_the_generator(tmp_path):
    config = tiny()
    g = build_generator(config)
    geo = PatchGeometry.from_config(config)
    export_dir = export_generator(g, config, tmp_path / "export")
    z = sample_latents(3, config.model_params.z_dim, seed=0)
    want = generate_full_images(g, geo, z).numpy()

    module = tf.saved_model.load(export_dir)  # as a user without this project would
    np.testing.assert_allclose(module.signatures["full_images"](z=z)["images"].numpy(), want, atol=1e-6)
    coords = tf.constant([[-1.0, 1.0], [0.3, -5 / 3]])  # any coordinates, extrapolated ones too
    zz = tf.repeat(z[:1], 2, axis=0)
    np.testing.assert_allclose(
        module.signatures["micro_patches"](z=zz, coords=coords)["patches"].numpy(),
        g((zz, coords), training=False).numpy(),
        atol=1e-6,
    )

    loaded = load_generator(export_dir)  # generate.py --logdir EXPORT_DIR
    assert loaded.config == config and loaded.step is None
    np.testing.assert_allclose(generate_full_images(loaded.patches, loaded.geometry, z).numpy(), want, atol=1e-6)
    with pytest.raises(UserError, match="log directories only"):
        load_generator(export_dir, checkpoint=3)


def test_gif_frames_round_trip(tmp_path):
    frames = np.stack([np.full((6, 5, 3), v, np.uint8) for v in (0, 100, 200)])
    save_gif(tmp_path / "a.gif", frames, duration_ms=50, boomerang=True, scale=2)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 4 and im.size == (10, 12)  # 0, 100, 200, 100
        im.seek(2)
        assert np.asarray(im.convert("RGB"))[0, 0].tolist() == [200, 200, 200]
    save_gif(tmp_path / "g.gif", frames[..., :1], boomerang=False)
    with Image.open(tmp_path / "g.gif") as im:
        assert im.n_frames == 3
