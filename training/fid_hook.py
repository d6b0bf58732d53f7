"""In-training FID (the official code's `fid_step`): a metric named by its sample count
(fid5k for 5,000 samples) and a separately kept best-FID checkpoint, as upstream's
snapshot_best_fid. The best value survives a resume (best_fid/state.json)."""

from __future__ import annotations

import json
import math
import pathlib

from configs.errors import UserError
from generation.sampling import sample_fid_images
from training.checkpointing import PREFIX, AtomicCheckpointManager
from training.state import write_text_atomic

BEST_DIR = "best_fid"
STATE_JSON = "state.json"
FAULT_TAG = "best_fid:"  # COCO_GAN_FAULT=best_fid:<point>@<step> kills inside a best-FID save


class BestCheckpoint:
    """The best-FID checkpoint (LOGDIR/best_fid/) and its state.json, kept consistent.

    The checkpoint is saved like the main ones (training/checkpointing.py
    AtomicCheckpointManager: staged, fsync'ed, committed by the atomic rename of the state
    file best_fid/checkpoint, the previous best deleted only afterwards). state.json holds
    the FID and step of the checkpoint it names. Before the commit it is rewritten with the
    new best as "pending" beside the current one, after the prune with the new one alone: at
    any kill, one of its entries describes the checkpoint the state file names.
    """

    def __init__(self, checkpoint, directory):
        self.directory = pathlib.Path(directory)
        self.state_path = self.directory / STATE_JSON
        self.manager = AtomicCheckpointManager(checkpoint, self.directory, max_to_keep=1, fault_tag=FAULT_TAG)

    def _read_json(self) -> dict:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise UserError(f"{self.state_path} is unreadable ({e}); move it away to reset the best FID") from None
        return data if isinstance(data, dict) else {}

    def state(self, log=print) -> dict | None:
        """{"best_fid", "best_step", "checkpoint"} of the committed best checkpoint, or None."""
        latest = self.manager.latest_checkpoint
        data = self._read_json()
        if latest is None:
            return None
        name = pathlib.Path(latest).name
        for entry in (data, data.get("pending")):
            if isinstance(entry, dict) and entry.get("checkpoint", name) == name and "best_fid" in entry:
                return {k: entry[k] for k in ("best_fid", "best_step", "checkpoint") if k in entry}
        log(f"warning: {self.state_path} does not describe {latest}; the best FID starts afresh")
        return None

    def save(self, step: int, fid_state: dict) -> str:
        """Replace the best checkpoint by the current state at `step`; returns its path."""
        entry = {**fid_state, "checkpoint": f"{PREFIX}-{int(step)}"}
        current = self.state(log=lambda *_: None)

        def describe_both(name: str) -> None:  # runs once the new files are in place, before the commit
            write_text_atomic(self.state_path, json.dumps({**(current or {}), "pending": entry}))

        path = self.manager.save(int(step), before_commit=describe_both)
        write_text_atomic(self.state_path, json.dumps(entry))
        return path


class FidHook:
    def __init__(self, trainer):
        from fid.training_monitor import FidMonitor  # loads Inception weights: only when enabled

        lp = trainer.config.log_params
        self.trainer = trainer
        self.every = lp.fid_step
        self.dir = pathlib.Path(trainer.logdir) / BEST_DIR
        self.best = BestCheckpoint(trainer.state.checkpoint, self.dir)
        z_dim = trainer.config.model_params.z_dim
        counter = {"n": 0}  # samples drawn in this evaluation: every evaluation sees the same images

        def sample_fn(batch):
            # The samples eval_fid.py --mode=checkpoint draws (its first fid_num_samples at the default seed).
            images = sample_fid_images(trainer.state.generator, trainer.geo, z_dim, counter["n"], batch)
            counter["n"] += batch
            return images

        self._counter = counter
        self.monitor = FidMonitor(sample_fn, lp.fid_ref_stats, num_samples=lp.fid_num_samples)
        saved = self.best.state(log=trainer.log)
        if saved is not None:
            self.monitor.restore(saved)

    @staticmethod
    def enabled(config) -> bool:
        return bool(config.log_params.fid_ref_stats) and math.isfinite(config.log_params.fid_step)

    def __call__(self, step: int):
        self._counter["n"] = 0
        result = self.monitor(step)
        if result.is_best:
            self.best.save(step, self.monitor.state())
        return result
