"""Every random stream of the project, named and keyed statelessly.

Nothing draws from a stateful generator: each stream is a function of a user seed and a
counter (the training step, a data batch or epoch, an FID sample index), so a resumed run
replays an uninterrupted one and a batch split over replicas draws what one device draws.

Keys (int64 [2], as `tf.random.stateless_*` takes them):

- training, per iteration: ``stream_key(seed, step, name)`` = [seed, 4 step + k] with
  k = 1 (z), 2 (gradient-penalty epsilon), 3 (beyond-boundary positions and epsilon);
- data, per batch or epoch: ``data_key(seed, name, index)`` = fold_in([seed, k], index)
  with k = 1 (epoch shuffle), 2 (macro positions), 3 (panorama roll);
- generation (generate.py, the fixed-z sample grid): ``sample_key(seed)`` = [seed, 0x5A3];
- FID samples: sample i of seed s is row i mod 1000 of the block
  fold_in([s, 0xF1D], i div 1000), so the latents do not depend on the batch size and
  the first 5,000 of fid50k are the 5,000 of the in-training fid5k.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

STEP_STREAMS = {"z": 1, "gp": 2, "extrap": 3}
STEP_STRIDE = 4  # room for the three per-step streams in the second key word
DATA_STREAMS = {"shuffle": 1, "positions": 2, "roll": 3}
SAMPLE_TAG = 0x5A3
FID_TAG = 0xF1D
FID_SEED = 0  # the seed of in-training FID and the default of eval_fid.py --mode=checkpoint
FID_BLOCK = 1000


def _stream(table: dict, name: str) -> int:
    if name not in table:
        raise ValueError(f"unknown random stream {name!r}; streams: {sorted(table)}")
    return table[name]


def stream_key(seed: int, step, name: str) -> tf.Tensor:
    """Key of training stream `name` ("z", "gp", "extrap") at iteration `step` (a tensor or int)."""
    k = _stream(STEP_STREAMS, name)
    return tf.stack([tf.constant(int(seed), tf.int64), tf.cast(step, tf.int64) * STEP_STRIDE + k])


def data_key(seed: int, name: str, index) -> tf.Tensor:
    """Key of data stream `name` ("shuffle", "positions", "roll") for epoch or batch `index`."""
    base = tf.constant([int(seed), _stream(DATA_STREAMS, name)], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def sample_key(seed: int) -> tf.Tensor:
    """Key of the latents that generation draws for a user seed."""
    return tf.constant([int(seed), SAMPLE_TAG], tf.int64)


def uniform_latents(key, n, z_dim: int) -> tf.Tensor:
    """z ~ U[-1, 1]^z_dim (the paper's prior), [n, z_dim] float32 from `key`."""
    return tf.random.stateless_uniform([n, z_dim], key, minval=-1.0, maxval=1.0)


def sample_latents(num: int, z_dim: int, seed: int) -> tf.Tensor:
    """Generation latents: `num` draws of the prior for a user seed."""
    return uniform_latents(sample_key(seed), num, z_dim)


def fid_latents(first: int, n: int, z_dim: int, seed: int = FID_SEED) -> tf.Tensor:
    """Latents of FID samples first .. first + n - 1 (module docstring), [n, z_dim]."""
    first, n = int(first), int(n)
    if first < 0 or n < 0:
        raise ValueError(f"FID samples {first}..{first + n - 1}: indices must be >= 0")
    if n == 0:
        return tf.zeros([0, z_dim], tf.float32)
    base = tf.constant([int(seed), FID_TAG], tf.int64)
    blocks = range(first // FID_BLOCK, (first + n - 1) // FID_BLOCK + 1)
    z = tf.concat(
        [uniform_latents(tf.random.experimental.stateless_fold_in(base, b), FID_BLOCK, z_dim) for b in blocks], 0
    )
    start = first - blocks[0] * FID_BLOCK
    return z[start : start + n]


def replica_rows(draw: Callable[[tf.Tensor], tf.Tensor], per_replica_batch) -> tf.Tensor:
    """This replica's rows of `draw(global_batch)`: every replica draws the global batch and slices it,
    so R replicas together see exactly the numbers one device would."""
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync if ctx is not None else 1
    rid = ctx.replica_id_in_sync_group if ctx is not None else 0
    full = draw(per_replica_batch * n)
    return full[rid * per_replica_batch : (rid + 1) * per_replica_batch]
