"""Export the generator as a TensorFlow SavedModel with serving signatures.

Signatures (inference mode: batch-norm moving averages, no state updates):
- ``micro_patches``: z [N, z_dim] float32, coords [N, coord_dim] float32 -> {"patches": [N, p, p, C]}
  in [-1, 1]; any coordinates, including extrapolated or continuous ones.
- ``full_images``: z [B, z_dim] float32 -> {"images": [B, H, W, C]} in [-1, 1]: G on every micro
  coordinate of the training grid, concatenated (the paper's test-time generation).

The export directory also holds the run's config.yaml, so generate.py accepts it in place
of a log directory (--logdir=EXPORT_DIR). Usage without this project:
    m = tf.saved_model.load(d); m.signatures["full_images"](z=tf.random.uniform([4, 128], -1, 1))["images"]
"""

from __future__ import annotations

import os
import pathlib
import shutil

import tensorflow as tf

from configs import Config, UserError
from configs.run_dir import CONFIG_FILE
from geometry import PatchGeometry, repeat_latents, tile_coords


class GeneratorExport(tf.Module):
    def __init__(self, generator, geometry: PatchGeometry, z_dim: int):
        super().__init__(name="coco_gan_generator")
        self.generator = generator
        self.geometry = geometry
        self.grid_coords = tf.constant(geometry.full_grid_coords(), tf.float32)  # [R_h * R_w, coord_dim]
        self.z_dim = int(z_dim)
        coord_dim = geometry.coord_dim
        self.micro_patches = tf.function(
            self._micro_patches,
            input_signature=[
                tf.TensorSpec([None, self.z_dim], tf.float32, name="z"),
                tf.TensorSpec([None, coord_dim], tf.float32, name="coords"),
            ],
        )
        self.full_images = tf.function(
            self._full_images, input_signature=[tf.TensorSpec([None, self.z_dim], tf.float32, name="z")]
        )

    def _micro_patches(self, z, coords):
        return {"patches": self.generator((z, coords), training=False)}

    def _full_images(self, z):
        n = int(self.grid_coords.shape[0])
        patches = self.generator((repeat_latents(z, n), tile_coords(self.grid_coords, tf.shape(z)[0])), training=False)
        return {"images": self.geometry.merge_full(patches)}


def export_generator(generator, config: Config, export_dir) -> str:
    """Write a SavedModel of `generator` (+ config.yaml) to export_dir (replaced atomically)."""
    export_dir = pathlib.Path(export_dir)
    if export_dir.exists() and not (export_dir / "saved_model.pb").is_file():
        if any(export_dir.iterdir()):
            raise UserError(f"--export_dir {export_dir} exists and is not an exported model; choose a new directory")
    module = GeneratorExport(generator, PatchGeometry.from_config(config), config.model_params.z_dim)
    tmp = export_dir.with_name(export_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tf.saved_model.save(
        module, str(tmp), signatures={"micro_patches": module.micro_patches, "full_images": module.full_images}
    )
    (tmp / CONFIG_FILE).write_text(config.to_yaml())
    if export_dir.exists():
        shutil.rmtree(export_dir)
    os.replace(tmp, export_dir)
    return str(export_dir)


def load_exported(export_dir):
    """fn(z, coords) -> micro patches, from the SavedModel's `micro_patches` signature."""
    loaded = tf.saved_model.load(str(export_dir))
    signature = loaded.signatures["micro_patches"]

    def patches(z, coords):
        return signature(z=z, coords=coords)["patches"]

    patches.saved_model = loaded  # keep the loaded object (and its variables) alive
    return patches
