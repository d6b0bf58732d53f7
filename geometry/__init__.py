"""Patch geometry: coordinates, crops and merges of COCO-GAN's micro and macro patches."""

from geometry.patches import CYLINDRICAL, EUCLIDEAN, PatchGeometry, repeat_latents, tile_coords

__all__ = ["PatchGeometry", "EUCLIDEAN", "CYLINDRICAL", "repeat_latents", "tile_coords"]
