"""FID as a monitored training metric (the official code kept the best-FID checkpoint).

The training loop owns the schedule and the checkpoints; this class only
computes the metric and says whether it improved::

    monitor = FidMonitor(sample_fn, reference_npz, num_samples=5000)
    if step % fid_every == 0:
      result = monitor(step)
      tf.summary.scalar(f'metric/{monitor.name}', result.fid, step=step)
      if result.is_best:
        best_manager.save(checkpoint_number=step)
"""

import dataclasses

import numpy as np

from fid import frechet, statistics


def metric_name(num_samples):
    """Protocol name by sample count: 50000 -> 'fid50k', 5000 -> 'fid5k', 1234 -> 'fid1234'."""
    if num_samples % 1000 == 0:
        return f"fid{num_samples // 1000}k"
    return f"fid{num_samples}"


@dataclasses.dataclass(frozen=True)
class FidResult:
    name: str  # e.g. 'fid5k'
    fid: float
    is_best: bool  # strictly lower than every earlier value of this monitor
    best_fid: float
    best_step: int
    images_per_second: float


class FidMonitor:
    """FID of generated samples against fixed reference statistics.

    Args:
      sample_fn: ``sample_fn(batch_size) -> uint8 [B, H, W, 3 or 1]`` generated full
        images (generation.sampling.sample_fid_images draws them).
      reference: path of an .npz with TTUR's keys, or a (mu, sigma) pair.
      num_samples: images per evaluation; names the metric (5000 -> fid5k).
      batch_size: generator/Inception batch; the last batch is num_samples
        modulo batch_size, never dropped.
      extractor: a ``statistics.FeatureExtractor`` (built from the default
        weights if None; share one to avoid loading the network twice).
    """

    def __init__(self, sample_fn, reference, num_samples=5000, batch_size=50, extractor=None, show_progress=False):
        if num_samples < 2:
            raise ValueError(f"num_samples must be >= 2, got {num_samples}")
        self.sample_fn = sample_fn
        if isinstance(reference, tuple):
            self.reference = reference
        else:
            self.reference = statistics.load_statistics(reference)
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.extractor = extractor or statistics.FeatureExtractor()
        self.show_progress = show_progress
        self.name = metric_name(num_samples)
        self.best_fid = float("inf")
        self.best_step = -1

    def _batches(self):
        remaining = self.num_samples
        while remaining > 0:
            size = min(self.batch_size, remaining)
            images = np.asarray(self.sample_fn(size))
            if images.dtype != np.uint8 or images.shape[0] != size or images.ndim != 4:
                raise ValueError(
                    f"sample_fn({size}) must return uint8 [{size}, H, W, C], got {images.dtype} {images.shape}"
                )
            remaining -= size
            yield images

    def __call__(self, step):
        """Evaluates now; records ``step`` as the best if the FID improved."""
        mu, sigma, speed = statistics.compute_statistics(
            self.extractor, self._batches(), self.num_samples, description=self.name, show_progress=self.show_progress
        )
        fid = frechet.frechet_distance(mu, sigma, *self.reference)
        is_best = fid < self.best_fid
        if is_best:
            self.best_fid, self.best_step = fid, int(step)
        return FidResult(self.name, fid, is_best, self.best_fid, self.best_step, speed)

    # Let the training loop persist the best value next to its checkpoints, so
    # that "best" survives a resume.
    def state(self):
        return {"best_fid": self.best_fid, "best_step": self.best_step}

    def restore(self, state):
        self.best_fid = float(state["best_fid"])
        self.best_step = int(state["best_step"])
