"""Builds the four COCO-GAN networks from the config's model_params.

``build_models`` calls every network once on dummy inputs with
``training=False`` so that all variables exist (e.g. before a checkpoint
restore); inference calls never change state (SN u, moving statistics).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.discriminator import ContentHead, Discriminator, SpatialHead
from models.generator import Generator


def make_generator(model_params, micro_size: int, c_dim: int = 3) -> Generator:
    """The generator of ``model_params`` (not yet built); the added cbn_norm and cbn_gamma_bias
    default to "std" and 1.0 when absent."""
    p = model_params
    return Generator(
        micro_size=micro_size,
        z_dim=p.z_dim,
        coord_dim=p.spatial_dim,
        ngf_base=p.ngf_base,
        g_extra_layers=p.g_extra_layers,
        c_dim=c_dim,
        cbn_norm=getattr(p, "cbn_norm", "std"),
        cbn_gamma_bias=getattr(p, "cbn_gamma_bias", 1.0),
        name="generator",
    )


def build_generator(model_params, micro_size: int, c_dim: int = 3) -> Generator:
    """The generator alone, variables created (inference: no state changes)."""
    generator = make_generator(model_params, micro_size, c_dim)
    generator((tf.zeros([1, model_params.z_dim]), tf.zeros([1, model_params.spatial_dim])), training=False)
    return generator


def build_models(model_params, micro_size: int, macro_size: int, c_dim: int = 3) -> dict:
    """Returns dict(generator, discriminator, spatial_head, content_head), all built.

    ``model_params`` needs attributes z_dim, spatial_dim, g_extra_layers,
    d_extra_layers, ngf_base, ndf_base, aux_dim (names of the official YAML).
    """
    if macro_size % micro_size != 0 or macro_size < micro_size:
        raise ValueError(f"macro patch size {macro_size} must be a multiple of micro patch size {micro_size}")
    p = model_params
    generator = make_generator(p, micro_size, c_dim)
    discriminator = Discriminator(
        macro_size=macro_size,
        coord_dim=p.spatial_dim,
        ndf_base=p.ndf_base,
        d_extra_layers=p.d_extra_layers,
        name="discriminator",
    )
    spatial_head = SpatialHead(coord_dim=p.spatial_dim, aux_dim=p.aux_dim, name="spatial_head")
    content_head = ContentHead(z_dim=p.z_dim, aux_dim=p.aux_dim, name="content_head")

    b = 2
    z = tf.zeros([b, p.z_dim])
    c = tf.zeros([b, p.spatial_dim])
    generator((z, c), training=False)
    _, h = discriminator((tf.zeros([b, macro_size, macro_size, c_dim]), c), training=False)
    spatial_head(h, training=False)
    content_head(h, training=False)
    return dict(generator=generator, discriminator=discriminator, spatial_head=spatial_head, content_head=content_head)


def count_params(model, trainable_only: bool = True) -> int:
    """Number of scalar parameters; by default trainable only (the convention of the
    official counts: SN u vectors and batch-norm moving statistics excluded)."""
    variables = model.trainable_variables if trainable_only else model.variables
    return int(sum(int(np.prod(v.shape)) for v in variables))
