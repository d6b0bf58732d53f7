"""Batched pool_3 features, their mean and covariance, and the .npz format.

Statistics files use TTUR's keys ``mu`` (shape [2048]) and ``sigma``
([2048, 2048]), so TTUR's published stats (e.g. fid_stats_celeba.npz) can be
used as references and our files can be read by TTUR. Extra keys
(``num_images``, ``description``) are ignored by TTUR.
"""

import pathlib
import sys
import time

import numpy as np
import tqdm

from configs.errors import UserError
from data.pixels import as_rgb
from fileio.atomic import atomic_path

# Width of Inception pool_3 (inception.FEATURE_DIM). Repeated here so that
# reading .npz files and computing FIDs from them does not import TensorFlow.
FEATURE_DIM = 2048
MIN_IMAGES = 2  # a covariance needs two samples
# Below one image per feature dimension the 2048 x 2048 covariance is singular (rank < 2048)
# and the FID is biased upwards: not comparable to published values (TTUR: 50,000 images).
COMPARABLE_IMAGES = FEATURE_DIM


def check_image_count(count: int, what: str, warn=None) -> None:
    """UserError below MIN_IMAGES; one warning line (stderr by default) below COMPARABLE_IMAGES."""
    if count < MIN_IMAGES:
        raise UserError(
            f"{what}: {count} image{'s' if count != 1 else ''}; FID needs at least {MIN_IMAGES} "
            f"(the paper's protocol uses 50,000)"
        )
    if count < COMPARABLE_IMAGES:
        message = (
            f"warning: {what}: {count} images, fewer than {COMPARABLE_IMAGES}: the covariance is singular, "
            f"so this FID is not comparable to published FIDs (50,000 images)"
        )
        if warn is None:
            print(message, file=sys.stderr, flush=True)
        else:
            warn(message)


def recorded_image_count(path) -> int | None:
    """The num_images an .npz statistics file records (ours do; TTUR's files do not)."""
    try:
        with np.load(path) as data:
            return int(data["num_images"]) if "num_images" in data.files else None
    except (OSError, ValueError, TypeError):
        return None  # load_statistics reports unreadable files


class FeatureExtractor:
    """Inception pool_3 features of uint8 image batches, in one tf.function.

    The input signature has unknown batch, height and width, so a smaller final
    batch or another image size does not retrace.
    """

    def __init__(self, weights=None, **load_kwargs):
        import tensorflow as tf  # lazy: .npz-only uses (FID of two stats files) skip TF

        from fid import inception  # imports TensorFlow too
        from fid import weights as weights_lib

        self._tf = tf
        if weights is None:
            weights = weights_lib.load_weights(**load_kwargs)
        self.network = inception.InceptionPool3(weights)
        self._features = tf.function(self.network, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])

    def __call__(self, images):
        """uint8 [B, H, W, 3] (numpy or tensor) -> float32 numpy [B, 2048]."""
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise TypeError(f"expected uint8 images (TTUR input contract), got {images.dtype}")
        return self._features(self._tf.constant(images)).numpy()


class RunningStatistics:
    """Mean and covariance (np.cov, ddof=1) accumulated batch by batch in float64.

    Sums are taken around a shift (the first batch's mean) so that the
    covariance does not suffer from cancellation; 50k x 2048 features never
    need to be held in memory.
    """

    def __init__(self):
        self.count = 0
        self._shift = None
        self._sum = None
        self._outer = None

    def update(self, features):
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise ValueError(f"expected [N, D] features, got {features.shape}")
        if self._shift is None:
            self._shift = features.mean(axis=0)
            dim = features.shape[1]
            self._sum = np.zeros(dim)
            self._outer = np.zeros((dim, dim))
        centered = features - self._shift
        self._sum += centered.sum(axis=0)
        self._outer += centered.T @ centered
        self.count += features.shape[0]

    def result(self):
        """(mu, sigma) as TTUR: np.mean(axis=0) and np.cov(rowvar=False)."""
        if self.count < 2:
            raise ValueError(f"need at least 2 feature vectors, got {self.count}")
        mean_centered = self._sum / self.count
        mu = self._shift + mean_centered
        sigma = (self._outer - self.count * np.outer(mean_centered, mean_centered)) / (self.count - 1)
        return mu, sigma


def statistics_from_features(features):
    """(mu, sigma) of an [N, D] feature array, exactly as TTUR computes them."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def compute_statistics(extractor, batches, num_images, description="features", show_progress=True):
    """Streams uint8 batches through ``extractor``; returns (mu, sigma, images/s).

    ``batches`` yields uint8 [B, H, W, 3] or grayscale [B, H, W, 1] arrays; grayscale ones
    (MNIST, real or generated) are replicated to RGB here, the one place every FID path passes.
    Every image is used, including a smaller final batch; fewer or more images than
    ``num_images`` is an error rather than a silently different protocol.
    """
    stats = RunningStatistics()
    start = time.perf_counter()
    with tqdm.tqdm(total=num_images, desc=description, unit="img", disable=not show_progress) as progress:
        for batch in batches:
            stats.update(extractor(as_rgb(batch)))
            progress.update(len(batch))
    elapsed = time.perf_counter() - start
    if stats.count != num_images:
        raise ValueError(f"expected {num_images} images, got {stats.count}")
    mu, sigma = stats.result()
    return mu, sigma, stats.count / max(elapsed, 1e-9)


def save_statistics(path, mu, sigma, **extra):
    """TTUR-format .npz (".npz" appended to a name without it, as np.savez does), written atomically."""
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, mu=mu, sigma=sigma, **extra)


def load_statistics(path):
    """(mu, sigma) from an .npz with TTUR's keys; UserError if unusable."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"statistics file {path} does not exist.")
    try:
        with np.load(path) as data:
            mu, sigma = data["mu"][:], data["sigma"][:]
    except KeyError:
        raise UserError(f'{path} has no "mu" and "sigma" arrays (TTUR statistics format).') from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable .npz statistics file: {e}") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not form a mean vector and its covariance.")
    if mu.shape[0] != FEATURE_DIM:
        raise UserError(f"{path}: statistics of {mu.shape[0]}-d features, expected {FEATURE_DIM} (Inception pool_3).")
    return mu.astype(np.float64), sigma.astype(np.float64)
