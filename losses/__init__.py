"""COCO-GAN losses: pure functions returning the parts that training logs."""

from losses.consistency import content_consistency_loss, masked_spatial_loss, spatial_consistency_loss
from losses.wgan_gp import gradient_penalty, wasserstein_loss

__all__ = [
    "wasserstein_loss",
    "gradient_penalty",
    "spatial_consistency_loss",
    "content_consistency_loss",
    "masked_spatial_loss",
]
