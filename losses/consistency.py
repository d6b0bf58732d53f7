"""Spatial and content consistency losses of COCO-GAN.

Paper: Lin et al., ICCV 2019, Sec. 3.2 "Loss functions" (spatial consistency, L_S: squared L2
between the macro coordinate and the spatial head's prediction) and the
content consistency loss (L_C: L1 between z and Q's prediction, from InfoGAN's
mutual-information term).  Official reference: trainer.py ``_compose_losses``:
``coord_loss_w * tf.losses.mean_squared_error`` (mean over batch and
coordinate dims) and ``code_loss_w * tf.losses.absolute_difference`` (mean over
batch and z dims).  Both return dict(loss=..., <unweighted part>=...).
"""

from __future__ import annotations

import tensorflow as tf


def _check_pair(pred, target, what):
    if (
        len(pred.shape) != 2
        or len(target.shape) != 2
        or (pred.shape[1] is not None and target.shape[1] is not None and pred.shape[1] != target.shape[1])
    ):
        raise ValueError(
            f"{what}: expected prediction and target of the same shape [B, D] "
            f"vs got {list(pred.shape)} and {list(target.shape)}"
        )


def spatial_consistency_loss(pred, target, coord_loss_w) -> dict:
    """L_S = coord_loss_w * mean_{b, d} (pred - target)^2 (paper Sec. 3.2, L_S).

    pred: spatial head output [B, coord_dim]; target: macro coordinates [B, coord_dim].
    Returns dict(loss, mse).  Apply it to real and fake macro patches separately.
    """
    pred = tf.convert_to_tensor(pred, tf.float32)
    target = tf.convert_to_tensor(target, tf.float32)
    _check_pair(pred, target, "spatial consistency")
    mse = tf.reduce_mean(tf.square(pred - target))
    return dict(loss=coord_loss_w * mse, mse=mse)


def content_consistency_loss(z_pred, z, code_loss_w) -> dict:
    """L_C = code_loss_w * mean_{b, d} |z - Q(G(z, c))| (paper Sec. 3.2, L_C).

    Returns dict(loss, l1).
    """
    z_pred = tf.convert_to_tensor(z_pred, tf.float32)
    z = tf.convert_to_tensor(z, tf.float32)
    _check_pair(z_pred, z, "content consistency")
    l1 = tf.reduce_mean(tf.abs(z - z_pred))
    return dict(loss=code_loss_w * l1, l1=l1)


def masked_spatial_loss(pred, target, in_bounds, coord_loss_w) -> dict:
    """L_S with the gradient of out-of-range rows stopped (beyond-boundary fine-tuning; official
    trainer.py ``_compose_losses`` oob_mask).

        per_row_b = coord_loss_w * mean_d (pred_bd - target_bd)^2
        loss      = mean_b [ per_row_b            if in_bounds_b
                             stop_gradient(per_row_b) otherwise ]

    The value equals `spatial_consistency_loss`; only the gradient of out-of-range rows is
    removed (there is no correct position to regress to past the border). in_bounds: bool [B].
    Returns dict(loss, mse, oob_fraction).
    """
    pred = tf.convert_to_tensor(pred, tf.float32)
    target = tf.convert_to_tensor(target, tf.float32)
    _check_pair(pred, target, "masked spatial consistency")
    per_row = coord_loss_w * tf.reduce_mean(tf.square(pred - target), axis=1)
    per_row = tf.where(in_bounds, per_row, tf.stop_gradient(per_row))
    return dict(
        loss=tf.reduce_mean(per_row),
        mse=tf.reduce_mean(tf.square(pred - target)),
        oob_fraction=1.0 - tf.reduce_mean(tf.cast(in_bounds, tf.float32)),
    )
