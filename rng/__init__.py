"""Named, stateless random streams keyed by (seed, counter): rng/streams.py."""

from rng.streams import (
    DATA_STREAMS,
    FID_SEED,
    STEP_STREAMS,
    data_key,
    fid_latents,
    replica_rows,
    sample_key,
    sample_latents,
    stream_key,
    uniform_latents,
)

__all__ = [
    "DATA_STREAMS",
    "FID_SEED",
    "STEP_STREAMS",
    "data_key",
    "fid_latents",
    "replica_rows",
    "sample_key",
    "sample_latents",
    "stream_key",
    "uniform_latents",
]
