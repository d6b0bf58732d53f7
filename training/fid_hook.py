"""In-training FID (the official code's `fid_step`): a metric named by its sample count
(fid5k for 5,000 samples) and a separately kept best-FID checkpoint, as upstream's
snapshot_best_fid. The best value survives a resume (best_fid/state.json)."""

from __future__ import annotations

import json
import math
import pathlib

import tensorflow as tf

from generation.sampling import generate_full_images, to_uint8
from training.state import write_text_atomic

BEST_DIR = "best_fid"


class FidHook:
    def __init__(self, trainer):
        from fid.training_monitor import FidMonitor  # loads Inception weights: only when enabled

        lp = trainer.config.log_params
        self.trainer = trainer
        self.every = lp.fid_step
        self.dir = pathlib.Path(trainer.logdir) / BEST_DIR
        self.best_manager = tf.train.CheckpointManager(trainer.state.checkpoint, str(self.dir), max_to_keep=1)
        z_dim = trainer.config.model_params.z_dim
        counter = {"n": 0}

        def sample_fn(batch):
            counter["n"] += 1  # fresh z for every batch, reproducible across evaluations
            z = tf.random.stateless_uniform([batch, z_dim], [7919, counter["n"]], minval=-1.0, maxval=1.0)
            return to_uint8(generate_full_images(trainer.state.generator, trainer.geo, z))

        self._counter = counter
        self.monitor = FidMonitor(sample_fn, lp.fid_ref_stats, num_samples=lp.fid_num_samples)
        state_file = self.dir / "state.json"
        if state_file.is_file():
            self.monitor.restore(json.loads(state_file.read_text()))

    @staticmethod
    def enabled(config) -> bool:
        return bool(config.log_params.fid_ref_stats) and math.isfinite(config.log_params.fid_step)

    def __call__(self, step: int):
        self._counter["n"] = 0
        result = self.monitor(step)
        if result.is_best:
            self.best_manager.save(checkpoint_number=step)
            self.dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.dir / "state.json", json.dumps(self.monitor.state()))
        return result
